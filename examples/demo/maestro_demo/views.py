"""The one view of the back office: creating a customer."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

from .shop.models import Customer


def create_customer(request: HttpRequest) -> HttpResponse:
    """``POST name, email, phone`` creates a customer; the response is its id."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    customer = Customer.objects.create(
        name=request.POST["name"],
        email=request.POST.get("email", ""),
        phone=request.POST.get("phone", ""),
    )
    return HttpResponse(customer.pk, status=201, content_type="text/plain")
