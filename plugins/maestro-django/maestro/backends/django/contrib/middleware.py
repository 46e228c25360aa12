"""Alias module: the middleware of :mod:`maestro_django`."""

from maestro_django.middleware import SyncQueueMiddleware

__all__ = ["SyncQueueMiddleware"]
