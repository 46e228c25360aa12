"""The plugin module the ``maestro`` entry point names: it registers the backend.

The configuration file's options reach :func:`create_sqlite_provider` as
keyword arguments (``path = "shop.sqlite3"`` becomes ``path="shop.sqlite3"``),
and the ``[sync] lock`` table's reach :class:`SqliteSyncLock` the same way.
"""

from __future__ import annotations

from maestro_core import Backend, SyncProvider, WallClock, hookimpl
from maestro_core.plugins import RegisterBackend

from .lock import SqliteSyncLock
from .store import SqliteDataStore

__all__ = ["create_sqlite_provider", "maestro_register_backends"]


def create_sqlite_provider(
    provider_id: str,
    path: str,
    *,
    max_changes_per_session: int = 50,
    wall_clock: WallClock | None = None,
) -> SyncProvider:
    """A provider kept in the SQLite file at *path*, created when missing."""
    return SyncProvider(
        store=SqliteDataStore(provider_id, path, wall_clock=wall_clock),
        max_changes_per_session=max_changes_per_session,
    )


@hookimpl
def maestro_register_backends(register: RegisterBackend) -> None:
    register(
        Backend(
            name="sqlite",
            provider_factory=create_sqlite_provider,
            lock_factory=SqliteSyncLock,
            description="One provider per SQLite file (standard library sqlite3).",
        )
    )
