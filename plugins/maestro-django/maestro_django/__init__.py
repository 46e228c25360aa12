"""Maestro's Django backend: a reusable app that captures and applies changes.

Add ``"maestro.backends.django"`` (an alias of this package) to
``INSTALLED_APPS``. The public names are imported lazily, since most of them
need Django's app registry to be ready.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .callbacks import run_sync, sync_in_background, wait_for_background_sync
    from .capture import request_scope
    from .factory import create_django_provider
    from .lock import DjangoSyncLock
    from .middleware import SyncQueueMiddleware
    from .serializer import DjangoSerializer
    from .store import DjangoDataStore, applying_remote_changes, is_applying

__all__ = [
    "DjangoDataStore",
    "DjangoSerializer",
    "DjangoSyncLock",
    "SyncQueueMiddleware",
    "applying_remote_changes",
    "create_django_provider",
    "is_applying",
    "request_scope",
    "run_sync",
    "sync_in_background",
    "wait_for_background_sync",
]

_LAZY = {
    "DjangoDataStore": "store",
    "DjangoSerializer": "serializer",
    "DjangoSyncLock": "lock",
    "SyncQueueMiddleware": "middleware",
    "applying_remote_changes": "store",
    "create_django_provider": "factory",
    "is_applying": "store",
    "request_scope": "capture",
    "run_sync": "callbacks",
    "sync_in_background": "callbacks",
    "wait_for_background_sync": "callbacks",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
