"""Building stores, providers and locks from a ``MongoClient``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maestro_core import SyncProvider, WallClock

from ._lock import MongoSyncLock
from ._store import DEFAULT_PREFIX, MongoDataStore

__all__ = ["create_mongo_lock", "create_mongo_provider", "create_mongo_store"]

_FORBIDDEN = set('/\\. "$\x00')


def _database(client: Any, database_name: object) -> Any:
    if not hasattr(client, "get_database"):
        raise TypeError(
            f"client {client!r} is not a MongoClient; expected pymongo.MongoClient(...)"
        )
    if (
        not isinstance(database_name, str)
        or not database_name
        or _FORBIDDEN & set(database_name)
        or len(database_name.encode()) > 63
    ):
        raise ValueError(
            f"database name {database_name!r} is not valid; expected a non-empty "
            'MongoDB database name of at most 63 bytes without /\\. "$ or spaces'
        )
    return client.get_database(database_name)


def create_mongo_store(
    client: Any,
    database_name: str,
    provider_id: str = "mongo",
    collection_prefix: str = DEFAULT_PREFIX,
    wall_clock: WallClock | None = None,
    transactions: bool | None = None,
) -> MongoDataStore:
    """The store of database *database_name* reached through *client*.

    Maestro's collections start with *collection_prefix*; they and their
    indexes are created on first use. *transactions* is ``None`` to ask the
    server (replica sets and sharded clusters run transactions), or forces
    one mode: see :class:`MongoDataStore`.
    """
    return MongoDataStore(
        _database(client, database_name),
        provider_id,
        collection_prefix=collection_prefix,
        transactions=transactions,
        wall_clock=wall_clock,
    )


def create_mongo_provider(
    client: Any,
    database_name: str,
    provider_id: str = "mongo",
    collection_prefix: str = DEFAULT_PREFIX,
    wall_clock: WallClock | None = None,
    transactions: bool | None = None,
    max_changes_per_session: int = 50,
    conflict_policies: Mapping[str, Any] | None = None,
) -> SyncProvider:
    """A provider over one database, as :func:`create_mongo_store` builds it.

    *conflict_policies* maps collection names to policies (names, specs or
    objects); every orchestrator syncing this provider applies them.
    """
    return SyncProvider(
        store=create_mongo_store(
            client,
            database_name,
            provider_id,
            collection_prefix,
            wall_clock,
            transactions,
        ),
        max_changes_per_session=max_changes_per_session,
        conflict_policies=dict(conflict_policies or {}),
    )


def create_mongo_lock(
    client: Any,
    database_name: str,
    collection_prefix: str = DEFAULT_PREFIX,
    name: str = "sync",
) -> MongoSyncLock:
    """A sync lock kept in the database of the providers it guards."""
    return MongoSyncLock(
        _database(client, database_name),
        collection_prefix=collection_prefix,
        name=name,
    )
