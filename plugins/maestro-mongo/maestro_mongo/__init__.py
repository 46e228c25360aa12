"""MongoDB backend for Maestro.

Items are the documents of the user's collections, stored with MongoDB's
native types; Maestro's records live beside them in prefixed collections.
On replica sets and sharded clusters every write commits in a multi-document
transaction; on a standalone server (or mongomock) through a journal that a
crash at any point leaves recoverable.
"""

from __future__ import annotations

from ._codec import document_to_item, item_to_document
from ._factory import create_mongo_lock, create_mongo_provider, create_mongo_store
from ._lock import MongoSyncLock
from ._server import supports_transactions
from ._store import CODEC_OPTIONS, DEFAULT_PREFIX, MongoDataStore
from .exceptions import WriteLeaseLostError, WriteLeaseTimeoutError

__all__ = [
    "CODEC_OPTIONS",
    "DEFAULT_PREFIX",
    "MongoDataStore",
    "MongoSyncLock",
    "WriteLeaseLostError",
    "WriteLeaseTimeoutError",
    "create_mongo_lock",
    "create_mongo_provider",
    "create_mongo_store",
    "document_to_item",
    "item_to_document",
    "supports_transactions",
]
