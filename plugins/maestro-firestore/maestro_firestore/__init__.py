"""Cloud Firestore backend for Maestro.

The store keeps Maestro's records in collections with a prefix beside the
user's documents, commits each batch atomically, and captures writes that
other Firestore clients (mobile apps) make, through a listener or a Cloud
Functions trigger.
"""

from __future__ import annotations

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
