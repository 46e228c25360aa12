"""A sync lock held in the database, so that processes share it."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import IntegrityError, connections, transaction
from django.db.models import Q

from maestro_core import ConfigurationError, SyncLock

from .conf import get_settings
from .models import SyncLockEntry

__all__ = ["DjangoSyncLock"]


class DjangoSyncLock(SyncLock):
    """A lease on one row of ``maestro_sync_lock``.

    Taking the lock is a single conditional ``UPDATE`` (held by nobody, by
    this owner, or expired), or the ``INSERT`` of the row the first time, so
    two processes racing for it cannot both win. Leases are measured in the
    machines' wall time: keep the clocks of the machines that sync roughly in
    step, as leases are minutes long.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        using: str | None = None,
        clock: Callable[[], float] = time.time,
    ):
        config = get_settings()
        name = config["SYNC_LOCK_NAME"] if name is None else name
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise ConfigurationError(
                f"sync lock name {name!r} is not valid; expected a non-empty string "
                "of at most 255 characters"
            )
        using = config["DATABASE"] if using is None else using
        if not isinstance(using, str) or using not in connections.settings:
            raise ConfigurationError(
                f"database alias {using!r} is not configured; expected one of "
                f"{sorted(connections.settings)!r} (see DATABASES)"
            )
        self.name = name
        self.using = using
        self._clock = clock

    def __repr__(self) -> str:
        return f"<DjangoSyncLock name={self.name!r} using={self.using!r}>"

    def acquire(self, owner: str, lease_seconds: float) -> bool:
        now = self._clock()
        rows = SyncLockEntry.objects.using(self.using).filter(name=self.name)
        free = Q(owner__isnull=True) | Q(owner=owner) | Q(expires_at__lte=now)
        if rows.filter(free).update(owner=owner, expires_at=now + lease_seconds):
            return True
        try:
            with transaction.atomic(using=self.using):
                SyncLockEntry.objects.using(self.using).create(
                    name=self.name, owner=owner, expires_at=now + lease_seconds
                )
        except IntegrityError:
            return False
        return True

    def release(self, owner: str) -> None:
        SyncLockEntry.objects.using(self.using).filter(
            name=self.name, owner=owner
        ).update(owner=None, expires_at=0.0)
