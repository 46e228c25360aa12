"""How a store's writes reach MongoDB: held back, then sent together.

Every write a transaction makes is held in a :class:`WriteSet` until the
transaction's function returns; reads made meanwhile see the held writes.
Then the whole set goes to the server in as few round trips as it allows (one
``bulkWrite`` across collections on MongoDB 8.0 and later, else one
``bulk_write`` per run of writes to the same collection):

* With transactions (replica sets, sharded clusters) the writes are sent in
  the transaction's client session, and the transaction commits.
* Without them (a standalone ``mongod``, mongomock) the set is first inserted
  as one journal document, which a single-document insert makes atomic on
  every deployment; then it is applied; then the journal document is deleted.
  Every write is idempotent (a replace, a delete or a ``$max``), so a journal
  left by a crash is applied again, whole, before anyone writes next: the
  store rolls forward, never back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from attrs import define, field
from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateOne
from pymongo.client_session import ClientSession

from ._codec import id_key

__all__ = ["Transaction", "Write", "WriteSet", "write_groups"]

Write = dict[str, Any]
"""One held write, as a BSON-ready document (also what the journal stores).

``{"op": "replace" | "insert" | "overwrite", "coll": name, "doc": {...}}``
(an upsert, an insert, a replace of a document that exists),
``{"op": "delete", "coll": name, "id": _id}`` or
``{"op": "max", "coll": name, "id": _id, "fields": {path: value}}``.
"""

_REPLACE, _INSERT, _OVERWRITE = "replace", "insert", "overwrite"
_DELETE, _MAX = "delete", "max"
_RANK = {_DELETE: 0, _INSERT: 1, _OVERWRITE: 2, _REPLACE: 3, _MAX: 4}
"""The order of the kinds of write to one collection (see ``WriteSet.ordered``)."""


@define
class WriteSet:
    """The writes of one transaction, the newest per document, in first-write order.

    *last* names documents whose writes go after all others (the provider's
    state document, which holds the knowledge: readers outside the
    transaction must never see knowledge of a change before the change).
    """

    last: frozenset[tuple[str, Any]] = frozenset()
    writes: dict[tuple[str, Any], Write] = field(factory=dict)

    def __len__(self) -> int:
        return len(self.writes)

    def replace(
        self, collection: str, document: dict[str, Any], *, new: bool = False
    ) -> None:
        """Hold the write of a whole document.

        *new* says the document cannot exist yet, so a plain insert writes it,
        which costs the server less than an upsert. A document held for
        insert and replaced again in the transaction stays an insert. Only
        for transactions: a journal replays its writes, and an insert does
        not replay.
        """
        key = (collection, id_key(document["_id"]))
        held = self.writes.get(key)
        if held is not None and held["op"] == _INSERT:
            new = True
        op = _INSERT if new else _REPLACE
        self.writes[key] = {"op": op, "coll": collection, "doc": document}

    def delete(self, collection: str, doc_id: Any) -> None:
        key = (collection, id_key(doc_id))
        self.writes[key] = {"op": _DELETE, "coll": collection, "id": doc_id}

    def raise_max(
        self,
        collection: str,
        doc_id: Any,
        path: str,
        value: int,
        *,
        expect: dict[str, Any] | None = None,
    ) -> None:
        """Hold ``$max`` of *value* on field *path* of one document.

        With *expect*, the write applies only while those fields still hold
        those values; otherwise it fails (as a duplicate ``_id``) and so does
        the transaction.
        """
        key = (collection, id_key(doc_id))
        held = self.writes.get(key)
        if held is None:
            held = self.writes[key] = {
                "op": _MAX,
                "coll": collection,
                "id": doc_id,
                "fields": {},
            }
        if expect:
            held["expect"] = expect
        if held["op"] != _MAX:
            raise ValueError(
                f"document {doc_id!r} of {collection!r} was replaced or deleted in "
                "this transaction; expected only $max writes to it"
            )
        fields = held["fields"]
        if fields.get(path, value - 1) < value:
            fields[path] = value

    def held(self, collection: str, doc_id: Any) -> Write | None:
        """The held write of one document, if any."""
        return self.writes.get((collection, id_key(doc_id)))

    def documents(self, collection: str) -> Iterator[tuple[Any, Write]]:
        """``(id key, write)`` of the held replaces and deletes of *collection*."""
        for (name, key), write in self.writes.items():
            if name == collection and write["op"] != _MAX:
                yield key, write

    def ordered(self) -> list[Write]:
        """The writes to send: by collection, in the order each collection was
        first written, and the *last* documents at the end.

        A document is written once, so the order within a collection does not
        change the outcome. Within a collection the deletes go first (which
        also frees any unique value they held), then the writes of each kind
        together: an ordered bulk write sends one command per run of writes
        of one kind, so a batch that inserts items and deletes their ids of
        another type sends two commands, not one per write.
        """
        by_collection: dict[str, list[Write]] = {}
        final = []
        for key, write in self.writes.items():
            if key in self.last:
                final.append(write)
            else:
                by_collection.setdefault(key[0], []).append(write)
        return [
            w
            for run in by_collection.values()
            for w in sorted(run, key=lambda w: _RANK[w["op"]])
        ] + final


@define
class Transaction:
    """The transaction a thread has open on a store."""

    session: ClientSession | None
    writes: WriteSet
    clock: int | None = None
    expected_clock: int | None = None
    """The clock value the state write is conditional on, when not read."""
    prefetched: dict[Any, dict[str, Any] | None] = field(factory=dict)
    """State and version documents already read, by id key (None: absent)."""
    absent: set[Any] = field(factory=set)
    """Id keys of versions known not to exist when the transaction began."""


def _operation(write: Write, where: dict[str, Any]) -> Any:
    op = write["op"]
    if op == _REPLACE:
        document = write["doc"]
        return ReplaceOne({"_id": document["_id"]}, document, upsert=True, **where)
    if op == _INSERT:
        return InsertOne(write["doc"], **where)
    if op == _OVERWRITE:
        document = write["doc"]
        return ReplaceOne({"_id": document["_id"]}, document, **where)
    if op == _MAX:
        where_ = {"_id": write["id"], **write.get("expect", {})}
        return UpdateOne(where_, {"$max": write["fields"]}, upsert=True, **where)
    raise ValueError(
        f"write {write!r} has op {op!r}; expected 'replace', 'delete' or 'max'"
    )


def write_groups(
    writes: Iterable[Write], database_name: str | None = None
) -> list[tuple[str, list[Any]]]:
    """Runs of consecutive writes to one collection, as pymongo operations.

    Consecutive deletes in a run become one ``DeleteMany`` of their ids. With
    *database_name*, each operation names its namespace, as
    ``MongoClient.bulk_write`` needs.
    """
    groups: list[tuple[str, list[Any]]] = []
    deletes: list[Any] = []

    def where() -> dict[str, Any]:
        if database_name is None:
            return {}
        return {"namespace": f"{database_name}.{groups[-1][0]}"}

    def flush_deletes() -> None:
        if deletes:
            if len(deletes) == 1:
                op: Any = DeleteOne({"_id": deletes[0]}, **where())
            else:
                op = DeleteMany({"_id": {"$in": list(deletes)}}, **where())
            groups[-1][1].append(op)
            deletes.clear()

    for write in writes:
        if not groups or groups[-1][0] != write["coll"]:
            flush_deletes()
            groups.append((write["coll"], []))
        if write["op"] == _DELETE:
            deletes.append(write["id"])
            continue
        flush_deletes()
        groups[-1][1].append(_operation(write, where()))
    flush_deletes()
    return groups
