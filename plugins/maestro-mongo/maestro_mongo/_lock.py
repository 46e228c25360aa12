"""The sync lock: a lease document taken with one atomic ``find_one_and_update``."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from maestro_core import SyncLock

from ._store import CODEC_OPTIONS, DEFAULT_PREFIX

__all__ = ["MongoSyncLock"]

logger = logging.getLogger(__name__)


class MongoSyncLock(SyncLock):
    """A lease in the document ``<prefix>locks/<name>`` of *database*.

    Taking the lock is one ``find_one_and_update`` that matches the document
    only when it is free, already this owner's, or expired, and otherwise
    tries to insert it, which the unique ``_id`` refuses: of any number of
    orchestrators, on any machines, one wins. A holder that crashes stops
    renewing, and its lease runs out. Expiry is judged by the clock of the
    machine that wants the lock, so clocks must agree to well within a lease.
    """

    def __init__(
        self,
        database: Database[Any],
        *,
        collection_prefix: str = DEFAULT_PREFIX,
        name: str = "sync",
        close_client: bool = False,
    ):
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"lock name {name!r} is not valid; expected a non-empty string"
            )
        self.database = database
        self.name = name
        self.close_client = close_client
        self.collection = database.get_collection(
            f"{collection_prefix}locks", codec_options=CODEC_OPTIONS
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.collection.full_name}/{self.name!r}>"

    def close(self) -> None:
        """Close the client, when the lock was built with one of its own."""
        if self.close_client:
            self.database.client.close()

    def acquire(self, owner: str, lease_seconds: float) -> bool:
        if not isinstance(owner, str) or not owner:
            raise ValueError(
                f"lock owner {owner!r} is not valid; expected a non-empty string"
            )
        now = dt.datetime.now(dt.UTC)
        expires = now + dt.timedelta(seconds=float(lease_seconds))
        try:
            self.collection.find_one_and_update(
                {
                    "_id": self.name,
                    "$or": [
                        {"owner": owner},
                        {"owner": None},
                        {"expires": {"$lte": now}},
                    ],
                },
                {"$set": {"owner": owner, "expires": expires}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False
        return True

    def release(self, owner: str) -> None:
        self.collection.update_one(
            {"_id": self.name, "owner": owner},
            {"$set": {"owner": None, "expires": None}},
        )

    @property
    def owner(self) -> str | None:
        """Who holds an unexpired lease, if anyone."""
        document = self.collection.find_one({"_id": self.name}) or {}
        expires = document.get("expires")
        if expires is None or expires <= dt.datetime.now(dt.UTC):
            return None
        owner: str | None = document.get("owner")
        return owner
