"""Cloud Firestore backend for Maestro.

The store keeps Maestro's records in collections with a prefix beside the
user's documents, commits each batch atomically, and captures writes that
other Firestore clients (mobile apps) make, through a listener or a Cloud
Functions trigger.

The public names are imported on first use, so that loading the plugin (which
every ``maestro`` command does) does not load the Firestore client library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .capture import CaptureListener, capture_document, capture_event
    from .exceptions import ClockMovedError
    from .factory import (
        create_firestore_lock,
        create_firestore_provider,
        create_firestore_store,
        default_client,
        firestore_client,
    )
    from .lock import FirestoreSyncLock
    from .serializer import FirestoreSerializer, item_hash
    from .store import DEFAULT_PREFIX, FirestoreDataStore, OperationCounts

__all__ = [
    "DEFAULT_PREFIX",
    "CaptureListener",
    "ClockMovedError",
    "FirestoreDataStore",
    "FirestoreSerializer",
    "FirestoreSyncLock",
    "OperationCounts",
    "capture_document",
    "capture_event",
    "create_firestore_lock",
    "create_firestore_provider",
    "create_firestore_store",
    "default_client",
    "firestore_client",
    "item_hash",
]

_LAZY = {
    "DEFAULT_PREFIX": "store",
    "CaptureListener": "capture",
    "ClockMovedError": "exceptions",
    "FirestoreDataStore": "store",
    "FirestoreSerializer": "serializer",
    "FirestoreSyncLock": "lock",
    "OperationCounts": "store",
    "capture_document": "capture",
    "capture_event": "capture",
    "create_firestore_lock": "factory",
    "create_firestore_provider": "factory",
    "create_firestore_store": "factory",
    "default_client": "factory",
    "firestore_client": "factory",
    "item_hash": "serializer",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
