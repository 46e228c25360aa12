from django.db import transaction
from django.http import HttpResponse

from .shop.models import Author


def create_author(request):
    with transaction.atomic():
        author = Author.objects.create(name=request.POST["name"])
        author.name = author.name.title()
        author.save()
    return HttpResponse(str(author.pk), status=201)


class Refused(Exception):
    pass


def create_author_then_fail(request):
    try:
        with transaction.atomic():
            Author.objects.create(name=request.POST["name"])
            raise Refused("the request failed after the save")
    except Refused:
        return HttpResponse("refused", status=400)


def create_author_then_crash(request):
    Author.objects.create(name=request.POST["name"])
    raise RuntimeError("the request failed after the save committed")
