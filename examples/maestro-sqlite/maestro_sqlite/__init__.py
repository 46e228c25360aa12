"""A Maestro backend over one SQLite file: the worked example of a backend.

Install the distribution and the core finds it through the ``maestro``
entry-point group; ``maestro backends`` then lists ``sqlite``.
"""

from __future__ import annotations

from .lock import SqliteSyncLock
from .plugin import create_sqlite_provider
from .store import SqliteDataStore

__all__ = ["SqliteDataStore", "SqliteSyncLock", "create_sqlite_provider"]
