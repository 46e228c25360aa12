"""How a store's writes reach MongoDB: in a transaction, or through a journal.

On a replica set or sharded cluster every write runs in the client session
of the open transaction. On a server without transactions (a standalone
``mongod``, mongomock) writes are held back in a :class:`WriteSet` until the
transaction's function returns, then made durable in three steps:

1. the whole write set is inserted as one journal document (a single-document
   insert is atomic on every MongoDB deployment);
2. each write is applied; every write is idempotent (a replace, a delete or a
   ``$max``), so applying it again is harmless;
3. the journal document is deleted.

A crash before step 1 leaves nothing; after it, the journal is applied again
(rolled forward, never back) before the next transaction begins and when a
store opens. Writers take a lease on the clock document first, so the
journal of a crashed writer is always completed before anyone writes over it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from attrs import define, field
from pymongo.client_session import ClientSession
from pymongo.database import Database

__all__ = ["Transaction", "WriteSet", "apply_writes"]

Key = tuple[str, Any]
"""``(collection name, _id)``."""

_REPLACE, _DELETE, _MAX = "replace", "delete", "max"


@define
class WriteSet:
    """Writes held back until the transaction ends, newest per document."""

    writes: dict[Key, dict[str, Any]] = field(factory=dict)

    def replace(self, collection: str, document: dict[str, Any]) -> None:
        self.writes[(collection, document["_id"])] = {
            "op": _REPLACE,
            "coll": collection,
            "doc": document,
        }

    def delete(self, collection: str, doc_id: Any) -> None:
        self.writes[(collection, doc_id)] = {
            "op": _DELETE,
            "coll": collection,
            "id": doc_id,
        }

    def raise_max(self, collection: str, doc_id: Any, name: str, value: int) -> None:
        held = self.writes.get((collection, doc_id))
        if held is not None and held["value"] >= value:
            return
        self.writes[(collection, doc_id)] = {
            "op": _MAX,
            "coll": collection,
            "id": doc_id,
            "field": name,
            "value": value,
        }

    def get(self, collection: str, doc_id: Any) -> dict[str, Any] | None:
        """The held write of one document, if any."""
        return self.writes.get((collection, doc_id))

    def documents(self, collection: str) -> dict[Any, dict[str, Any] | None]:
        """Held replaces and deletes of *collection*: ``_id`` to document or None."""
        return {
            doc_id: write.get("doc")
            for (name, doc_id), write in self.writes.items()
            if name == collection and write["op"] != _MAX
        }

    def maxima(self, collection: str) -> dict[Any, int]:
        return {
            doc_id: write["value"]
            for (name, doc_id), write in self.writes.items()
            if name == collection and write["op"] == _MAX
        }

    def ordered(self, collection_order: list[str]) -> list[dict[str, Any]]:
        """The writes, collections in *collection_order* (others last)."""
        rank = {name: n for n, name in enumerate(collection_order)}
        return sorted(
            self.writes.values(), key=lambda w: rank.get(w["coll"], len(rank))
        )


@define
class Transaction:
    """The transaction a thread has open on a store."""

    session: ClientSession | None
    write_set: WriteSet | None
    clock: int | None = None


def apply_writes(
    database: Database[Any],
    writes: Iterable[dict[str, Any]],
    session: ClientSession | None = None,
) -> None:
    """Apply journaled writes; each is idempotent, so replaying is safe."""
    for write in writes:
        collection = database[write["coll"]]
        op = write["op"]
        if op == _REPLACE:
            document = write["doc"]
            collection.replace_one(
                {"_id": document["_id"]}, document, upsert=True, session=session
            )
        elif op == _DELETE:
            collection.delete_one({"_id": write["id"]}, session=session)
        elif op == _MAX:
            collection.update_one(
                {"_id": write["id"]},
                {"$max": {write["field"]: write["value"]}},
                upsert=True,
                session=session,
            )
        else:  # pragma: no cover - journals are written by apply's counterpart
            raise ValueError(
                f"journal write {write!r} has op {op!r}; expected replace, "
                "delete or max"
            )
