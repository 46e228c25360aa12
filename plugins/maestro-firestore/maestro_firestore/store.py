"""The Firestore data store: Maestro's records beside the user's documents.

Layout (``maestro_`` is the configurable prefix):

``<entity>/<item id>``
    The user's documents; an entity name is a collection path.
``maestro_changes/<change id>``
    One change: ``origin`` and ``timestamp`` (indexed together, so selecting
    an origin's changes after a timestamp reads only what it returns) and
    ``data``, the change as JSON (not indexed).
``maestro_versions/<entity>:<item id>``
    One item's version as JSON, ``hash``, a digest of the item as this
    provider stored it, which lets capture tell its own writes apart, and
    ``key``, the document's own id, by which a batch of versions is read in a
    few ``in`` queries.
``maestro_meta/clock``
    The provider's clock and knowledge, in one document.
``maestro_conflicts``, ``maestro_sessions``
    Conflict logs and session records, with their costs.

Transactions. Firestore wants every read of a transaction before its first
write, while the engine reads and writes in turn. So reads go straight to the
database and writes are buffered, then committed in one atomic batch when the
outermost :meth:`~FirestoreDataStore.run_in_transaction` returns. The clock
document is what serialises writers: a transaction that records a change
reads the clock (from a cache kept since this process last committed it) and
its batch rewrites the clock document with a precondition on the update time
it read. If another process committed in between, Firestore refuses the whole
batch and nothing is written (:class:`ClockMovedError`); the cache is dropped
and the next attempt reads the clock again. Within one process, a lock per
clock document makes writers wait their turn instead.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from attrs import define, field, frozen
from google.api_core import exceptions as api_exceptions
from google.cloud.firestore_v1 import Query
from google.cloud.firestore_v1.base_query import FieldFilter

from maestro_core import (
    ConflictLog,
    ConflictStatus,
    ConflictType,
    DataStore,
    InvalidItemError,
    ItemChange,
    ItemVersion,
    Operation,
    SyncSession,
    VectorClock,
    WallClock,
)
from maestro_core.clock import datetime_to_micros
from maestro_core.store import ItemKey, without_collection_name

from .exceptions import ClockMovedError
from .serializer import FirestoreSerializer, item_hash

__all__ = ["DEFAULT_PREFIX", "FirestoreDataStore", "OperationCounts"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_PREFIX = "maestro_"
COMMIT_ATTEMPTS = 8
"""How often ``commit_item_change`` tries when other processes keep committing."""
IDS_PER_QUERY = 30
"""The most document ids one ``in`` query may name (a Firestore limit)."""


@define
class OperationCounts:
    """Document reads, writes and deletes, as Firestore bills them."""

    reads: int = 0
    writes: int = 0
    deletes: int = 0

    def __sub__(self, other: OperationCounts) -> OperationCounts:
        return OperationCounts(
            self.reads - other.reads,
            self.writes - other.writes,
            self.deletes - other.deletes,
        )

    def copy(self) -> OperationCounts:
        return OperationCounts(self.reads, self.writes, self.deletes)

    def as_dict(self) -> dict[str, int]:
        return {"reads": self.reads, "writes": self.writes, "deletes": self.deletes}


@frozen
class _Meta:
    """The clock document as last read or committed."""

    clock: int
    knowledge: dict[str, int]
    update_time: Any  # None while the document does not exist


class _ClockSlot:
    """The lock and cache of one clock document, shared in the process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.meta: _Meta | None = None


_slots: dict[tuple[str, str, str], _ClockSlot] = {}
_slots_lock = threading.Lock()


def _slot_for(key: tuple[str, str, str]) -> _ClockSlot:
    with _slots_lock:
        return _slots.setdefault(key, _ClockSlot())


@define
class _Pending:
    """What an open transaction will write when it commits."""

    depth: int = 0
    writes: dict[str, tuple[Any, dict[str, Any] | None]] = field(factory=dict)
    executed: dict[ItemKey, dict[str, Any] | None] = field(factory=dict)
    changes: dict[str, ItemChange] = field(factory=dict)
    versions: dict[ItemKey, ItemVersion] = field(factory=dict)
    meta: _Meta | None = None
    meta_dirty: bool = False
    holds_clock: bool = False
    sessions: dict[str, SyncSession] = field(factory=dict)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _micros(value: Any) -> int:
    return datetime_to_micros(value)


def _check_segment(kind: str, value: str, item_id: object) -> None:
    reserved = value.startswith("__") and value.endswith("__")
    if value in (".", "..") or reserved or "/" in value:
        raise InvalidItemError(
            f"{kind} {value!r} is not a valid Firestore id; expected no '/', no "
            "'.' or '..', and no name that both starts and ends with '__'",
            item_id=item_id,
            key=kind,
        )
    if len(value.encode()) > 1500:
        raise InvalidItemError(
            f"{kind} {value[:40]!r}... is longer than Firestore's 1,500 bytes",
            item_id=item_id,
            key=kind,
        )


class FirestoreDataStore(DataStore):
    """A provider's storage in one Firestore database.

    ``counts`` adds up the document reads, writes and deletes the store has
    made (see :class:`OperationCounts`); each session record saved here keeps
    what the store spent during that session.
    """

    def __init__(
        self,
        client: Any,
        provider_id: str = "firestore",
        *,
        prefix: str = DEFAULT_PREFIX,
        wall_clock: WallClock | None = None,
    ):
        super().__init__(provider_id, wall_clock=wall_clock)
        if not isinstance(prefix, str) or not prefix or "/" in prefix:
            raise ValueError(
                f"collection prefix {prefix!r} is not valid; expected a non-empty "
                "string without '/'"
            )
        self.client = client
        self.prefix = prefix
        self.serializer = FirestoreSerializer(client)
        self.changes = client.collection(f"{prefix}changes")
        self.versions = client.collection(f"{prefix}versions")
        self.conflicts = client.collection(f"{prefix}conflicts")
        self.sessions = client.collection(f"{prefix}sessions")
        self.clock_ref = client.collection(f"{prefix}meta").document("clock")
        self.counts = OperationCounts()
        self._counts_lock = threading.Lock()
        self._local = threading.local()
        self._session_start: dict[str, OperationCounts] = {}
        database = getattr(client, "_database", "(default)")
        self._slot = _slot_for((client.project, database, self.clock_ref.path))

    # -- counting ---------------------------------------------------------------

    def _count(self, reads: int = 0, writes: int = 0, deletes: int = 0) -> None:
        with self._counts_lock:
            self.counts.reads += reads
            self.counts.writes += writes
            self.counts.deletes += deletes

    def snapshot_counts(self) -> OperationCounts:
        """A copy of the counts so far, to subtract from a later one."""
        with self._counts_lock:
            return self.counts.copy()

    # -- transactions -------------------------------------------------------

    @property
    def _pending(self) -> _Pending | None:
        return getattr(self._local, "pending", None)

    def run_in_transaction(self, fn: Callable[[], T]) -> T:
        pending = self._pending
        if pending is not None:
            pending.depth += 1
            try:
                return fn()
            finally:
                pending.depth -= 1
        pending = self._local.pending = _Pending(depth=1)
        try:
            result = fn()
            self._commit(pending)
            return result
        finally:
            self._local.pending = None
            if pending.holds_clock:
                self._slot.lock.release()

    def _write(self, ref: Any, data: dict[str, Any] | None) -> None:
        """Buffer a set (or, with ``None``, a delete) of *ref*."""
        pending = self._pending
        if pending is None:
            self.run_in_transaction(lambda: self._write(ref, data))
            return
        pending.writes.pop(ref.path, None)
        pending.writes[ref.path] = (ref, data)

    def _commit(self, pending: _Pending) -> None:
        writes = list(pending.writes.values())
        for key, version in pending.versions.items():
            writes.append(self._version_write(key, version, pending))
        for session in pending.sessions.values():
            writes.append(self._session_write(session))
        if not writes and not pending.meta_dirty:
            return
        batch = self.client.batch()
        sets = deletes = 0
        for ref, data in writes:
            if data is None:
                batch.delete(ref)
                deletes += 1
            else:
                merge = data.pop("__merge__", False)
                batch.set(ref, data, merge=merge)
                sets += 1
        meta = pending.meta
        if pending.meta_dirty:
            assert meta is not None
            values = {"clock": meta.clock, "knowledge": _dumps(meta.knowledge)}
            if meta.update_time is None:
                batch.create(self.clock_ref, values)
            else:
                option = self.client.write_option(last_update_time=meta.update_time)
                batch.update(self.clock_ref, values, option=option)
            sets += 1
        try:
            results = batch.commit()
        except (
            api_exceptions.FailedPrecondition,
            api_exceptions.AlreadyExists,
            api_exceptions.Aborted,
        ) as error:
            self._slot.meta = None
            raise ClockMovedError(
                f"provider {self.provider_id!r}: the clock document "
                f"{self.clock_ref.path!r} changed since it was read, so this "
                "transaction was not committed; expected to be the only writer "
                "meanwhile (it is safe to try again)"
            ) from error
        except BaseException:
            self._slot.meta = None
            raise
        self._count(writes=sets, deletes=deletes)
        if pending.meta_dirty and meta is not None:
            self._slot.meta = _Meta(meta.clock, meta.knowledge, results[-1].update_time)

    def _hold_clock(self) -> _Meta:
        """The clock state of the open transaction, locked for it."""
        pending = self._pending
        if pending is None:
            raise RuntimeError(
                "the clock can only be taken inside run_in_transaction; expected "
                "a call made by the transaction that records the change"
            )
        if not pending.holds_clock:
            self._slot.lock.acquire()
            pending.holds_clock = True
            if self._slot.meta is None:
                self._slot.meta = self._read_meta()
            pending.meta = self._slot.meta
        assert pending.meta is not None
        return pending.meta

    def _read_meta(self) -> _Meta:
        snapshot = self.clock_ref.get()
        self._count(reads=1)
        if not snapshot.exists:
            return _Meta(0, {}, None)
        data = snapshot.to_dict()
        return _Meta(
            int(data.get("clock", 0)),
            json.loads(data.get("knowledge") or "{}"),
            snapshot.update_time,
        )

    def _set_meta(self, clock: int, knowledge: dict[str, int]) -> None:
        pending = self._pending
        assert pending is not None and pending.meta is not None
        pending.meta = _Meta(clock, knowledge, pending.meta.update_time)
        pending.meta_dirty = True

    def read_clock_for_update(self) -> int:
        if self._pending is None:
            return self._read_meta().clock
        return self._hold_clock().clock

    def write_clock(self, value: int) -> None:
        if self._pending is None:
            self.run_in_transaction(lambda: self.write_clock(value))
            return
        meta = self._hold_clock()
        self._set_meta(value, meta.knowledge)

    # -- knowledge and changes ------------------------------------------------

    def get_knowledge(self) -> VectorClock:
        pending = self._pending
        if pending is not None and pending.holds_clock and pending.meta is not None:
            return VectorClock(pending.meta.knowledge)
        return VectorClock(self._read_meta().knowledge)

    def select_changes(
        self, origin: str, after: int, limit: int
    ) -> Sequence[ItemChange]:
        query = (
            self.changes.where(filter=FieldFilter("origin", "==", origin))
            .where(filter=FieldFilter("timestamp", ">", after))
            .order_by("timestamp")
            .limit(limit)
        )
        found = [
            ItemChange.from_dict(json.loads(d.get("data"))) for d in query.stream()
        ]
        self._count(reads=max(1, len(found)))
        return found

    def count_changes(self, origin: str, after: int) -> int:
        query = self.changes.where(filter=FieldFilter("origin", "==", origin)).where(
            filter=FieldFilter("timestamp", ">", after)
        )
        try:
            count = int(query.count().get()[0][0].value)
        except (api_exceptions.GoogleAPICallError, IndexError):
            return super().count_changes(origin, after)
        self._count(reads=max(1, -(-count // 1000)))
        return count

    def get_changes(self, change_ids: Iterable[str]) -> dict[str, ItemChange]:
        ids = list(dict.fromkeys(change_ids))
        if not ids:
            return {}
        refs = [self.changes.document(i) for i in ids]
        found = {}
        for snapshot in self.client.get_all(refs):
            if snapshot.exists:
                change = ItemChange.from_dict(json.loads(snapshot.get("data")))
                found[change.id] = change
        self._count(reads=len(ids))
        return found

    def save_change(self, change: ItemChange) -> None:
        if self._pending is None:
            self.run_in_transaction(lambda: self.save_change(change))
            return
        meta = self._hold_clock()
        if meta.knowledge.get(change.origin, 0) < change.timestamp:
            self._set_meta(
                meta.clock, {**meta.knowledge, change.origin: change.timestamp}
            )
        pending = self._pending
        assert pending is not None
        pending.changes[change.id] = change
        self._write(
            self.changes.document(change.id),
            {
                "origin": change.origin,
                "timestamp": change.timestamp,
                "data": _dumps(change.to_dict()),
            },
        )

    # -- item versions and items ----------------------------------------------

    def version_id(self, entity_name: str, item_id: str) -> str:
        """The id of the version document of one item."""
        quote = urllib.parse.quote
        return f"{quote(entity_name, safe='')}:{quote(item_id, safe='')}"

    def get_item_versions(self, keys: Iterable[ItemKey]) -> dict[ItemKey, ItemVersion]:
        return {
            key: version
            for key, (version, _) in self._read_versions(keys).items()
            if version is not None
        }

    def get_version_and_hash(
        self, entity_name: str, item_id: str
    ) -> tuple[ItemVersion | None, str | None]:
        """An item's version and the digest of the item this provider stored."""
        found = self._read_versions([(entity_name, item_id)])
        return found.get((entity_name, item_id), (None, None))

    def _read_versions(
        self, keys: Iterable[ItemKey]
    ) -> dict[ItemKey, tuple[ItemVersion | None, str | None]]:
        """Versions with their digests, by key, read a batch at a time.

        Several keys are read with ``in`` queries on ``key`` of up to
        :data:`IDS_PER_QUERY` ids, which Firestore bills per document found
        (at least one read per query), so the versions of items that are new
        here cost next to nothing; a single key is one plain read.
        """
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}
        by_id = {self.version_id(*key): key for key in keys}
        refs = [self.versions.document(i) for i in by_id]
        found = {}
        for snapshot in self._read_documents(refs):
            data = snapshot.to_dict()
            version = ItemVersion.from_dict(json.loads(data["data"]))
            found[by_id[snapshot.id]] = (version, data.get("hash"))
        return found

    def _read_documents(self, refs: list[Any]) -> list[Any]:
        """The snapshots of those of *refs* (versions) that exist."""
        if len(refs) == 1:
            snapshot = refs[0].get()
            self._count(reads=1)
            return [snapshot] if snapshot.exists else []
        collection = refs[0].parent
        snapshots = []
        for start in range(0, len(refs), IDS_PER_QUERY):
            chunk = [ref.id for ref in refs[start : start + IDS_PER_QUERY]]
            query = collection.where(filter=FieldFilter("key", "in", chunk))
            rows = list(query.stream())
            self._count(reads=max(1, len(rows)))
            snapshots.extend(rows)
        return snapshots

    def save_item_version(self, version: ItemVersion) -> None:
        if self._pending is None:
            self.run_in_transaction(lambda: self.save_item_version(version))
            return
        pending = self._pending
        pending.versions.pop(version.key, None)
        pending.versions[version.key] = version

    def _version_write(
        self, key: ItemKey, version: ItemVersion, pending: _Pending
    ) -> tuple[Any, dict[str, Any]]:
        """The version document, with the digest of what the item now shows.

        The digest comes from the item this transaction wrote, or else from
        the change the version points to when this transaction recorded it
        (a change committed without writing the item); otherwise the stored
        digest stays (a merge write leaves the field alone).
        """
        document_id = self.version_id(*key)
        data: dict[str, Any] = {"data": _dumps(version.to_dict()), "key": document_id}
        if key in pending.executed:
            data["hash"] = item_hash(pending.executed[key])
        elif version.change_id in pending.changes:
            change = pending.changes[version.change_id]
            if change.key == key:
                deleted = change.operation is Operation.DELETE
                data["hash"] = None if deleted else item_hash(change.item)
        if "hash" not in data:
            data["__merge__"] = True
        return self.versions.document(document_id), data

    def validate_item(
        self,
        operation: Operation,
        entity_name: str,
        item_id: str,
        item: Mapping[str, Any],
    ) -> None:
        self._check_entity(entity_name, item_id)
        _check_segment("item_id", item_id, item_id)
        if operation is not Operation.DELETE:
            self.serializer.to_document(item_id, item)

    def _check_entity(self, entity_name: str, item_id: object) -> None:
        segments = entity_name.split("/")
        if len(segments) % 2 == 0 or any(not s for s in segments):
            raise InvalidItemError(
                f"entity name {entity_name!r} is not a Firestore collection path; "
                "expected a collection id, or 'collection/document/subcollection'",
                item_id=item_id,
                key="entity_name",
            )
        for segment in segments:
            _check_segment("entity_name", segment, item_id)
        if segments[0].startswith(self.prefix):
            raise InvalidItemError(
                f"entity name {entity_name!r} starts with {self.prefix!r}, the prefix "
                "of Maestro's own collections; expected a collection of your data",
                item_id=item_id,
                key="entity_name",
            )

    def execute_item_change(
        self,
        operation: Operation,
        entity_name: str,
        item_id: str,
        item: Mapping[str, Any],
    ) -> None:
        self._check_entity(entity_name, item_id)
        _check_segment("item_id", item_id, item_id)
        ref = self.client.collection(entity_name).document(item_id)
        if operation is Operation.DELETE:
            data = None
            stored = None
        else:
            data = self.serializer.to_document(item_id, item)
            stored = self.serializer.from_document(item_id, data)
        if self._pending is None:
            self.run_in_transaction(
                lambda: self.execute_item_change(operation, entity_name, item_id, item)
            )
            return
        self._pending.executed[(entity_name, item_id)] = stored
        self._write(ref, data)

    def get_item(self, entity_name: str, item_id: str) -> dict[str, Any] | None:
        snapshot = self.client.collection(entity_name).document(item_id).get()
        self._count(reads=1)
        if not snapshot.exists:
            return None
        return self.serializer.from_document(item_id, snapshot.to_dict())

    # -- local changes --------------------------------------------------------

    def commit_item_change(
        self,
        operation: Operation | str,
        entity_name: str,
        item_id: str,
        item: Mapping[str, Any],
        execute_operation: bool = True,
    ) -> ItemChange:
        """Record a change made to this database; see :class:`DataStore`.

        The item must also carry ``collection_name``, equal to
        *entity_name*: the collection it is stored in. It routes the item
        and is not part of the item that travels. When another process
        commits at the same moment, the attempt is made again.
        """
        operation = Operation.coerce(operation)
        if isinstance(item, Mapping):
            item = without_collection_name(entity_name, item_id, item)
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                return super().commit_item_change(
                    operation, entity_name, item_id, item, execute_operation
                )
            except ClockMovedError:
                if attempt == COMMIT_ATTEMPTS or self._pending is not None:
                    raise
                logger.debug("%s: clock moved; committing again", self.provider_id)
        raise AssertionError("unreachable")

    # -- conflicts and sessions ----------------------------------------------

    def save_conflict_log(self, log: ConflictLog) -> None:
        self._write(
            self.conflicts.document(log.id),
            {
                "status": log.status.value,
                "conflict_type": log.conflict_type.value,
                "created": _micros(log.created_at),
                "data": _dumps(log.to_dict()),
            },
        )

    def get_conflict_logs(
        self,
        *,
        status: ConflictStatus | None = None,
        conflict_type: ConflictType | None = None,
    ) -> list[ConflictLog]:
        query: Any = self.conflicts
        if status is not None:
            query = query.where(filter=FieldFilter("status", "==", status.value))
        if conflict_type is not None:
            query = query.where(
                filter=FieldFilter("conflict_type", "==", conflict_type.value)
            )
        rows = [(d.get("created"), d.get("data")) for d in query.stream()]
        self._count(reads=max(1, len(rows)))
        rows.sort(key=lambda row: row[0])
        return [ConflictLog.from_dict(json.loads(data)) for _, data in rows]

    def get_conflict_log(self, conflict_id: str) -> ConflictLog | None:
        snapshot = self.conflicts.document(conflict_id).get()
        self._count(reads=1)
        if not snapshot.exists:
            return None
        return ConflictLog.from_dict(json.loads(snapshot.get("data")))

    def save_session(self, session: SyncSession) -> None:
        """Record *session*, with what this store spent since it started."""
        if session.status.value == "IN_PROGRESS":
            self._session_start.setdefault(session.id, self.snapshot_counts())
        pending = self._pending
        if pending is None:
            self.run_in_transaction(lambda: self.save_session(session))
            return
        pending.sessions[session.id] = session

    def _session_write(self, session: SyncSession) -> tuple[Any, dict[str, Any]]:
        data: dict[str, Any] = {
            "started": _micros(session.started_at),
            "data": _dumps(session.to_dict()),
        }
        start = self._session_start.get(session.id)
        if start is not None:
            cost = self.snapshot_counts() - start
            cost.writes += 1  # this write
            data.update(cost.as_dict())
            if session.status.value != "IN_PROGRESS":
                self._session_start.pop(session.id, None)
        return self.sessions.document(session.id), data

    def get_sessions(self, *, limit: int = 100) -> list[SyncSession]:
        query = self.sessions.order_by("started", direction=Query.DESCENDING).limit(
            limit
        )
        found = [
            SyncSession.from_dict(json.loads(d.get("data"))) for d in query.stream()
        ]
        self._count(reads=max(1, len(found)))
        return found

    def get_session_cost(self, session_id: str) -> OperationCounts | None:
        """What this store spent during a session it recorded, if known."""
        snapshot = self.sessions.document(session_id).get()
        self._count(reads=1)
        data = snapshot.to_dict() if snapshot.exists else None
        if not data or data.get("reads") is None:
            return None
        return OperationCounts(data["reads"], data["writes"], data["deletes"])
