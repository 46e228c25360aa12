"""The MongoDB data store: user documents plus Maestro's own collections.

User items live in the collection named after their entity. Maestro's
records live beside them, in collections whose names start with a prefix
(``maestro_`` by default):

==================  ===========================================================
``<p>changes``      every held change; unique index on ``(origin, timestamp)``
``<p>versions``     one version per item, keyed by entity and item id
``<p>knowledge``    per origin, the newest held timestamp (the knowledge)
``<p>clock``        the provider's clock, and the write lease without
                    transactions
``<p>conflicts``    conflict logs; indexed by status, type and creation time
``<p>sessions``     sync sessions; indexed by start time
``<p>journal``      pending write sets, only without transactions
==================  ===========================================================
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from bson import ObjectId
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from maestro_core import (
    ConflictLog,
    ConflictStatus,
    ConflictType,
    DataStore,
    InvalidItemError,
    ItemChange,
    ItemVersion,
    MaestroError,
    Operation,
    SyncSession,
    VectorClock,
    WallClock,
)
from maestro_core.store import ItemKey

from ._codec import document_to_item, id_candidates, item_to_document
from ._writes import Transaction, WriteSet, apply_writes

__all__ = ["CODEC_OPTIONS", "MongoDataStore", "WriteLeaseTimeoutError"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

CODEC_OPTIONS: CodecOptions[Any] = CodecOptions(
    tz_aware=True, tzinfo=dt.UTC, uuid_representation=UuidRepresentation.STANDARD
)
"""How the backend reads and writes BSON, whatever the client was given."""

_COLLECTIONS = (
    "changes",
    "items",
    "versions",
    "conflicts",
    "sessions",
    "knowledge",
    "clock",
)
_CLOCK_ID = "clock"
_UNCHECKED = object()
_TRANSACTION_ATTEMPTS = 5


class WriteLeaseTimeoutError(MaestroError, TimeoutError):
    """Another writer held the store's write lease for too long."""


def _micros(value: dt.datetime) -> int:
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _version_id(entity_name: str, item_id: str) -> str:
    return json.dumps([entity_name, item_id], separators=(",", ":"))


def _same_id(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def supports_transactions(database: Database[Any]) -> bool:
    """Whether the deployment behind *database* runs multi-document transactions.

    Replica sets and sharded clusters do; a standalone server and mongomock
    do not (or cannot say).
    """
    try:
        hello = database.client.admin.command("hello")
    except (PyMongoError, NotImplementedError, AttributeError):
        return False
    return bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"


class MongoDataStore(DataStore):
    """A provider's data in one MongoDB database.

    *transactions* chooses how writes commit: ``True`` runs each Maestro
    transaction as a MongoDB multi-document transaction, ``False`` uses the
    journal of :mod:`maestro_mongo._writes`, ``None`` (the default) asks the
    server whether it can run transactions. *write_lease_seconds* bounds how
    long a crashed writer can hold up others when there are no transactions.
    """

    def __init__(
        self,
        database: Database[Any],
        provider_id: str = "mongo",
        *,
        collection_prefix: str = "maestro_",
        transactions: bool | None = None,
        wall_clock: WallClock | None = None,
        write_lease_seconds: float = 30.0,
    ):
        super().__init__(provider_id, wall_clock=wall_clock)
        if not isinstance(collection_prefix, str) or not collection_prefix:
            raise ValueError(
                f"collection prefix {collection_prefix!r} is not valid; expected a "
                "non-empty string such as 'maestro_'"
            )
        self.database = database.with_options(codec_options=CODEC_OPTIONS)
        self.collection_prefix = collection_prefix
        self.transactional = (
            supports_transactions(database) if transactions is None else transactions
        )
        self.write_lease_seconds = write_lease_seconds
        self._names = {c: f"{collection_prefix}{c}" for c in _COLLECTIONS}
        self._journal_name = f"{collection_prefix}journal"
        self._mutex = threading.RLock()
        self._local = threading.local()
        self._lease_owner = f"{provider_id}:{uuid.uuid4()}"
        self.ensure_indexes()
        if not self.transactional:
            self.run_in_transaction(lambda: None)  # completes a crashed journal
        logger.debug(
            "%s opened database %r (%s)",
            provider_id,
            self.database.name,
            "transactions" if self.transactional else "journal, no transactions",
        )

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} provider_id={self.provider_id!r} "
            f"database={self.database.name!r}>"
        )

    def collection_name(self, record: str) -> str:
        """The name of Maestro's collection for *record* (``"changes"``, ...)."""
        return self._names[record]

    def ensure_indexes(self) -> None:
        """Create the indexes Maestro's queries rely on (idempotent)."""
        db, n = self.database, self._names
        db[n["changes"]].create_index(
            [("origin", ASCENDING), ("timestamp", ASCENDING)], unique=True
        )
        db[n["versions"]].create_index(
            [("entity_name", ASCENDING), ("item_id", ASCENDING)], unique=True
        )
        db[n["conflicts"]].create_index(
            [
                ("status", ASCENDING),
                ("conflict_type", ASCENDING),
                ("created_us", ASCENDING),
            ]
        )
        db[n["conflicts"]].create_index([("created_us", ASCENDING)])
        db[n["sessions"]].create_index([("started_us", DESCENDING)])

    # -- transactions ---------------------------------------------------------

    def _txn(self) -> Transaction | None:
        txn: Transaction | None = getattr(self._local, "txn", None)
        return txn

    def _session(self) -> Any:
        txn = self._txn()
        return None if txn is None else txn.session

    def run_in_transaction(self, fn: Callable[[], T]) -> T:
        if self._txn() is not None:
            return fn()
        with self._mutex:
            if self.transactional:
                return self._run_in_session(fn)
            return self._run_with_journal(fn)

    def _run_in_session(self, fn: Callable[[], T]) -> T:
        with self.database.client.start_session() as session:
            session.start_transaction()
            self._local.txn = Transaction(session=session, write_set=None)
            try:
                result = fn()
            except BaseException:
                self._local.txn = None
                if session.in_transaction:
                    try:
                        session.abort_transaction()
                    except PyMongoError:
                        logger.debug("abort failed", exc_info=True)
                raise
            self._local.txn = None
            for attempt in range(_TRANSACTION_ATTEMPTS):
                try:
                    session.commit_transaction()
                    break
                except PyMongoError as error:
                    if attempt + 1 < _TRANSACTION_ATTEMPTS and error.has_error_label(
                        "UnknownTransactionCommitResult"
                    ):
                        continue
                    raise
            return result

    def _run_with_journal(self, fn: Callable[[], T]) -> T:
        clock = self._take_write_lease()
        try:
            self._complete_journal()
            txn = Transaction(session=None, write_set=WriteSet(), clock=clock)
            self._local.txn = txn
            try:
                result = fn()
            finally:
                self._local.txn = None
            assert txn.write_set is not None
            self._commit_write_set(txn.write_set)
            return result
        finally:
            self._release_write_lease()

    def _take_write_lease(self) -> int:
        """Hold the clock document for this writer; return the clock's value."""
        clock = self.database[self._names["clock"]]
        give_up = time.monotonic() + 2 * self.write_lease_seconds + 1
        pause = 0.002
        while True:
            now = dt.datetime.now(dt.UTC)
            try:
                document = clock.find_one_and_update(
                    {
                        "_id": _CLOCK_ID,
                        "$or": [
                            {"holder": None},
                            {"holder": self._lease_owner},
                            {"expires": {"$lt": now}},
                        ],
                    },
                    {
                        "$set": {
                            "holder": self._lease_owner,
                            "expires": now
                            + dt.timedelta(seconds=self.write_lease_seconds),
                        }
                    },
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                if time.monotonic() > give_up:
                    raise WriteLeaseTimeoutError(
                        f"the write lease of provider {self.provider_id!r} in "
                        f"database {self.database.name!r} stayed taken for "
                        f"{2 * self.write_lease_seconds + 1:.0f} s; expected its "
                        f"holder to finish or its {self.write_lease_seconds} s "
                        "lease to run out"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
                continue
            return int(document.get("value", 0))

    def _release_write_lease(self) -> None:
        self.database[self._names["clock"]].update_one(
            {"_id": _CLOCK_ID, "holder": self._lease_owner},
            {"$set": {"holder": None, "expires": None}},
        )

    def _commit_write_set(self, write_set: WriteSet) -> None:
        n = self._names
        writes = write_set.ordered(
            [n[c] for c in ("changes", "items", "versions", "conflicts", "sessions")]
            + [n["knowledge"], n["clock"]]
        )
        if not writes:
            return
        journal = self.database[self._journal_name]
        entry_id = ObjectId()
        journal.insert_one({"_id": entry_id, "writes": writes})
        apply_writes(self.database, writes)
        journal.delete_one({"_id": entry_id})

    def _complete_journal(self) -> None:
        """Apply again the write sets a crashed writer left behind."""
        journal = self.database[self._journal_name]
        for entry in journal.find().sort("_id", ASCENDING):
            logger.warning(
                "%s: completing a write set interrupted at %s (%d writes)",
                self.provider_id,
                entry["_id"].generation_time.isoformat(),
                len(entry["writes"]),
            )
            apply_writes(self.database, entry["writes"])
            journal.delete_one({"_id": entry["_id"]})

    # -- writes and reads through the open transaction ----------------------

    def _replace(self, collection: str, document: dict[str, Any]) -> None:
        txn = self._txn()
        if txn is not None and txn.write_set is not None:
            txn.write_set.replace(collection, document)
            return
        self.database[collection].replace_one(
            {"_id": document["_id"]}, document, upsert=True, session=self._session()
        )

    def _delete(self, collection: str, doc_id: Any) -> None:
        txn = self._txn()
        if txn is not None and txn.write_set is not None:
            txn.write_set.delete(collection, doc_id)
            return
        self.database[collection].delete_one({"_id": doc_id}, session=self._session())

    def _raise_max(self, collection: str, doc_id: Any, name: str, value: int) -> None:
        txn = self._txn()
        if txn is not None and txn.write_set is not None:
            txn.write_set.raise_max(collection, doc_id, name, value)
            return
        self.database[collection].update_one(
            {"_id": doc_id},
            {"$max": {name: value}},
            upsert=True,
            session=self._session(),
        )

    def _held(self) -> WriteSet | None:
        txn = self._txn()
        return None if txn is None else txn.write_set

    def _find_by_ids(self, collection: str, ids: Iterable[Any]) -> dict[Any, Any]:
        """Documents of *collection* by ``_id``, with this transaction's writes."""
        ids = list(ids)
        if not ids:
            return {}
        found = {
            d["_id"]: d
            for d in self.database[collection].find(
                {"_id": {"$in": ids}}, session=self._session()
            )
        }
        held = self._held()
        if held is not None:
            for doc_id, document in held.documents(collection).items():
                if any(_same_id(doc_id, i) for i in ids):
                    found[doc_id] = document
        return {k: v for k, v in found.items() if v is not None}

    def _find(
        self, collection: str, query: dict[str, Any], keep: Callable[[Any], bool]
    ) -> list[dict[str, Any]]:
        """Documents matching *query* (and *keep*), with this transaction's writes."""
        found = {
            d["_id"]: d
            for d in self.database[collection].find(query, session=self._session())
        }
        held = self._held()
        if held is not None:
            for doc_id, document in held.documents(collection).items():
                found[doc_id] = document
        return [d for d in found.values() if d is not None and keep(d)]

    # -- the clock ------------------------------------------------------------

    def read_clock_for_update(self) -> int:
        txn = self._txn()
        if txn is None:
            raise RuntimeError(
                f"provider {self.provider_id!r} read its clock for update outside "
                "a transaction; expected a call inside run_in_transaction"
            )
        if txn.clock is None:
            # Writing the clock document is what locks it: a concurrent
            # transaction that touches it fails with a write conflict.
            document = self.database[self._names["clock"]].find_one_and_update(
                {"_id": _CLOCK_ID},
                {"$inc": {"writes": 1}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
                session=txn.session,
            )
            txn.clock = int(document.get("value", 0))
        return txn.clock

    def write_clock(self, value: int) -> None:
        txn = self._txn()
        if txn is not None:
            txn.clock = value
        self._raise_max(self._names["clock"], _CLOCK_ID, "value", value)

    # -- knowledge and changes ------------------------------------------------

    def get_knowledge(self) -> VectorClock:
        name = self._names["knowledge"]
        entries = {
            d["_id"]: int(d["timestamp"])
            for d in self.database[name].find(session=self._session())
        }
        held = self._held()
        if held is not None:
            for origin, value in held.maxima(name).items():
                entries[origin] = max(value, entries.get(origin, 0))
        return VectorClock(entries)

    def select_changes(
        self, origin: str, after: int, limit: int
    ) -> Sequence[ItemChange]:
        cursor = (
            self.database[self._names["changes"]]
            .find(
                {"origin": origin, "timestamp": {"$gt": after}},
                session=self._session(),
            )
            .sort("timestamp", ASCENDING)
            .limit(limit)
        )
        return [_change_from_document(d) for d in cursor]

    def count_changes(self, origin: str, after: int) -> int:
        return self.database[self._names["changes"]].count_documents(
            {"origin": origin, "timestamp": {"$gt": after}}, session=self._session()
        )

    def get_changes(self, change_ids: Iterable[str]) -> dict[str, ItemChange]:
        found = self._find_by_ids(self._names["changes"], change_ids)
        return {k: _change_from_document(d) for k, d in found.items()}

    def save_change(self, change: ItemChange) -> None:
        self._replace(self._names["changes"], _change_to_document(change))
        self._raise_max(
            self._names["knowledge"], change.origin, "timestamp", change.timestamp
        )

    # -- versions and items -------------------------------------------------

    def get_item_versions(self, keys: Iterable[ItemKey]) -> dict[ItemKey, ItemVersion]:
        ids = [_version_id(*key) for key in keys]
        found = self._find_by_ids(self._names["versions"], ids)
        versions = (_version_from_document(d) for d in found.values())
        return {v.key: v for v in versions}

    def save_item_version(self, version: ItemVersion) -> None:
        document = version.to_dict()
        document["_id"] = _version_id(version.entity_name, version.item_id)
        document["vector"] = sorted(version.vector.items())
        self._replace(self._names["versions"], document)

    def _check_entity(self, entity_name: str, item_id: str) -> None:
        if (
            entity_name.startswith(self.collection_prefix)
            or entity_name.startswith("system.")
            or "$" in entity_name
            or "\x00" in entity_name
        ):
            raise InvalidItemError(
                f"entity name {entity_name!r} cannot name a collection of user "
                f"items; expected a MongoDB collection name without '$' that does "
                f"not start with 'system.' or Maestro's prefix "
                f"{self.collection_prefix!r}",
                item_id=item_id,
                key="entity_name",
            )

    def validate_item(
        self,
        operation: Operation,
        entity_name: str,
        item_id: str,
        item: Mapping[str, Any],
    ) -> None:
        """Check ``collection_name`` and that MongoDB can store every value."""
        expected = getattr(self._local, "collection_name", _UNCHECKED)
        if expected is not _UNCHECKED:
            if expected is _MISSING:
                raise InvalidItemError(
                    f"item {item_id!r} has no 'collection_name' field; expected "
                    f"the name of the collection it is stored in, {entity_name!r}",
                    item_id=item_id,
                    key="collection_name",
                )
            if expected != entity_name:
                raise InvalidItemError(
                    f"item {item_id!r} has 'collection_name' {expected!r}; expected "
                    f"the collection it is stored in, which is the entity name "
                    f"{entity_name!r}",
                    item_id=item_id,
                    key="collection_name",
                )
        self._check_entity(entity_name, item_id)
        self._local.prepared = (item, item_to_document(item, item_id))

    def commit_item_change(
        self,
        operation: Operation | str,
        entity_name: str,
        item_id: str,
        item: Mapping[str, Any],
        execute_operation: bool = True,
    ) -> ItemChange:
        """Record (and by default write) a change of a document in *entity_name*.

        Beyond the core's checks, *item* must carry ``collection_name`` equal
        to *entity_name*: the collection the document is stored in. That field
        is routing information: it is neither stored in the document nor
        carried to other providers.
        """
        expected: Any = _MISSING
        if isinstance(item, Mapping):
            expected = item.get("collection_name", _MISSING)
            item = {k: v for k, v in item.items() if k != "collection_name"}
        nested = self._txn() is not None
        self._local.collection_name = expected
        try:
            for attempt in range(_TRANSACTION_ATTEMPTS):
                try:
                    return super().commit_item_change(
                        operation, entity_name, item_id, item, execute_operation
                    )
                except PyMongoError as error:
                    # A concurrent writer in another process touched the
                    # clock first; the whole commit can safely run again.
                    if (
                        nested
                        or attempt + 1 == _TRANSACTION_ATTEMPTS
                        or not error.has_error_label("TransientTransactionError")
                    ):
                        raise
                    time.sleep(0.005 * (attempt + 1))
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            del self._local.collection_name
            self._local.prepared = None

    def execute_item_change(
        self,
        operation: Operation,
        entity_name: str,
        item_id: str,
        item: Mapping[str, Any],
    ) -> None:
        self._check_entity(entity_name, item_id)
        candidates = id_candidates(item_id)
        if operation is Operation.DELETE:
            for candidate in candidates:
                self._delete(entity_name, candidate)
            return
        prepared = getattr(self._local, "prepared", None)
        if prepared is not None and prepared[0] is item:
            document = prepared[1]
        else:
            document = item_to_document(item, item_id)
        if str(document["_id"]) != item_id:
            raise InvalidItemError(
                f"item {item_id!r} has 'id' {item.get('id')!r}; expected its "
                "string form to equal item_id",
                item_id=item_id,
                key="id",
            )
        self._replace(entity_name, document)
        for candidate in candidates:
            # the same item stored earlier under an _id of another type
            if not _same_id(candidate, document["_id"]):
                self._delete(entity_name, candidate)

    def get_item(self, entity_name: str, item_id: str) -> dict[str, Any] | None:
        found = self._find_by_ids(entity_name, id_candidates(item_id))
        if not found:
            return None
        return document_to_item(next(iter(found.values())))

    # -- conflicts and sessions ----------------------------------------------

    def save_conflict_log(self, log: ConflictLog) -> None:
        document = log.to_dict()
        document["_id"] = document.pop("id")
        document["created_us"] = _micros(log.created_at)
        self._replace(self._names["conflicts"], document)

    def get_conflict_logs(
        self,
        *,
        status: ConflictStatus | None = None,
        conflict_type: ConflictType | None = None,
    ) -> list[ConflictLog]:
        query: dict[str, Any] = {}
        if status is not None:
            query["status"] = status.value
        if conflict_type is not None:
            query["conflict_type"] = conflict_type.value

        def keep(document: dict[str, Any]) -> bool:
            return all(document.get(k) == v for k, v in query.items())

        found = self._find(self._names["conflicts"], query, keep)
        found.sort(key=lambda d: (d["created_us"], d["_id"]))
        return [_conflict_from_document(d) for d in found]

    def get_conflict_log(self, conflict_id: str) -> ConflictLog | None:
        found = self._find_by_ids(self._names["conflicts"], [conflict_id])
        document = found.get(conflict_id)
        return None if document is None else _conflict_from_document(document)

    def save_session(self, session: SyncSession) -> None:
        document = session.to_dict()
        document["_id"] = document.pop("id")
        document["started_us"] = _micros(session.started_at)
        self._replace(self._names["sessions"], document)

    def get_sessions(self, *, limit: int = 100) -> list[SyncSession]:
        cursor = (
            self.database[self._names["sessions"]]
            .find(session=self._session())
            .sort([("started_us", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [_session_from_document(d) for d in cursor]


_MISSING = object()


def _change_to_document(change: ItemChange) -> dict[str, Any]:
    return {
        "_id": change.id,
        "origin": change.origin,
        "timestamp": change.timestamp,
        "entity_name": change.entity_name,
        "item_id": change.item_id,
        "operation": change.operation.value,
        # canonical items keep '$' keys, which are not stored field names
        "item": json.dumps(change.item, separators=(",", ":")),
        "vector": sorted(change.vector.items()),
        "parent_id": change.parent_id,
    }


def _change_from_document(document: Mapping[str, Any]) -> ItemChange:
    return ItemChange(
        id=document["_id"],
        operation=document["operation"],
        entity_name=document["entity_name"],
        item_id=document["item_id"],
        item=json.loads(document["item"]),
        origin=document["origin"],
        timestamp=int(document["timestamp"]),
        vector={origin: int(ts) for origin, ts in document["vector"]},
        parent_id=document.get("parent_id"),
    )


def _version_from_document(document: Mapping[str, Any]) -> ItemVersion:
    return ItemVersion(
        entity_name=document["entity_name"],
        item_id=document["item_id"],
        change_id=document["change_id"],
        operation=document["operation"],
        vector={origin: int(ts) for origin, ts in document["vector"]},
        heads=document["heads"],
    )


def _conflict_from_document(document: Mapping[str, Any]) -> ConflictLog:
    values = {k: v for k, v in document.items() if k not in ("_id", "created_us")}
    return ConflictLog.from_dict({"id": document["_id"], **values})


def _session_from_document(document: Mapping[str, Any]) -> SyncSession:
    values = {k: v for k, v in document.items() if k not in ("_id", "started_us")}
    return SyncSession.from_dict({"id": document["_id"], **values})
