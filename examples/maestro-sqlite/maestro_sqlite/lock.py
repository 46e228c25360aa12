"""A sync lock kept as a lease row in an SQLite file.

Any number of processes may open the same file; ``BEGIN IMMEDIATE`` makes
their attempts take turns, so exactly one reads the row free and writes its
own name into it. Leases are measured on the wall clock, the only clock that
processes share.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from maestro_core import SyncLock

from .store import connect

__all__ = ["SqliteSyncLock"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS maestro_lock (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL
)
"""


class SqliteSyncLock(SyncLock):
    """The lock named *name* in the SQLite file at *path*.

    The file may be a provider's own file or one kept for the lock alone.
    """

    def __init__(
        self,
        path: str,
        *,
        name: str = "maestro",
        clock: Callable[[], float] = time.time,
    ):
        self.path = str(path)
        self.name = name
        self._clock = clock
        self._mutex = threading.Lock()
        self._db = connect(self.path)
        self._db.execute(_SCHEMA)

    def acquire(self, owner: str, lease_seconds: float) -> bool:
        with self._mutex:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                now = self._clock()
                row = self._db.execute(
                    "SELECT owner, expires_at FROM maestro_lock WHERE name = ?",
                    (self.name,),
                ).fetchone()
                if row is not None and row[0] != owner and row[1] > now:
                    self._db.execute("ROLLBACK")
                    return False
                self._db.execute(
                    "INSERT OR REPLACE INTO maestro_lock VALUES (?, ?, ?)",
                    (self.name, owner, now + lease_seconds),
                )
                self._db.execute("COMMIT")
                return True
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def release(self, owner: str) -> None:
        with self._mutex:
            self._db.execute(
                "DELETE FROM maestro_lock WHERE name = ? AND owner = ?",
                (self.name, owner),
            )

    def close(self) -> None:
        """Close the connection; the lease row stays until released or expired."""
        with self._mutex:
            self._db.close()
