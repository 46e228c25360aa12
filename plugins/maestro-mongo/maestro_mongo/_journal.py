"""Writes without transactions: a lease for one writer, and a journal.

Writers take turns under a lease on the provider's state document. A
transaction's held writes are made durable in four steps: the lease is
renewed (a writer that lost it writes nothing); the whole write set is
inserted as one journal document, with the user's documents as they were
before; the writes are applied, the user's documents first; the journal
document is deleted. A crash leaves either nothing or a journal document,
which the next writer applies again, whole, before its own writes (each
write is idempotent). When the server refuses one of the user's documents
(a unique index, a validator), those documents are put back as they were and
the set is dropped: the transaction fails, and nothing of it remains. See
:mod:`maestro_mongo._writes` for the write set.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import pymongo.errors
from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from ._codec import id_key
from ._writes import Transaction, Write
from .exceptions import WriteLeaseLostError, WriteLeaseTimeoutError

if TYPE_CHECKING:
    import threading

    from pymongo.collection import Collection
    from pymongo.database import Database

    from ._writes import WriteSet

__all__ = ["JournaledWrites"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

STATE_ID = "clock"
"""The ``_id`` of the provider's state document in ``<prefix>versions``."""


class JournaledWrites:
    """The journal mode of :class:`~maestro_mongo.MongoDataStore`."""

    provider_id: str
    database: Database[Any]
    write_lease_seconds: float
    versions_name: str
    journal_name: str
    _lease_owner: str
    _local: threading.local
    _own_collections: frozenset[str]

    if TYPE_CHECKING:

        def collection(self, name: str) -> Collection[Any]: ...

        def _send(self, writes: list[Write], session: Any = None) -> None: ...

        def _new_writes(self) -> WriteSet: ...

    def _run_with_journal(self, fn: Callable[[], T]) -> T:
        clock = self._take_write_lease()
        try:
            self._complete_journal()
            txn = Transaction(session=None, writes=self._new_writes(), clock=clock)
            self._local.txn = txn
            try:
                result = fn()
            finally:
                self._local.txn = None
            self._commit_journal(txn.writes.ordered())
            return result
        finally:
            self._release_write_lease()

    def _take_write_lease(self) -> int:
        """Hold the state document for this writer; return the clock's value."""
        state = self.collection(self.versions_name)
        limit = 2 * self.write_lease_seconds + 1
        give_up = time.monotonic() + limit
        pause = 0.002
        while True:
            now = dt.datetime.now(dt.UTC)
            try:
                document = state.find_one_and_update(
                    {
                        "_id": STATE_ID,
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
                        f"{limit:.0f} s; expected its holder to finish or its "
                        f"{self.write_lease_seconds} s lease to run out"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
                continue
            return int((document or {}).get("value", 0))

    def _release_write_lease(self) -> None:
        self.collection(self.versions_name).update_one(
            {"_id": STATE_ID, "holder": self._lease_owner},
            {"$set": {"holder": None, "expires": None}},
        )

    def _commit_journal(self, writes: list[Write]) -> None:
        if not writes:
            return
        # Renewing the lease first makes sure nobody took it over meanwhile.
        now = dt.datetime.now(dt.UTC)
        renewed = self.collection(self.versions_name).update_one(
            {"_id": STATE_ID, "holder": self._lease_owner},
            {"$set": {"expires": now + dt.timedelta(seconds=self.write_lease_seconds)}},
        )
        if renewed.matched_count != 1:
            raise WriteLeaseLostError(
                f"provider {self.provider_id!r} lost its write lease on database "
                f"{self.database.name!r} before committing; expected to commit "
                f"within {self.write_lease_seconds} s. Nothing was written"
            )
        # Your documents go first: only their writes can be refused (by an
        # index or a validator of yours), and then they are put back as they
        # were, before any record of Maestro's is written.
        users = [w for w in writes if w["coll"] not in self._own_collections]
        own = [w for w in writes if w["coll"] in self._own_collections]
        entry = {
            "_id": ObjectId(),
            "writes": users + own,
            "users": len(users),
            "before": self._before_images(users),
        }
        journal = self.collection(self.journal_name)
        journal.insert_one(entry)
        self._apply_journaled(entry)
        journal.delete_one({"_id": entry["_id"]})

    def _before_images(self, writes: list[Write]) -> list[dict[str, Any]]:
        """The documents *writes* will overwrite or delete, as they are now."""
        ids: dict[str, list[Any]] = {}
        for write in writes:
            doc_id = write["doc"]["_id"] if "doc" in write else write["id"]
            ids.setdefault(write["coll"], []).append(doc_id)
        before = []
        for collection, wanted in ids.items():
            found = {
                id_key(d["_id"]): d
                for d in self.collection(collection).find({"_id": {"$in": wanted}})
            }
            for doc_id in wanted:
                document = found.get(id_key(doc_id))
                before.append({"coll": collection, "id": doc_id, "doc": document})
        return before

    def _apply_journaled(self, entry: dict[str, Any]) -> None:
        """Apply a journaled write set; when your documents are refused, put
        them back and drop the set, re-raising the refusal."""
        writes, users = entry["writes"], entry["users"]
        try:
            self._send(writes[:users])
        except _REFUSALS as error:
            if not _refused(error):
                raise
            self._send(
                [
                    {"op": "replace", "coll": b["coll"], "doc": b["doc"]}
                    if b["doc"] is not None
                    else {"op": "delete", "coll": b["coll"], "id": b["id"]}
                    for b in entry["before"]
                ]
            )
            self.collection(self.journal_name).delete_one({"_id": entry["_id"]})
            raise
        self._send(writes[users:])

    def _complete_journal(self) -> None:
        """Apply again the write sets a crashed writer left behind."""
        journal = self.collection(self.journal_name)
        for entry in journal.find().sort("_id", ASCENDING):
            logger.warning(
                "%s: completing a write set interrupted at %s (%d writes)",
                self.provider_id,
                entry["_id"].generation_time.isoformat(),
                len(entry["writes"]),
            )
            try:
                self._apply_journaled(entry)
            except _REFUSALS as error:
                # put back: the interrupted transaction never took effect
                logger.warning(
                    "%s: dropped an interrupted write set whose documents are "
                    "refused now: %s",
                    self.provider_id,
                    error,
                    exc_info=True,
                )
                continue
            journal.delete_one({"_id": entry["_id"]})


_REFUSALS: tuple[type[BaseException], ...] = (
    WriteError,
    BulkWriteError,
    getattr(pymongo.errors, "ClientBulkWriteException", BulkWriteError),
)


def _refused(error: BaseException) -> bool:
    """Whether the server refused a document (rather than failing otherwise)."""
    if isinstance(error, (WriteError, BulkWriteError)):
        return True
    return bool(getattr(error, "write_errors", None))
