"""The MongoDB data store: user documents plus Maestro's own collections.

User items live in the collection named after their entity. Maestro's
records live beside them, in collections whose names start with a prefix
(``maestro_`` by default):

==================  ===========================================================
``<p>changes``      every held change; unique index on ``(origin, timestamp)``
``<p>versions``     one version per item, keyed by ``[entity, item id]``, and
                    the provider's state document ``"clock"``: the clock,
                    the knowledge, and the write lease without transactions
``<p>conflicts``    conflict logs; indexed by status, type and creation time
``<p>sessions``     sync sessions; indexed by start time
``<p>journal``      pending write sets, only without transactions
``<p>locks``        sync lock leases (:class:`~maestro_mongo.MongoSyncLock`)
==================  ===========================================================

The state document sits among the versions so that a local change reads the
clock and the item's version in one query.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import (
    BulkWriteError,
    InvalidOperation,
    OperationFailure,
    PyMongoError,
)

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

from ._codec import (
    document_to_item,
    id_candidates,
    id_key,
    id_text,
    item_to_document,
    python_item,
)
from ._journal import STATE_ID, JournaledWrites
from ._records import (
    change_from_document,
    change_to_document,
    conflict_from_document,
    knowledge_field,
    origin_of_field,
    session_from_document,
    version_from_document,
    version_id,
    version_to_document,
)
from ._server import hello, is_transient, runs_transactions
from ._writes import Transaction, Write, WriteSet, write_groups

__all__ = ["CODEC_OPTIONS", "DEFAULT_PREFIX", "MongoDataStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

CODEC_OPTIONS: CodecOptions[Any] = CodecOptions(
    tz_aware=True, tzinfo=dt.UTC, uuid_representation=UuidRepresentation.STANDARD
)
"""How the backend reads and writes BSON, whatever the client was given."""

DEFAULT_PREFIX = "maestro_"
"""The prefix of Maestro's collections unless told otherwise."""


ATTEMPTS = 30
"""How often a local change is tried when other processes' writes conflict.

Attempts back off exponentially, with jitter, up to a tenth of a second.
"""

ONE_ROUND_TRIP_WRITES = 16
"""Up to how many writes go in one ``bulkWrite`` across collections.

Past that, one ``bulk_write`` per collection is cheaper: servers execute a
plain insert command faster per document than the cross-collection command
(SecantusDB about two and a half times), and the extra round trips matter
less the more documents a transaction writes.
"""

SETTLED_UPSERTS = 4
"""From how many upserts to one collection a transaction first asks which
documents exist (see ``MongoDataStore._settle_upserts``)."""


def _in_transaction(method: Callable[..., None]) -> Callable[..., None]:
    """Run a write method called outside a transaction in one of its own."""

    @functools.wraps(method)
    def write(self: MongoDataStore, *args: Any) -> None:
        if self._txn() is None:
            self.run_in_transaction(lambda: method(self, *args))
        else:
            method(self, *args)

    return write


def _operation(value: object) -> Operation | None:
    try:
        return Operation.coerce(value)
    except (ValueError, TypeError):
        return None  # refused by the core, with its message


def _check_prefix(prefix: object) -> str:
    if (
        not isinstance(prefix, str)
        or not prefix
        or "$" in prefix
        or "\x00" in prefix
        or prefix.startswith(("system.", "."))
    ):
        raise ValueError(
            f"collection prefix {prefix!r} is not valid; expected a non-empty "
            "string without '$' that does not start with 'system.', such as "
            f"{DEFAULT_PREFIX!r}"
        )
    return prefix


class MongoDataStore(JournaledWrites, DataStore):
    """A provider's data in one MongoDB database.

    *transactions* chooses how writes commit: ``True`` runs each Maestro
    transaction as a MongoDB multi-document transaction, ``False`` uses the
    journal of :mod:`maestro_mongo._journal`, ``None`` (the default) asks the
    server whether it can run transactions. Without transactions, writers
    take turns under a lease of *write_lease_seconds*, which bounds how long
    a crashed writer holds up the others. *close_client* makes :meth:`close`
    close the client too (for a client the store was built with, not given).
    """

    def __init__(
        self,
        database: Database[Any],
        provider_id: str = "mongo",
        *,
        collection_prefix: str = DEFAULT_PREFIX,
        transactions: bool | None = None,
        wall_clock: WallClock | None = None,
        write_lease_seconds: float = 30.0,
        close_client: bool = False,
    ):
        super().__init__(provider_id, wall_clock=wall_clock)
        if not isinstance(database, Database) and not hasattr(
            database, "get_collection"
        ):
            raise TypeError(
                f"database {database!r} is not a pymongo Database; expected "
                "client[database_name]"
            )
        if transactions not in (None, True, False):
            raise ValueError(
                f"transactions {transactions!r} is not valid; expected True, "
                "False or None (ask the server)"
            )
        self.collection_prefix = _check_prefix(collection_prefix)
        self.database = database
        self.client = database.client
        server = hello(database)
        self.transactional = (
            runs_transactions(server) if transactions is None else transactions
        )
        # One round trip for writes to several collections needs MongoDB 8.0.
        self._client_bulk = int(server.get("maxWireVersion", 0)) >= 25 and hasattr(
            self.client, "bulk_write"
        )
        self.write_lease_seconds = float(write_lease_seconds)
        self.close_client = close_client
        self._collections: dict[str, Collection[Any]] = {}
        self._spans: dict[str, int] = {}
        """Per origin, the span of timestamps the last full page covered."""
        p = collection_prefix
        self.changes_name = f"{p}changes"
        self.versions_name = f"{p}versions"
        self.conflicts_name = f"{p}conflicts"
        self.sessions_name = f"{p}sessions"
        self.journal_name = f"{p}journal"
        self._state_key = (self.versions_name, id_key(STATE_ID))
        self._logs = frozenset({self.conflicts_name, self.sessions_name})
        self._own_collections = frozenset(
            {self.changes_name, self.versions_name, *self._logs}
        )
        self._mutex = threading.RLock()
        self._local = threading.local()
        self._lease_owner = f"{provider_id}:{uuid.uuid4()}"
        self._known_clock: int | None = None
        """The clock as this store's last transaction left it (transactions)."""
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

    def collection(self, name: str) -> Collection[Any]:
        """Collection *name*, read and written with :data:`CODEC_OPTIONS`."""
        collection = self._collections.get(name)
        if collection is None:
            collection = self.database.get_collection(name, codec_options=CODEC_OPTIONS)
            self._collections[name] = collection
        return collection

    def ensure_indexes(self) -> None:
        """Create the indexes Maestro's queries rely on (idempotent)."""
        self.collection(self.changes_name).create_index(
            [("origin", ASCENDING), ("timestamp", ASCENDING)], unique=True
        )
        self.collection(self.conflicts_name).create_index(
            [
                ("status", ASCENDING),
                ("conflict_type", ASCENDING),
                ("created_us", ASCENDING),
            ]
        )
        self.collection(self.conflicts_name).create_index([("created_us", ASCENDING)])
        self.collection(self.sessions_name).create_index([("started_us", DESCENDING)])

    def close(self) -> None:
        if self.close_client:
            self.client.close()

    # -- transactions ---------------------------------------------------------

    def _txn(self) -> Transaction | None:
        txn: Transaction | None = getattr(self._local, "txn", None)
        return txn

    def _session(self) -> Any:
        txn = self._txn()
        return None if txn is None else txn.session

    def _new_writes(self) -> WriteSet:
        return WriteSet(last=frozenset({self._state_key}))

    def run_in_transaction(self, fn: Callable[[], T]) -> T:
        if self._txn() is not None:
            return fn()
        with self._mutex:
            if self.transactional:
                return self._run_in_session(fn)
            return self._run_with_journal(fn)

    def _run_in_session(self, fn: Callable[[], T]) -> T:
        with self.client.start_session() as session:
            session.start_transaction()
            txn = Transaction(session=session, writes=self._new_writes())
            # versions found missing just before this transaction began
            txn.absent = getattr(self._local, "absent", None) or set()
            self._local.absent = None
            self._local.txn = txn
            try:
                result = fn()
                self._send(self._settle_upserts(txn.writes.ordered(), session), session)
            except BaseException:
                self._local.txn = None
                self._known_clock = None
                if session.in_transaction:
                    try:
                        session.abort_transaction()
                    except PyMongoError:
                        logger.debug("abort failed", exc_info=True)
                raise
            self._local.txn = None
            self._known_clock = None
            for attempt in range(ATTEMPTS):
                try:
                    session.commit_transaction()
                    break
                except PyMongoError as error:
                    if attempt + 1 < ATTEMPTS and error.has_error_label(
                        "UnknownTransactionCommitResult"
                    ):
                        continue
                    raise
            self._known_clock = txn.clock
            return result

    def _settle_upserts(self, writes: list[Write], session: Any) -> list[Write]:
        """Turn the upserts of a large write set into inserts and replaces.

        A server may take several times longer to upsert a new document than
        to insert it. Where a transaction replaces many documents of one
        collection, one query in its snapshot tells which exist: the others
        are inserted, a held change already stored is left out (a change
        never changes), and the rest are replaced. Should another process
        write one of them meanwhile, the transaction fails with a write
        conflict or a duplicate key, and runs again.

        The same query asks for the documents the transaction deletes from
        that collection (such as an item's ids of other types), and the
        deletes of documents the snapshot does not hold are left out: they
        would delete nothing.
        """
        groups: dict[str, list[Write]] = {}
        deletes: dict[str, list[Write]] = {}
        for write in writes:
            if write["coll"] in self._logs:
                continue
            if write["op"] == "replace":
                groups.setdefault(write["coll"], []).append(write)
            elif write["op"] == "delete":
                deletes.setdefault(write["coll"], []).append(write)
        left_out: set[int] = set()
        for collection, group in groups.items():
            if len(group) < SETTLED_UPSERTS:
                continue
            removed = deletes.get(collection, [])
            ids = [w["doc"]["_id"] for w in group] + [w["id"] for w in removed]
            found = self.collection(collection).find(
                {"_id": {"$in": ids}}, {"_id": True}, session=session
            )
            stored = {id_key(document["_id"]) for document in found}
            for write in group:
                if id_key(write["doc"]["_id"]) not in stored:
                    write["op"] = "insert"
                elif collection == self.changes_name:
                    left_out.add(id(write))
                else:
                    write["op"] = "overwrite"
            left_out.update(id(w) for w in removed if id_key(w["id"]) not in stored)
        return [w for w in writes if id(w) not in left_out]

    def _send(self, writes: list[Write], session: Any = None) -> None:
        """Write *writes* in order: a few in one round trip, many per collection."""
        if not writes:
            return
        if self._client_bulk and len(writes) <= ONE_ROUND_TRIP_WRITES:
            groups = write_groups(writes, self.database.name)
            ops = [op for _, run in groups for op in run]
            try:
                self.client.bulk_write(ops, session=session, ordered=True)
                return
            except (InvalidOperation, NotImplementedError):
                self._client_bulk = False
            except OperationFailure as error:
                if error.code not in (59, 115):  # CommandNotFound, NotSupported
                    raise
                self._client_bulk = False
        for collection, run in write_groups(writes):
            self.collection(collection).bulk_write(run, ordered=True, session=session)

    def _writes(self) -> WriteSet:
        txn = self._txn()
        if txn is None:
            raise RuntimeError(
                f"provider {self.provider_id!r} was asked to write outside a "
                "transaction; expected the call inside run_in_transaction"
            )
        return txn.writes

    # -- reads, with the open transaction's writes --------------------------

    def _find_by_ids(self, collection: str, ids: Iterable[Any]) -> dict[Any, Any]:
        """Documents of *collection* by id key, with this transaction's writes."""
        wanted = {id_key(i): i for i in ids}
        if not wanted:
            return {}
        txn = self._txn()
        found: dict[Any, Any] = {}
        ask = dict(wanted)
        if txn is not None:
            for key in list(ask):
                write = txn.writes.held(collection, ask[key])
                if write is not None:
                    found[key] = write.get("doc")
                    del ask[key]
                elif collection == self.versions_name and key in txn.prefetched:
                    found[key] = txn.prefetched[key]
                    del ask[key]
        if ask:
            cursor = self.collection(collection).find(
                {"_id": {"$in": list(ask.values())}}, session=self._session()
            )
            for document in cursor:
                found[id_key(document["_id"])] = document
            if collection == self.versions_name and self.transactional:
                missing = {key for key in ask if key not in found}
                if txn is not None:
                    txn.absent |= missing
                else:
                    # a hint for the transaction this thread opens next (the
                    # engine reads a batch's versions just before applying
                    # it): if the hint is stale, the insert it leads to fails
                    # and the transaction runs again
                    self._local.absent = missing
        return {k: v for k, v in found.items() if v is not None}

    def _find(self, collection: str, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Documents matching an equality *query*, with this transaction's writes."""
        found = {
            id_key(d["_id"]): d
            for d in self.collection(collection).find(query, session=self._session())
        }
        txn = self._txn()
        if txn is not None:
            for key, write in txn.writes.documents(collection):
                document = write.get("doc")
                if document is not None and all(
                    document.get(k) == v for k, v in query.items()
                ):
                    found[key] = document
                else:
                    found.pop(key, None)
        return list(found.values())

    def _state(self) -> dict[str, Any]:
        """The state document as this transaction sees it (fields merged)."""
        txn = self._txn()
        key = id_key(STATE_ID)
        if txn is not None and key in txn.prefetched:
            document = dict(txn.prefetched[key] or {})
        else:
            stored = self.collection(self.versions_name).find_one(
                {"_id": STATE_ID}, session=self._session()
            )
            if txn is not None and self.transactional:
                # a transaction reads one snapshot: the state stays as read
                txn.prefetched[key] = stored
            document = dict(stored or {})
        knowledge = dict(document.get("knowledge") or {})
        held = txn.writes.held(self.versions_name, STATE_ID) if txn else None
        if held is not None:
            for path, value in held["fields"].items():
                if path == "value":
                    document["value"] = max(value, document.get("value", 0))
                else:
                    name = path.removeprefix("knowledge.")
                    knowledge[name] = max(value, knowledge.get(name, 0))
        document["knowledge"] = knowledge
        return document

    # -- the clock ------------------------------------------------------------

    def read_clock_for_update(self) -> int:
        txn = self._txn()
        if txn is None:
            raise RuntimeError(
                f"provider {self.provider_id!r} read its clock for update outside "
                "a transaction; expected a call inside run_in_transaction"
            )
        if txn.clock is not None:
            return txn.clock
        pending = getattr(self._local, "pending", None)
        known = self._known_clock
        if (
            known is not None
            and pending is not None
            and pending[2] is Operation.INSERT
            and not getattr(self._local, "read_first", False)
        ):
            # Inserting a new item: take the clock as this process last left
            # it, and the item as new (no version, no document), without a
            # read. The state write then applies only to that clock value,
            # and the version and document are inserted, so if a guess is
            # wrong (another process moved the clock, the item was stored
            # before), the transaction fails and runs again with reads.
            self._local.guessed = True
            txn.clock = txn.expected_clock = known
            version = id_key(version_id(*pending[:2]))
            txn.prefetched[version] = None
            txn.absent.add(version)
            return known
        # Snapshot isolation does the locking: of two transactions that read
        # the clock and then write it, the second to write fails with a write
        # conflict (and runs again), so timestamps follow commits. The
        # version of the item being committed comes in the same query.
        ids: list[Any] = [STATE_ID]
        if pending is not None:
            ids.append(version_id(*pending[:2]))
        ids = [i for i in ids if id_key(i) not in txn.prefetched]
        if ids:
            for doc_id in ids:
                txn.prefetched[id_key(doc_id)] = None
            cursor = self.collection(self.versions_name).find(
                {"_id": {"$in": ids}}, session=txn.session
            )
            for document in cursor:
                txn.prefetched[id_key(document["_id"])] = document
            txn.absent |= {k for k, v in txn.prefetched.items() if v is None}
        txn.clock = int(self._state().get("value", 0))
        return txn.clock

    def write_clock(self, value: int) -> None:
        txn = self._txn()
        expect = None
        if txn is not None:
            txn.clock = value
            if txn.expected_clock is not None:
                expect = {"value": txn.expected_clock}
        self._writes().raise_max(
            self.versions_name, STATE_ID, "value", value, expect=expect
        )

    # -- knowledge and changes ------------------------------------------------

    def get_knowledge(self) -> VectorClock:
        knowledge = self._state()["knowledge"]
        return VectorClock({origin_of_field(k): int(v) for k, v in knowledge.items()})

    def changes_cursor(
        self, origin: str, after: int, limit: int, upto: int | None = None
    ) -> Any:
        """The query behind :meth:`select_changes` (also for ``explain()``):
        changes of *origin* after *after*, up to *upto* when given."""
        bounds: dict[str, int] = {"$gt": after}
        if upto is not None:
            bounds["$lte"] = upto
        order = [("origin", ASCENDING), ("timestamp", ASCENDING)]
        return (
            self.collection(self.changes_name)
            .find({"origin": origin, "timestamp": bounds}, session=self._session())
            .sort(order)
            .limit(limit)
        )

    def select_changes(
        self, origin: str, after: int, limit: int
    ) -> Sequence[ItemChange]:
        """Up to *limit* changes of *origin* after *after*, oldest first.

        After the first page of an origin, the query asks for a window of
        timestamps half as wide again as the last full page covered, then
        for wider windows after it while it comes up short, up to the newest
        change held. A server whose planner sorts the whole index range
        before applying the limit (SecantusDB does) then reads about a
        page's worth of index keys, not the rest of the history. Timestamps
        follow commit order, so a change that commits during the selection
        comes after every change already visible: no window can pass over
        it.
        """
        span = self._spans.get(origin)
        found: list[dict[str, Any]] = []
        lower, newest = after, None
        while len(found) < limit:
            upper = None if span is None else lower + span
            if upper is not None and newest is not None and upper >= newest:
                upper = None  # the last window: whatever is left
            page = list(self.changes_cursor(origin, lower, limit - len(found), upper))
            found.extend(page)
            if span is None or upper is None or len(found) >= limit:
                break
            if newest is None:
                newest = self.get_knowledge().get(origin)
            if newest <= upper:
                break  # nothing is held beyond this window
            lower = upper
            span *= 4 if page else 64
        if len(found) >= 2 and len(found) >= limit:
            # the next window: half as wide again as this full page
            first, last = found[0]["timestamp"], found[-1]["timestamp"]
            self._spans[origin] = max(1, (int(last) - int(first)) * 3 // 2)
        return [change_from_document(d) for d in found]

    def count_changes(self, origin: str, after: int) -> int:
        return self.collection(self.changes_name).count_documents(
            {"origin": origin, "timestamp": {"$gt": after}}, session=self._session()
        )

    def get_changes(self, change_ids: Iterable[str]) -> dict[str, ItemChange]:
        found = self._find_by_ids(self.changes_name, change_ids)
        changes = (change_from_document(d) for d in found.values())
        return {c.id: c for c in changes}

    @_in_transaction
    def save_change(self, change: ItemChange) -> None:
        writes = self._writes()
        # A change this store has just made is new. A received one may be
        # held already (applying it again must change nothing), unless its
        # timestamp is above the knowledge of its origin: every held change
        # was counted in the knowledge in the transaction that stored it.
        new = self.transactional and (
            getattr(self._local, "making", False)
            or change.timestamp
            > int(self._state()["knowledge"].get(knowledge_field(change.origin), 0))
        )
        writes.replace(self.changes_name, change_to_document(change), new=new)
        writes.raise_max(
            self.versions_name,
            STATE_ID,
            f"knowledge.{knowledge_field(change.origin)}",
            change.timestamp,
        )

    # -- versions and items -------------------------------------------------

    def get_item_versions(self, keys: Iterable[ItemKey]) -> dict[ItemKey, ItemVersion]:
        ids = [version_id(*key) for key in keys]
        found = self._find_by_ids(self.versions_name, ids)
        versions = (version_from_document(d) for d in found.values())
        return {v.key: v for v in versions}

    @_in_transaction
    def save_item_version(self, version: ItemVersion) -> None:
        writes = self._writes()
        txn = self._txn()
        document = version_to_document(version)
        new = (
            self.transactional
            and txn is not None
            and id_key(document["_id"]) in txn.absent
            and writes.held(self.versions_name, document["_id"]) is None
        )
        writes.replace(self.versions_name, document, new=new)

    def _check_entity(self, entity_name: str, item_id: str) -> None:
        if (
            entity_name.startswith((self.collection_prefix, "system.", "."))
            or entity_name.endswith(".")
            or "$" in entity_name
            or "\x00" in entity_name
            or len(entity_name.encode()) > 200
        ):
            raise InvalidItemError(
                f"entity name {entity_name!r} cannot name a collection of user "
                "items; expected a MongoDB collection name of at most 200 bytes, "
                "without '$', not starting with 'system.', '.' or Maestro's "
                f"prefix {self.collection_prefix!r}",
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
        """Check that *entity_name* names a collection and MongoDB can store *item*."""
        self._check_entity(entity_name, item_id)
        document = item_to_document(item, item_id)
        if id_text(document["_id"]) != item_id:
            raise InvalidItemError(
                f"item {item_id!r} has 'id' {item.get('id')!r}; expected its "
                "string form to equal item_id",
                item_id=item_id,
                key="id",
            )
        self._local.prepared = (item, document)

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
        routes the item: it is neither stored in the document nor carried to
        other providers. Values may be of pymongo's types (``ObjectId``,
        ``Decimal128``, ``Binary``...) or the core's. A transaction that
        another process's write conflicts with runs again, whole.
        """
        if isinstance(item, Mapping):
            item = python_item(without_collection_name(entity_name, item_id, item))
        nested = self._txn() is not None
        if isinstance(entity_name, str) and isinstance(item_id, str):
            self._local.pending = (entity_name, item_id, _operation(operation))
        self._local.making = True
        try:
            return self._again_if_transient(
                nested,
                lambda: super(MongoDataStore, self).commit_item_change(
                    operation, entity_name, item_id, item, execute_operation
                ),
            )
        finally:
            self._local.pending = None
            self._local.prepared = None
            self._local.making = False
            self._local.read_first = False
            self._local.guessed = False

    def resolve_conflict(self, conflict_id: str, winner_change_id: str) -> ItemChange:
        nested = self._txn() is not None
        self._local.making = True
        try:
            return self._again_if_transient(
                nested,
                lambda: super(MongoDataStore, self).resolve_conflict(
                    conflict_id, winner_change_id
                ),
            )
        finally:
            self._local.making = False

    def _transient(self, error: BaseException) -> bool:
        """Whether running the transaction again may succeed.

        Besides write conflicts, an insert of a change or version that
        another process wrote first: the next attempt reads it.
        """
        if is_transient(error):
            return True
        if not isinstance(error, PyMongoError) or self._txn() is not None:
            return False
        text = str(error)
        if "E11000" not in text:
            return False
        if self.versions_name in text or self.changes_name in text:
            return True
        # the document was taken for new, and was not: once more, with reads
        return bool(getattr(self._local, "guessed", False)) and not getattr(
            self._local, "read_first", False
        )

    def _again_if_transient(self, nested: bool, fn: Callable[[], T]) -> T:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return fn()
            except (PyMongoError, BulkWriteError) as error:
                if nested or attempt == ATTEMPTS or not self._transient(error):
                    raise
                logger.debug(
                    "%s: another writer came first, or a document taken for new "
                    "existed (%s); attempt %d",
                    self.provider_id,
                    type(error).__name__,
                    attempt + 1,
                )
                self._local.read_first = True
                time.sleep(random.uniform(0, min(0.1, 0.001 * 2**attempt)))
        raise AssertionError("unreachable")  # pragma: no cover

    @_in_transaction
    def execute_item_change(
        self,
        operation: Operation,
        entity_name: str,
        item_id: str,
        item: Mapping[str, Any],
    ) -> None:
        self._check_entity(entity_name, item_id)
        writes = self._writes()
        candidates = id_candidates(item_id)
        if operation is Operation.DELETE:
            for candidate in candidates:
                writes.delete(entity_name, candidate)
            return
        prepared = getattr(self._local, "prepared", None)
        if prepared is not None and prepared[0] is item:
            document = prepared[1]
        else:
            document = item_to_document(item, item_id)
        if id_text(document["_id"]) != item_id:
            raise InvalidItemError(
                f"item {item_id!r} has 'id' {item.get('id')!r}; expected its "
                "string form to equal item_id",
                item_id=item_id,
                key="id",
            )
        txn = self._txn()
        writes.replace(
            entity_name,
            document,
            new=txn is not None and txn.expected_clock is not None,
        )
        stored = id_key(document["_id"])
        for candidate in candidates:
            # the same item stored earlier under an _id of another type
            if id_key(candidate) != stored:
                writes.delete(entity_name, candidate)

    def get_item(self, entity_name: str, item_id: str) -> dict[str, Any] | None:
        candidates = id_candidates(item_id)
        found = self._find_by_ids(entity_name, candidates)
        for candidate in candidates:
            document = found.get(id_key(candidate))
            if document is not None:
                return document_to_item(document)
        return None

    # -- conflicts and sessions ----------------------------------------------

    @_in_transaction
    def save_conflict_log(self, log: ConflictLog) -> None:
        document = log.to_dict()
        document["_id"] = document.pop("id")
        document["created_us"] = datetime_to_micros(log.created_at)
        self._writes().replace(self.conflicts_name, document)

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
        found = self._find(self.conflicts_name, query)
        found.sort(key=lambda d: (d["created_us"], d["_id"]))
        return [conflict_from_document(d) for d in found]

    def get_conflict_log(self, conflict_id: str) -> ConflictLog | None:
        found = self._find_by_ids(self.conflicts_name, [conflict_id])
        document = found.get(id_key(conflict_id))
        return None if document is None else conflict_from_document(document)

    @_in_transaction
    def save_session(self, session: SyncSession) -> None:
        document = session.to_dict()
        document["_id"] = document.pop("id")
        document["started_us"] = datetime_to_micros(session.started_at)
        self._writes().replace(self.sessions_name, document)

    def get_sessions(self, *, limit: int = 100) -> list[SyncSession]:
        cursor = (
            self.collection(self.sessions_name)
            .find(session=self._session())
            .sort([("started_us", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [session_from_document(d) for d in cursor]
