"""The sync lock: a lease document taken in a Firestore transaction."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from google.cloud import firestore

from maestro_core import SyncLock

from .store import DEFAULT_PREFIX

__all__ = ["FirestoreSyncLock"]

logger = logging.getLogger(__name__)

TRANSACTION_ATTEMPTS = 50
"""Racing orchestrators abort each other's transactions; each tries again."""


class FirestoreSyncLock(SyncLock):
    """A lease in the document ``<prefix>locks/<name>``.

    The lease runs on Firestore's clock, not the caller's: it ends
    ``lease_seconds`` after the document's server-side update time, compared
    with the read time of the transaction that looks at it. Orchestrators on
    machines whose clocks disagree still see the same expiry.
    """

    def __init__(
        self, client: Any, *, prefix: str = DEFAULT_PREFIX, name: str = "sync"
    ):
        self.client = client
        self.ref = client.collection(f"{prefix}locks").document(name)

    def _holder(self, snapshot: Any) -> str | None:
        """Who holds an unexpired lease in *snapshot*, if anyone."""
        if not snapshot.exists:
            return None
        data = snapshot.to_dict()
        lease = dt.timedelta(seconds=float(data.get("lease_seconds", 0)))
        if snapshot.read_time >= snapshot.update_time + lease:
            return None
        return data.get("owner")

    def acquire(self, owner: str, lease_seconds: float) -> bool:
        @firestore.transactional
        def take(transaction: Any) -> bool:
            snapshot = self.ref.get(transaction=transaction)
            if self._holder(snapshot) not in (None, owner):
                return False
            transaction.set(
                self.ref, {"owner": owner, "lease_seconds": float(lease_seconds)}
            )
            return True

        transaction = self.client.transaction(max_attempts=TRANSACTION_ATTEMPTS)
        return bool(take(transaction))

    def release(self, owner: str) -> None:
        @firestore.transactional
        def give_up(transaction: Any) -> None:
            snapshot = self.ref.get(transaction=transaction)
            if snapshot.exists and snapshot.to_dict().get("owner") == owner:
                transaction.delete(self.ref)

        give_up(self.client.transaction(max_attempts=TRANSACTION_ATTEMPTS))
