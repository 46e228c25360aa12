"""MongoDB backend for Maestro.

Items are the documents of the user's collections, stored with MongoDB's
native types; Maestro's records live beside them in prefixed collections.
On replica sets and sharded clusters every write commits in a multi-document
transaction; on a standalone server (or mongomock) through a journal that a
crash at any point leaves recoverable.

The public names are imported on first use, so that loading the plugin (which
every ``maestro`` command does) does not load pymongo.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_LAZY = {
    "CODEC_OPTIONS": "_store",
    "DEFAULT_PREFIX": "_store",
    "MongoDataStore": "_store",
    "MongoSyncLock": "_lock",
    "WriteLeaseLostError": "exceptions",
    "WriteLeaseTimeoutError": "exceptions",
    "create_mongo_lock": "_factory",
    "create_mongo_provider": "_factory",
    "create_mongo_store": "_factory",
    "document_to_item": "_codec",
    "item_to_document": "_codec",
    "supports_transactions": "_server",
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
