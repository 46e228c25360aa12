"""Sync locks: at most one orchestrator syncs a set of providers at a time.

A lock is held under a lease. A holder that crashes stops renewing it, and
once the lease has run out another orchestrator may take the lock.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable

__all__ = ["InMemorySyncLock", "SyncLock"]


class SyncLock(abc.ABC):
    """The contract of a sync lock. Every method must be safe across threads."""

    @abc.abstractmethod
    def acquire(self, owner: str, lease_seconds: float) -> bool:
        """Take the lock for *owner* for *lease_seconds*, without waiting.

        Returns ``False`` when another owner holds an unexpired lease. An owner
        that already holds the lock renews its lease.
        """

    @abc.abstractmethod
    def release(self, owner: str) -> None:
        """Give the lock up if *owner* holds it; otherwise do nothing."""

    def renew(self, owner: str, lease_seconds: float) -> bool:
        """Extend *owner*'s lease; ``False`` when it has lost the lock."""
        return self.acquire(owner, lease_seconds)


class InMemorySyncLock(SyncLock):
    """A lock for orchestrators of one process, with a lease like any other."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic):
        self._mutex = threading.Lock()
        self._monotonic = monotonic
        self._owner: str | None = None
        self._expires = 0.0

    def acquire(self, owner: str, lease_seconds: float) -> bool:
        with self._mutex:
            now = self._monotonic()
            if self._owner not in (None, owner) and now < self._expires:
                return False
            self._owner, self._expires = owner, now + lease_seconds
            return True

    def release(self, owner: str) -> None:
        with self._mutex:
            if self._owner == owner:
                self._owner, self._expires = None, 0.0

    @property
    def owner(self) -> str | None:
        """Who holds an unexpired lease, if anyone."""
        with self._mutex:
            return self._owner if self._monotonic() < self._expires else None
