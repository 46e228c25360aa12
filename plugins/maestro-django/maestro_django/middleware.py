"""The middleware that runs the committed-changes callback once per request."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .capture import request_scope

__all__ = ["SyncQueueMiddleware"]


class SyncQueueMiddleware:
    """Queue the ``CHANGES_COMMITTED_CALLBACK`` until the request ends.

    Transactions that record changes during the request only mark it; when
    the response is ready (or the request failed after some transaction
    committed), the callback runs once. A request whose transactions all
    rolled back runs nothing.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with request_scope():
            return self.get_response(request)
