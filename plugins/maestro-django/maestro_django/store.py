"""The Django data store: Maestro's records in Django's database.

One database (``MAESTRO["DATABASE"]``) is one provider. The clock row is
locked for the rest of the transaction before a timestamp is issued
(``SELECT ... FOR UPDATE`` where the database has it; on SQLite a no-op
``UPDATE`` takes the database's write lock), so timestamps follow commit
order and a sync never passes over a change that commits late.

Within :meth:`DjangoDataStore.run_in_transaction`, change rows, item
versions and knowledge are buffered and written in bulk just before the
transaction ends (or before anything reads them back), so applying a batch
costs a few statements beyond the user's own rows.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, overload

from attrs import define
from django.conf import settings
from django.db import DatabaseError, connections, models, transaction
from django.db.models import F, Max
from django.utils import timezone

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
    encode_item,
)
from maestro_core.clock import datetime_to_micros, next_timestamp
from maestro_core.model import new_id

from .conf import get_settings, model_for_entity
from .exceptions import MissingParentError, UnwritableValueError
from .models import (
    Change,
    Clock,
    ConflictLogEntry,
    ItemVersionEntry,
    Knowledge,
    SessionEntry,
)
from .serializer import (
    RemoteValues,
    item_from_instance,
    pk_from_item_id,
    remote_values,
)

__all__ = [
    "DjangoDataStore",
    "applying_remote_changes",
    "is_applying",
    "joining_transactions",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
ItemKey = tuple[str, str]
CHUNK = 500
"""How many ids one ``IN (...)`` query holds, within every database's limit."""

_applying: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "maestro_applying", default=False
)
_joining: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "maestro_joining", default=False
)


@define
class Ending:
    """A transaction that the change recorded next may commit (see
    :func:`ending_transaction`); ``ended`` says whether it did."""

    using: str
    ended: bool = False


_ending: contextvars.ContextVar[Ending | None] = contextvars.ContextVar(
    "maestro_ending", default=None
)


@contextlib.contextmanager
def ending_transaction(using: str) -> Iterator[Ending]:
    """Within this block, the local change recorded on *using* may also commit
    the open transaction, in the round trip that records it.

    Only for a transaction that nothing else will write in before it
    commits: that of a save made in autocommit mode, which Maestro opened so
    that the save and its change commit together. Whatever is written after
    the change runs in a transaction of its own, as it would after a plain
    autocommit save. On PostgreSQL through psycopg 3 only; elsewhere the
    transaction is left open and ``ended`` stays false.
    """
    ending = Ending(using)
    token = _ending.set(ending)
    try:
        yield ending
    finally:
        _ending.reset(token)


@contextlib.contextmanager
def joining_transactions() -> Iterator[None]:
    """Within this block, the store joins an open transaction without a savepoint.

    For recording a change inside the user's own write: a failure then fails
    that write, as a failing ``INSERT`` would, and the savepoint's two
    round trips are saved.
    """
    token = _joining.set(True)
    try:
        yield
    finally:
        _joining.reset(token)


class _Pending(threading.local):
    """What one thread's open transaction has written but not yet sent."""

    def __init__(self) -> None:
        self.depth = 0
        self.changes: dict[str, ItemChange] = {}
        self.versions: dict[ItemKey, ItemVersion] = {}

    def clear(self) -> None:
        self.changes.clear()
        self.versions.clear()


@contextlib.contextmanager
def applying_remote_changes() -> Iterator[None]:
    """Within this block, this thread's writes are not captured as changes.

    Maestro wraps its own writes of remote changes in it; signals stay
    connected, so other threads keep capturing.
    """
    token = _applying.set(True)
    try:
        yield
    finally:
        _applying.reset(token)


def is_applying() -> bool:
    """Whether the current thread is writing remote changes."""
    return _applying.get()


@functools.cache
def _sqlite_version() -> tuple[int, ...]:
    import sqlite3

    return sqlite3.sqlite_version_info


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _to_db_datetime(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or settings.USE_TZ:
        return value
    return timezone.make_naive(value, dt.UTC)


@overload
def _from_db_datetime(value: dt.datetime) -> dt.datetime: ...
@overload
def _from_db_datetime(value: None) -> None: ...
def _from_db_datetime(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or timezone.is_aware(value):
        return value
    return value.replace(tzinfo=dt.UTC)


_RECORD_STATEMENT = """
SELECT * FROM maestro_record_local_change(
    %(wall)s::bigint, %(entity)s, %(item_id)s, %(origin)s, %(id)s, %(operation)s,
    %(item)s, %(heads)s, %(ending)s
)
"""
"""Records one local change on PostgreSQL, with the function that the
migration ``0002_postgresql_record_function`` installs."""

_RECORD_AND_COMMIT = f"SAVEPOINT maestro_record; {_RECORD_STATEMENT.strip()}; COMMIT"
"""The same, then the commit, sent together. Should the change settle waiting
conflicts, the function refuses it and nothing after it runs; the savepoint
then undoes the refusal and the change is recorded without ending the
transaction."""

_REFUSED_SETTLING = "MA001"
"""The SQLSTATE of the function's refusal."""

_CHANGE_COLUMNS = (
    "id",
    "operation",
    "entity_name",
    "item_id",
    "item",
    "origin",
    "timestamp",
    "vector",
    "parent_id",
)


def _may_end(ending: Ending, connection: Any, cursor: Any) -> bool:
    """Whether the change recorded now may commit the transaction of *ending*.

    The transaction must be the one Maestro opened for a single save, with
    no savepoint inside, and the driver must send the statements as one
    simple query, which psycopg 3's client-side binding cursor does.
    """
    if ending.ended or ending.using != connection.alias:
        return False
    # blocks joined without a savepoint are listed as None
    if connection.vendor != "postgresql" or any(connection.savepoint_ids):
        return False
    simple_query_cursor = _simple_query_cursor()
    return simple_query_cursor is not None and isinstance(
        cursor.cursor, simple_query_cursor
    )


@functools.cache
def _simple_query_cursor() -> type | None:
    """psycopg 3's client-side binding cursor, or ``None`` under psycopg 2."""
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    if not is_psycopg3:
        return None
    import psycopg

    return psycopg.ClientCursor


def _change_from_row(row: Sequence[Any]) -> ItemChange:
    id_, op, entity, item_id, item, origin, ts, vector, parent = row
    return ItemChange(
        id=id_,
        operation=op,
        entity_name=entity,
        item_id=item_id,
        item=json.loads(item),
        origin=origin,
        timestamp=ts,
        vector=json.loads(vector),
        parent_id=parent,
    )


class DjangoDataStore(DataStore):
    """A provider's store in one of the project's databases (*using*)."""

    def __init__(
        self,
        provider_id: str | None = None,
        *,
        using: str | None = None,
        wall_clock: WallClock | None = None,
    ):
        config = get_settings()
        super().__init__(provider_id or config["PROVIDER_ID"], wall_clock=wall_clock)
        self.using: str = using or config["DATABASE"]
        self._pending = _Pending()

    def __repr__(self) -> str:
        return (
            f"<DjangoDataStore provider_id={self.provider_id!r} using={self.using!r}>"
        )

    # -- transactions and the clock -------------------------------------------

    def run_in_transaction(self, fn: Callable[[], T]) -> T:
        pending = self._pending
        connection = connections[self.using]
        savepoint = not (_joining.get() and connection.in_atomic_block)
        # what an enclosing level buffered is sent first, so that a rollback
        # to this level's savepoint discards exactly this level's writes
        self.flush()
        with transaction.atomic(using=self.using, savepoint=savepoint):
            pending.depth += 1
            try:
                result = fn()
                self.flush()
            except BaseException:
                pending.clear()
                raise
            finally:
                pending.depth -= 1
        return result

    def flush(self) -> None:
        """Send the buffered change rows, versions and knowledge."""
        pending = self._pending
        if (
            pending.changes
            and pending.versions
            and len(pending.changes) <= CHUNK
            and len(pending.versions) <= CHUNK
            and connections[self.using].vendor == "postgresql"
        ):
            changes = list(pending.changes.values())
            versions = list(pending.versions.values())
            pending.clear()
            self._save_changes_and_versions(changes, versions)
            return
        if pending.changes:
            changes = list(pending.changes.values())
            pending.changes.clear()
            self._save_changes(changes)
        if pending.versions:
            versions = list(pending.versions.values())
            pending.versions.clear()
            self._save_versions(versions)

    def commit_local_change(
        self,
        operation: Operation,
        entity_name: str,
        item_id: str,
        item: dict[str, Any],
        execute_operation: bool,
    ) -> ItemChange:
        """Record a local change, as the core does.

        On PostgreSQL, a change whose row the application has already written
        is recorded in one statement (see :meth:`_record_in_one_statement`).
        """
        if execute_operation or connections[self.using].vendor != "postgresql":
            return super().commit_local_change(
                operation, entity_name, item_id, item, execute_operation
            )
        return self._record_in_one_statement(operation, entity_name, item_id, item)

    def _record_in_one_statement(
        self,
        operation: Operation,
        entity_name: str,
        item_id: str,
        item: dict[str, Any],
    ) -> ItemChange:
        """Issue a timestamp, read the item's version, insert the change and
        write the new version, in one call of a PostgreSQL function.

        The clock row stays locked until the transaction ends, so timestamps
        follow commit order. The version row is read ``FOR UPDATE``: should
        another transaction have changed it while this one waited for the
        clock, the row as that transaction committed it is the base, not the
        one this transaction's snapshot began with. The new vector is the
        base's with this provider moved up to the timestamp, as
        :meth:`~maestro_core.VectorClock.advance` makes it.
        """
        self.flush()
        connection = connections[self.using]
        change_id = new_id()
        params = {
            "wall": datetime_to_micros(self.wall_clock()),
            "entity": entity_name,
            "item_id": item_id,
            "origin": self.provider_id,
            "id": change_id,
            "operation": operation.value,
            "item": _dumps(item),
            "heads": _dumps([change_id]),
            "ending": False,
        }
        with connection.cursor() as cursor:
            ending = _ending.get()
            if ending is not None and _may_end(ending, connection, cursor):
                row = self._record_and_commit(cursor, params)
                ending.ended = row is not None
            else:
                row = None
            if row is None:
                cursor.execute(_RECORD_STATEMENT, params)
                row = cursor.fetchone()
        timestamp, parent_id, vector, old_operation, old_vector, old_heads = row
        change = ItemChange(
            id=change_id,
            operation=operation,
            entity_name=entity_name,
            item_id=item_id,
            item=item,
            origin=self.provider_id,
            timestamp=timestamp,
            vector=json.loads(vector),
            parent_id=parent_id,
        )
        if parent_id is not None:
            heads = json.loads(old_heads)
            if len(heads) > 1:
                previous = ItemVersion(
                    entity_name=entity_name,
                    item_id=item_id,
                    change_id=parent_id,
                    operation=old_operation,
                    vector=json.loads(old_vector),
                    heads=heads,
                )
                self.settle_waiting_conflicts(previous, change)
        return change

    @staticmethod
    def _record_and_commit(cursor: Any, params: dict[str, Any]) -> Sequence[Any] | None:
        """Record the change and commit; ``None`` if it settles waiting
        conflicts, when nothing has been recorded or committed."""
        try:
            cursor.execute(_RECORD_AND_COMMIT, {**params, "ending": True})
        except DatabaseError as error:
            if getattr(error.__cause__, "sqlstate", None) != _REFUSED_SETTLING:
                raise
            cursor.execute("ROLLBACK TO SAVEPOINT maestro_record")
            return None
        cursor.nextset()  # past the savepoint's result
        return cursor.fetchone()

    def issue_timestamp(self) -> int:
        """Lock, advance and read the clock in one statement where possible."""
        connection = connections[self.using]
        if connection.vendor == "mysql":
            wall = datetime_to_micros(self.wall_clock())
            return self._upsert_clock(
                "IF(value < %s, %s, value + 1)", [wall, wall, wall]
            )
        if connection.vendor not in ("postgresql", "sqlite") or (
            connection.vendor == "sqlite" and _sqlite_version() < (3, 35)
        ):
            return super().issue_timestamp()
        wall = datetime_to_micros(self.wall_clock())
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE maestro_clock SET value = CASE WHEN value < %s THEN %s "
                "ELSE value + 1 END WHERE id = 1 RETURNING value",
                [wall, wall],
            )
            row = cursor.fetchone()
        if row is None:  # the first timestamp: the row is created
            return super().issue_timestamp()
        return int(row[0])

    def _upsert_clock(self, new_value: str, params: list[int]) -> int:
        """MySQL and MariaDB: create or lock the clock row in one statement.

        Reading a missing row ``FOR UPDATE`` takes a gap lock there, which
        does not keep a second transaction out; both then insert the row
        and InnoDB reports a deadlock to one of them. An insert that finds
        the row instead waits for its exclusive lock, so concurrent first
        timestamps queue up like any others. *new_value* is the value an
        existing row gets, in SQL; the first of *params* is a new row's. The
        row is read back with a locking read, which sees the newest value
        where a plain read would see this transaction's snapshot.
        """
        with connections[self.using].cursor() as cursor:
            cursor.execute(
                "INSERT INTO maestro_clock (id, value) VALUES (1, %s) "
                f"ON DUPLICATE KEY UPDATE value = {new_value}",
                params,
            )
            cursor.execute("SELECT value FROM maestro_clock WHERE id = 1 FOR UPDATE")
            (value,) = cursor.fetchone()
        return int(value)

    def read_clock_for_update(self) -> int:
        if connections[self.using].vendor == "mysql":
            return self._upsert_clock("value", [0])
        clocks = Clock.objects.using(self.using).filter(pk=1)
        for _ in range(2):
            if connections[self.using].features.has_select_for_update:
                values = list(
                    clocks.select_for_update().values_list("value", flat=True)
                )
            elif clocks.update(value=F("value")):
                values = list(clocks.values_list("value", flat=True))
            else:
                values = []
            if values:
                return values[0]
            Clock.objects.using(self.using).bulk_create(
                [Clock(id=1, value=0)], ignore_conflicts=True
            )
        raise RuntimeError(f"the clock row of {self!r} could not be created")

    def write_clock(self, value: int) -> None:
        Clock.objects.using(self.using).filter(pk=1).update(value=value)

    # -- knowledge and changes ------------------------------------------------

    def get_knowledge(self) -> VectorClock:
        """Knowledge rows for other origins; this provider's own entry is read
        from the change log (one index lookup), so a local change writes no
        knowledge row."""
        self.flush()
        rows = Knowledge.objects.using(self.using).values_list("origin", "timestamp")
        knowledge = dict(rows)
        own = (
            Change.objects.using(self.using)
            .filter(origin=self.provider_id)
            .aggregate(newest=Max("timestamp"))["newest"]
        )
        if own is not None:
            knowledge[self.provider_id] = max(own, knowledge.get(self.provider_id, 0))
        return VectorClock(knowledge)

    def select_changes(
        self, origin: str, after: int, limit: int
    ) -> Sequence[ItemChange]:
        self.flush()
        rows = (
            Change.objects.using(self.using)
            .filter(origin=origin, timestamp__gt=after)
            .order_by("timestamp")
            .values_list(*_CHANGE_COLUMNS)[:limit]
        )
        return [_change_from_row(row) for row in rows]

    def count_changes(self, origin: str, after: int) -> int:
        self.flush()
        return (
            Change.objects.using(self.using)
            .filter(origin=origin, timestamp__gt=after)
            .count()
        )

    def get_changes(self, change_ids: Iterable[str]) -> dict[str, ItemChange]:
        self.flush()
        ids = list(dict.fromkeys(change_ids))
        found: dict[str, ItemChange] = {}
        for chunk in _chunks(ids):
            rows = (
                Change.objects.using(self.using)
                .filter(id__in=chunk)
                .values_list(*_CHANGE_COLUMNS)
            )
            for row in rows:
                change = _change_from_row(row)
                found[change.id] = change
        return found

    def save_change(self, change: ItemChange) -> None:
        if self._pending.depth:
            self._pending.changes.setdefault(change.id, change)
        else:
            self._save_changes([change])

    def record_local_changes(
        self, entries: Sequence[tuple[Operation, str, str, Mapping[str, Any]]]
    ) -> list[ItemChange]:
        """Record many local changes at once; the user's rows are not written.

        Each entry is ``(operation, entity_name, item_id, item)``, the item in
        Python or canonical values. Does in one transaction, with a handful
        of queries, what :meth:`commit_item_change` with
        ``execute_operation=False`` does for each entry: one timestamp each,
        in order, each change following the item's version. An item listed
        twice gets two changes, the second after the first.
        """
        prepared = []
        for operation, entity_name, item_id, item in entries:
            operation = Operation.coerce(operation)
            canonical = self._canonical_item(item_id, item)
            self.validate_item(operation, entity_name, item_id, canonical)
            prepared.append((operation, entity_name, item_id, canonical))
        if not prepared:
            return []

        def record() -> list[ItemChange]:
            keys = {(entity, item_id) for _, entity, item_id, _ in prepared}
            versions: dict[ItemKey, ItemVersion | None] = dict(
                self.get_item_versions(keys)
            )
            last = self.read_clock_for_update()
            changes = []
            for operation, entity_name, item_id, item in prepared:
                last = next_timestamp(last, self.wall_clock)
                previous = versions.get((entity_name, item_id))
                change = self._local_change(
                    operation, entity_name, item_id, item, last, previous
                )
                self.settle_waiting_conflicts(previous, change)
                versions[(entity_name, item_id)] = ItemVersion(
                    entity_name=entity_name,
                    item_id=item_id,
                    change_id=change.id,
                    operation=operation,
                    vector=change.vector,
                    heads=(change.id,),
                )
                changes.append(change)
            self.write_clock(last)
            self._save_changes(changes)
            # every key listed now maps to the version of its last change
            self._save_versions([v for v in versions.values() if v is not None])
            return changes

        return self.run_in_transaction(record)

    def _save_changes(self, changes: Sequence[ItemChange]) -> None:
        """Insert *changes* in bulk and move knowledge past the newest."""
        for chunk in _chunks(changes):
            Change.objects.using(self.using).bulk_create(
                [
                    Change(
                        id=change.id,
                        origin=change.origin,
                        timestamp=change.timestamp,
                        operation=change.operation.value,
                        entity_name=change.entity_name,
                        item_id=change.item_id,
                        item=_dumps(change.item),
                        vector=_dumps(change.vector.to_dict()),
                        parent_id=change.parent_id,
                    )
                    for change in chunk
                ],
                ignore_conflicts=True,
            )
        self._move_knowledge_past(changes)

    def _move_knowledge_past(self, changes: Sequence[ItemChange]) -> None:
        newest: dict[str, int] = {}
        own = self.provider_id  # its knowledge is read from the change log
        for change in changes:
            if change.origin != own:
                newest[change.origin] = max(
                    newest.get(change.origin, 0), change.timestamp
                )
        for origin, timestamp in newest.items():
            self._move_knowledge(origin, timestamp)

    def _save_changes_and_versions(
        self, changes: Sequence[ItemChange], versions: Sequence[ItemVersion]
    ) -> None:
        """On PostgreSQL, :meth:`_save_changes` and :meth:`_save_versions` in
        one statement: the change rows are inserted by a ``WITH`` query."""
        params: list[Any] = []
        for change in changes:
            params += [
                change.id,
                change.origin,
                change.timestamp,
                change.operation.value,
                change.entity_name,
                change.item_id,
                _dumps(change.item),
                _dumps(change.vector.to_dict()),
                change.parent_id,
            ]
        for version in versions:
            params += [
                version.entity_name,
                version.item_id,
                version.change_id,
                version.operation.value,
                _dumps(version.vector.to_dict()),
                _dumps(list(version.heads)),
            ]
        change_rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(changes))
        version_rows = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(versions))
        with connections[self.using].cursor() as cursor:
            cursor.execute(
                "WITH change AS (INSERT INTO maestro_change (id, origin, timestamp, "
                "operation, entity_name, item_id, item, vector, parent_id) "
                f"VALUES {change_rows} ON CONFLICT DO NOTHING) "
                "INSERT INTO maestro_item_version (entity_name, item_id, change_id, "
                f"operation, vector, heads) VALUES {version_rows} "
                "ON CONFLICT (entity_name, item_id) DO UPDATE SET "
                "change_id = EXCLUDED.change_id, operation = EXCLUDED.operation, "
                "vector = EXCLUDED.vector, heads = EXCLUDED.heads",
                params,
            )
        self._move_knowledge_past(changes)

    def _move_knowledge(self, origin: str, timestamp: int) -> None:
        knowledge = Knowledge.objects.using(self.using)
        moved = knowledge.filter(origin=origin, timestamp__lt=timestamp).update(
            timestamp=timestamp
        )
        if not moved:
            knowledge.bulk_create(
                [Knowledge(origin=origin, timestamp=timestamp)],
                ignore_conflicts=True,
            )

    # -- item versions ------------------------------------------------------

    def get_item_versions(self, keys: Iterable[ItemKey]) -> dict[ItemKey, ItemVersion]:
        self.flush()
        by_entity: dict[str, list[str]] = {}
        for entity_name, item_id in set(keys):
            by_entity.setdefault(entity_name, []).append(item_id)
        found: dict[ItemKey, ItemVersion] = {}
        for entity_name, item_ids in by_entity.items():
            for chunk in _chunks(item_ids):
                rows = (
                    ItemVersionEntry.objects.using(self.using)
                    .filter(entity_name=entity_name, item_id__in=chunk)
                    .values_list("item_id", "change_id", "operation", "vector", "heads")
                )
                for item_id, change_id, operation, vector, heads in rows:
                    found[(entity_name, item_id)] = ItemVersion(
                        entity_name=entity_name,
                        item_id=item_id,
                        change_id=change_id,
                        operation=operation,
                        vector=json.loads(vector),
                        heads=json.loads(heads),
                    )
        return found

    def _upsert(
        self,
        model: type[models.Model],
        instances: list[models.Model],
        unique: list[str],
        update: list[str],
    ) -> None:
        features = connections[self.using].features
        model._default_manager.using(self.using).bulk_create(
            instances,
            update_conflicts=True,
            unique_fields=unique
            if features.supports_update_conflicts_with_target
            else None,
            update_fields=update,
        )

    def save_item_version(self, version: ItemVersion) -> None:
        if self._pending.depth:
            self._pending.versions[version.key] = version
        else:
            self._save_versions([version])

    def _save_versions(self, versions: Sequence[ItemVersion]) -> None:
        for chunk in _chunks(versions):
            self._upsert(
                ItemVersionEntry,
                [
                    ItemVersionEntry(
                        entity_name=version.entity_name,
                        item_id=version.item_id,
                        change_id=version.change_id,
                        operation=version.operation.value,
                        vector=_dumps(version.vector.to_dict()),
                        heads=_dumps(list(version.heads)),
                    )
                    for version in chunk
                ],
                ["entity_name", "item_id"],
                ["change_id", "operation", "vector", "heads"],
            )

    # -- the user's data ----------------------------------------------------

    def validate_item(
        self,
        operation: Operation,
        entity_name: str,
        item_id: str,
        item: Mapping[str, Any],
    ) -> None:
        synced = model_for_entity(entity_name)
        pk_from_item_id(synced.model, item_id)

    def execute_item_change(
        self,
        operation: Operation,
        entity_name: str,
        item_id: str,
        item: Mapping[str, Any],
    ) -> None:
        synced = model_for_entity(entity_name)
        model = synced.model
        pk = pk_from_item_id(model, item_id)
        rows = model._base_manager.db_manager(self.using).filter(pk=pk)
        with applying_remote_changes():
            if operation is Operation.DELETE:
                rows.delete()
                return
            vendor = connections[self.using].vendor
            values = remote_values(synced, item_id, item, exact_for=vendor)
            self._check_parents(entity_name, item_id, model, pk, values)
            if values.columns:
                exists = rows.update(**values.columns) > 0
            else:
                exists = rows.exists()
            if not exists:
                self._insert(model, pk, values)
            for field, related in values.many_to_many.items():
                self._set_related(model, pk, field, related)

    def _insert(self, model: type[models.Model], pk: Any, values: RemoteValues) -> None:
        files = {
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, models.FileField) and f.attname in values.columns
        }
        instance = model(**{k: v for k, v in values.columns.items() if k not in files})
        # past the descriptor: given a name, an ImageField with dimension
        # fields opens its file to measure it, and the file may be elsewhere
        for attname in files:
            instance.__dict__[attname] = values.columns[attname]
        instance.pk = pk
        for f in model._meta.concrete_fields:
            auto = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
            if auto and f.attname not in values.columns:
                f.pre_save(instance, True)
        instance.save_base(using=self.using, raw=True, force_insert=True)

    def _set_related(
        self,
        model: type[models.Model],
        pk: Any,
        field: models.ManyToManyField,
        related: list[Any],
    ) -> None:
        if not field.remote_field.through._meta.auto_created:
            raise UnwritableValueError(
                f"{model._meta.label_lower}.{field.name} uses the through model "
                f"{field.remote_field.through._meta.label!r}; expected an "
                "automatically created one (mark the field read-only to skip it)",
                key=field.name,
            )
        instance = model(pk=pk)
        instance._state.db = self.using
        instance._state.adding = False
        getattr(instance, field.name).set(related)

    def _check_parents(
        self,
        entity_name: str,
        item_id: str,
        model: type[models.Model],
        pk: Any,
        values: RemoteValues,
    ) -> None:
        """Refuse a change whose related rows have not arrived yet.

        Checked here, not left to the database, because foreign keys are
        often deferred to commit: the error must belong to this change.
        """
        for field, value in values.foreign_keys.items():
            related = field.related_model
            if related is model and value == pk:
                continue
            target = field.target_field.attname
            if (
                not related._base_manager.db_manager(self.using)
                .filter(**{target: value})
                .exists()
            ):
                raise MissingParentError(
                    f"item {item_id!r} of {entity_name!r} refers through "
                    f"{field.name!r} to {related._meta.label_lower} {value!r}, which "
                    "does not exist yet; expected it to arrive first (the change is "
                    "deferred and retried)"
                )
        for field, ids in values.many_to_many.items():
            wanted = set(ids)
            related = field.related_model
            held = set(
                related._base_manager.db_manager(self.using)
                .filter(pk__in=wanted)
                .values_list("pk", flat=True)
            )
            if held != wanted:
                raise MissingParentError(
                    f"item {item_id!r} of {entity_name!r} lists in {field.name!r} "
                    f"{related._meta.label_lower} {sorted(wanted - held)!r}, which do "
                    "not exist yet; expected them to arrive first (the change is "
                    "deferred and retried)"
                )

    def get_item(self, entity_name: str, item_id: str) -> dict[str, Any] | None:
        synced = model_for_entity(entity_name)
        try:
            pk = pk_from_item_id(synced.model, item_id)
        except UnwritableValueError:
            return None
        instance = (
            synced.model._base_manager.db_manager(self.using).filter(pk=pk).first()
        )
        if instance is None:
            return None
        return encode_item(item_from_instance(synced, instance))

    # -- conflicts and sessions ----------------------------------------------

    def save_conflict_log(self, log: ConflictLog) -> None:
        values = log.to_dict()
        values["conflict_id"] = values.pop("id")
        values["created_at"] = _to_db_datetime(log.created_at)
        values["resolved_at"] = _to_db_datetime(log.resolved_at)
        self._upsert(
            ConflictLogEntry,
            [ConflictLogEntry(**values)],
            ["conflict_id"],
            [k for k in values if k != "conflict_id"],
        )

    @staticmethod
    def _conflict(entry: ConflictLogEntry) -> ConflictLog:
        return ConflictLog(
            id=entry.conflict_id,
            provider_id=entry.provider_id,
            conflict_type=entry.conflict_type,
            status=entry.status,
            entity_name=entry.entity_name,
            item_id=entry.item_id,
            created_at=_from_db_datetime(entry.created_at),
            local_change_id=entry.local_change_id,
            remote_change_id=entry.remote_change_id,
            winner_change_id=entry.winner_change_id,
            loser_change_id=entry.loser_change_id,
            policy=entry.policy,
            description=entry.description,
            resolved_at=_from_db_datetime(entry.resolved_at),
        )

    def get_conflict_logs(
        self,
        *,
        status: ConflictStatus | None = None,
        conflict_type: ConflictType | None = None,
    ) -> list[ConflictLog]:
        entries = ConflictLogEntry.objects.using(self.using).order_by(
            "created_at", "id"
        )
        if status is not None:
            entries = entries.filter(status=status.value)
        if conflict_type is not None:
            entries = entries.filter(conflict_type=conflict_type.value)
        return [self._conflict(entry) for entry in entries]

    def get_conflict_log(self, conflict_id: str) -> ConflictLog | None:
        entry = (
            ConflictLogEntry.objects.using(self.using)
            .filter(conflict_id=conflict_id)
            .first()
        )
        return None if entry is None else self._conflict(entry)

    def save_session(self, session: SyncSession) -> None:
        values = session.to_dict()
        values["session_id"] = values.pop("id")
        values["started_at"] = _to_db_datetime(session.started_at)
        values["ended_at"] = _to_db_datetime(session.ended_at)
        self._upsert(
            SessionEntry,
            [SessionEntry(**values)],
            ["session_id"],
            [k for k in values if k != "session_id"],
        )

    def get_sessions(self, *, limit: int = 100) -> list[SyncSession]:
        entries = SessionEntry.objects.using(self.using).order_by("-started_at", "-id")
        return [
            SyncSession(
                id=e.session_id,
                source_provider_id=e.source_provider_id,
                target_provider_id=e.target_provider_id,
                status=e.status,
                started_at=_from_db_datetime(e.started_at),
                ended_at=_from_db_datetime(e.ended_at),
                sent=e.sent,
                applied=e.applied,
                conflicts=e.conflicts,
                deferred=e.deferred,
                error=e.error,
            )
            for e in entries[:limit]
        ]
