"""A :class:`~maestro_core.DataStore` over one SQLite file.

Every record is a row; Maestro's records (changes, versions, conflict logs,
sessions) and the user's items are kept as the JSON of their ``to_dict()``
or canonical form, with the columns a query filters or sorts on beside it.
One connection serves the store, guarded by a re-entrant lock, so a store
object is safe to share between threads; across processes, ``BEGIN
IMMEDIATE`` makes writers take turns.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from maestro_core import (
    ConflictLog,
    ConflictStatus,
    ConflictType,
    DataStore,
    ItemChange,
    ItemVersion,
    Operation,
    SyncSession,
    VectorClock,
    WallClock,
)

__all__ = ["SqliteDataStore"]

T = TypeVar("T")
ItemKey = tuple[str, str]

_CHUNK = 400
"""Rows looked up per query, below SQLite's limit on bound parameters."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS maestro_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS maestro_clock (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS maestro_knowledge (
    origin TEXT PRIMARY KEY,
    timestamp INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS maestro_change (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS maestro_change_by_origin
    ON maestro_change (origin, timestamp);
CREATE TABLE IF NOT EXISTS maestro_item_version (
    entity_name TEXT NOT NULL,
    item_id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (entity_name, item_id)
);
CREATE TABLE IF NOT EXISTS maestro_item (
    entity_name TEXT NOT NULL,
    item_id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (entity_name, item_id)
);
CREATE TABLE IF NOT EXISTS maestro_conflict (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    conflict_type TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS maestro_session (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
"""


BUSY_TIMEOUT_SECONDS = 30.0
"""How long a connection waits for another connection's write to end."""


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode; transactions are begun explicitly.

    The timeout makes a writer wait for another process's transaction
    instead of failing at once.
    """
    connection = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None,
        check_same_thread=False,
    )
    if path != ":memory:":
        _use_write_ahead_log(connection)
    return connection


def _use_write_ahead_log(connection: sqlite3.Connection) -> None:
    """Switch the file to write-ahead logging, waiting for other connections.

    Changing the journal mode needs the file to itself, and while another
    connection is opening it SQLite answers "database is locked" at once
    instead of waiting out the busy timeout; so the wait happens here.
    """
    give_up = time.monotonic() + BUSY_TIMEOUT_SECONDS
    pause = 0.001
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > give_up:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=True)


class SqliteDataStore(DataStore):
    """One provider's items and sync records in the SQLite file at *path*.

    A file belongs to one provider: opening it under another provider id
    raises ValueError, since two providers sharing records would each take
    the other's changes for its own.
    """

    def __init__(
        self, provider_id: str, path: str, *, wall_clock: WallClock | None = None
    ):
        super().__init__(provider_id, wall_clock=wall_clock)
        self.path = str(path)
        self._mutex = threading.RLock()
        self._depth = 0
        self._db = connect(self.path)
        self._db.executescript(SCHEMA)
        self.run_in_transaction(self._claim_file)

    def _claim_file(self) -> None:
        row = self._db.execute(
            "SELECT value FROM maestro_meta WHERE name = 'provider_id'"
        ).fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO maestro_meta VALUES ('provider_id', ?)",
                (self.provider_id,),
            )
        elif row[0] != self.provider_id:
            raise ValueError(
                f"the SQLite file {self.path!r} holds provider {row[0]!r}; expected "
                f"a file of its own for provider {self.provider_id!r}"
            )

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    # -- transactions and the clock -------------------------------------------

    def run_in_transaction(self, fn: Callable[[], T]) -> T:
        with self._mutex:
            if self._depth:
                return fn()
            # IMMEDIATE takes the database's write lock now, so the clock read
            # below cannot interleave with another process's transaction.
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                result = fn()
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0
            return result

    def read_clock_for_update(self) -> int:
        row = self._db.execute("SELECT value FROM maestro_clock").fetchone()
        return 0 if row is None else int(row[0])

    def write_clock(self, value: int) -> None:
        self._db.execute(
            "INSERT INTO maestro_clock (id, value) VALUES (0, ?) "
            "ON CONFLICT (id) DO UPDATE SET value = excluded.value",
            (value,),
        )

    # -- knowledge and changes ------------------------------------------------

    def get_knowledge(self) -> VectorClock:
        with self._mutex:
            rows = self._db.execute("SELECT origin, timestamp FROM maestro_knowledge")
            return VectorClock(dict(rows.fetchall()))

    def select_changes(
        self, origin: str, after: int, limit: int
    ) -> Sequence[ItemChange]:
        with self._mutex:
            rows = self._db.execute(
                "SELECT data FROM maestro_change WHERE origin = ? AND timestamp > ? "
                "ORDER BY timestamp LIMIT ?",
                (origin, after, limit),
            ).fetchall()
        return [ItemChange.from_dict(json.loads(data)) for (data,) in rows]

    def count_changes(self, origin: str, after: int) -> int:
        with self._mutex:
            (count,) = self._db.execute(
                "SELECT COUNT(*) FROM maestro_change "
                "WHERE origin = ? AND timestamp > ?",
                (origin, after),
            ).fetchone()
        return int(count)

    def get_changes(self, change_ids: Iterable[str]) -> dict[str, ItemChange]:
        ids = list(dict.fromkeys(change_ids))
        found: dict[str, ItemChange] = {}
        with self._mutex:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT data FROM maestro_change WHERE id IN ({marks})", chunk
                )
                for (data,) in rows:
                    change = ItemChange.from_dict(json.loads(data))
                    found[change.id] = change
        return found

    def save_change(self, change: ItemChange) -> None:
        with self._mutex:
            inserted = self._db.execute(
                "INSERT OR IGNORE INTO maestro_change VALUES (?, ?, ?, ?)",
                (change.id, change.origin, change.timestamp, _dumps(change.to_dict())),
            ).rowcount
            if inserted:
                self._db.execute(
                    "INSERT INTO maestro_knowledge VALUES (?, ?) ON CONFLICT (origin) "
                    "DO UPDATE SET timestamp = max(timestamp, excluded.timestamp)",
                    (change.origin, change.timestamp),
                )

    # -- item versions and items ----------------------------------------------

    def get_item_versions(self, keys: Iterable[ItemKey]) -> dict[ItemKey, ItemVersion]:
        wanted = list(dict.fromkeys(keys))
        found: dict[ItemKey, ItemVersion] = {}
        with self._mutex:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                rows = ",".join(["(?, ?)"] * len(chunk))
                params = [part for key in chunk for part in key]
                result = self._db.execute(
                    "SELECT data FROM maestro_item_version "
                    f"WHERE (entity_name, item_id) IN (VALUES {rows})",
                    params,
                )
                for (data,) in result:
                    version = ItemVersion.from_dict(json.loads(data))
                    found[version.key] = version
        return found

    def save_item_version(self, version: ItemVersion) -> None:
        with self._mutex:
            self._db.execute(
                "INSERT OR REPLACE INTO maestro_item_version VALUES (?, ?, ?)",
                (version.entity_name, version.item_id, _dumps(version.to_dict())),
            )

    def execute_item_change(
        self,
        operation: Operation,
        entity_name: str,
        item_id: str,
        item: Mapping[str, Any],
    ) -> None:
        with self._mutex:
            if operation is Operation.DELETE:
                self._db.execute(
                    "DELETE FROM maestro_item WHERE entity_name = ? AND item_id = ?",
                    (entity_name, item_id),
                )
            else:
                self._db.execute(
                    "INSERT OR REPLACE INTO maestro_item VALUES (?, ?, ?)",
                    (entity_name, item_id, _dumps(dict(item))),
                )

    def get_item(self, entity_name: str, item_id: str) -> dict[str, Any] | None:
        with self._mutex:
            row = self._db.execute(
                "SELECT data FROM maestro_item WHERE entity_name = ? AND item_id = ?",
                (entity_name, item_id),
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def get_items(self, entity_name: str) -> dict[str, dict[str, Any]]:
        """Every stored item of *entity_name*, by id (canonical form)."""
        with self._mutex:
            rows = self._db.execute(
                "SELECT item_id, data FROM maestro_item WHERE entity_name = ? "
                "ORDER BY item_id",
                (entity_name,),
            ).fetchall()
        return {item_id: json.loads(data) for item_id, data in rows}

    # -- conflicts and sessions ----------------------------------------------

    def save_conflict_log(self, log: ConflictLog) -> None:
        # An upsert rather than REPLACE keeps the row's rowid, which is what
        # keeps the logs in the order they were first recorded.
        with self._mutex:
            self._db.execute(
                "INSERT INTO maestro_conflict VALUES (?, ?, ?, ?) ON CONFLICT (id) "
                "DO UPDATE SET status = excluded.status, "
                "conflict_type = excluded.conflict_type, data = excluded.data",
                (
                    log.id,
                    log.status.value,
                    log.conflict_type.value,
                    _dumps(log.to_dict()),
                ),
            )

    def get_conflict_logs(
        self,
        *,
        status: ConflictStatus | None = None,
        conflict_type: ConflictType | None = None,
    ) -> list[ConflictLog]:
        query = "SELECT data FROM maestro_conflict WHERE 1 = 1"
        params: list[str] = []
        if status is not None:
            query += " AND status = ?"
            params.append(status.value)
        if conflict_type is not None:
            query += " AND conflict_type = ?"
            params.append(conflict_type.value)
        with self._mutex:
            rows = self._db.execute(query + " ORDER BY rowid", params).fetchall()
        return [ConflictLog.from_dict(json.loads(data)) for (data,) in rows]

    def get_conflict_log(self, conflict_id: str) -> ConflictLog | None:
        with self._mutex:
            row = self._db.execute(
                "SELECT data FROM maestro_conflict WHERE id = ?", (conflict_id,)
            ).fetchone()
        return None if row is None else ConflictLog.from_dict(json.loads(row[0]))

    def save_session(self, session: SyncSession) -> None:
        with self._mutex:
            self._db.execute(
                "INSERT INTO maestro_session VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                (session.id, _dumps(session.to_dict())),
            )

    def get_sessions(self, *, limit: int = 100) -> list[SyncSession]:
        with self._mutex:
            rows = self._db.execute(
                "SELECT data FROM maestro_session ORDER BY rowid DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [SyncSession.from_dict(json.loads(data)) for (data,) in rows]
