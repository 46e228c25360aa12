"""Registers the MongoDB backend through the core's ``maestro`` entry points.

The factories here take the options of a configuration file: plain values,
with the connection string in ``uri``. The string may hold credentials, so it
is never put into a message or a log. Nothing here imports pymongo until a
provider or a lock is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from maestro_core import Backend, SyncProvider, hookimpl
from maestro_core.plugins import RegisterBackend

if TYPE_CHECKING:
    from ._lock import MongoSyncLock

COLLECTION_PREFIX = "maestro_"
"""The store's default prefix (:data:`maestro_mongo.DEFAULT_PREFIX`)."""

SERVER_SELECTION_TIMEOUT_MS = 10_000
"""How long a client made from options looks for a server, unless the
connection string sets ``serverSelectionTimeoutMS`` itself."""

__all__ = ["lock_from_options", "maestro_register_backends", "provider_from_options"]


def _client(uri: object) -> Any:
    from pymongo import MongoClient
    from pymongo.errors import ConfigurationError, InvalidURI

    if not isinstance(uri, str) or not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise ValueError(
            "option 'uri' is not a MongoDB connection string; expected "
            "'mongodb://host:port/' or 'mongodb+srv://...'"
        )
    options: dict[str, Any] = {}
    if "serverselectiontimeoutms" not in uri.lower():
        # A command run from a configuration file should say soon that the
        # server is out of reach, rather than after pymongo's 30 s.
        options["serverSelectionTimeoutMS"] = SERVER_SELECTION_TIMEOUT_MS
    try:
        return MongoClient(uri, **options)
    except (InvalidURI, ConfigurationError, ValueError, TypeError) as error:
        # The driver's message may quote the string, credentials included.
        raise ValueError(
            "option 'uri' is not a valid MongoDB connection string "
            f"({type(error).__name__}); expected 'mongodb://host:port/'"
        ) from None


def provider_from_options(
    provider_id: str = "mongo",
    max_changes_per_session: int = 50,
    *,
    uri: str,
    database_name: str,
    collection_prefix: str = COLLECTION_PREFIX,
) -> SyncProvider:
    """A provider from a configuration file's options; it owns its client."""
    from ._factory import _database
    from ._store import MongoDataStore

    client = _client(uri)
    try:
        store = MongoDataStore(
            _database(client, database_name),
            provider_id,
            collection_prefix=collection_prefix,
            close_client=True,
        )
        return SyncProvider(
            store=store, max_changes_per_session=max_changes_per_session
        )
    except BaseException:
        client.close()
        raise


def lock_from_options(
    *,
    uri: str,
    database_name: str,
    collection_prefix: str = COLLECTION_PREFIX,
    name: str = "sync",
    **_other_options: Any,
) -> MongoSyncLock:
    """The sync lock from a provider's options; it owns its client.

    Options only a provider needs are ignored, so the lock can be built from
    the same options table.
    """
    from ._factory import _database
    from ._lock import MongoSyncLock

    client = _client(uri)
    try:
        return MongoSyncLock(
            _database(client, database_name),
            collection_prefix=collection_prefix,
            name=name,
            close_client=True,
        )
    except BaseException:
        client.close()
        raise


@hookimpl
def maestro_register_backends(register: RegisterBackend) -> None:
    register(
        Backend(
            name="mongo",
            provider_factory=provider_from_options,
            lock_factory=lock_from_options,
            description="MongoDB: transactional on replica sets, journaled elsewhere.",
        )
    )
