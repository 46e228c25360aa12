"""The store contract every backend implements, and the logic they share.

A backend subclasses :class:`DataStore` and implements its abstract methods:
plain reads and writes of Maestro's own records plus
:meth:`~DataStore.execute_item_change`, the one method that touches the user's
data. Everything with a rule in it (issuing timestamps, building version
vectors, validating items, resolving a conflict by hand) lives here once, so
every backend behaves the same.
"""

from __future__ import annotations

import abc
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from .clock import WallClock, micros_to_datetime, next_timestamp, system_wall_clock
from .codec import _is_tagged, encode_item
from .exceptions import ConflictNotFoundError, InvalidItemError
from .model import (
    ConflictLog,
    ConflictStatus,
    ConflictType,
    ItemChange,
    ItemVersion,
    Operation,
    SyncSession,
    VectorClock,
    new_id,
)

__all__ = ["DataStore", "ItemKey", "without_collection_name"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
ItemKey = tuple[str, str]
"""``(entity_name, item_id)``."""


def _check_name(kind: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidItemError(
            f"{kind} {value!r} is not valid; expected a non-empty string",
            item_id=value if kind == "item_id" else None,
            key=kind,
        )
    return value


def without_collection_name(
    entity_name: str, item_id: str, item: Mapping[str, Any]
) -> dict[str, Any]:
    """*item* without its ``collection_name``, once that is checked.

    Document stores take items that name the collection they are stored in,
    which must be the entity name. The field only routes the item: it is
    neither stored nor carried to other providers. A missing or different
    one raises :class:`~maestro_core.InvalidItemError`.
    """
    if "collection_name" not in item:
        raise InvalidItemError(
            f"item {item_id!r} has no 'collection_name' field; expected the name "
            f"of the collection it is stored in, {entity_name!r}",
            item_id=item_id,
            key="collection_name",
        )
    routed = item["collection_name"]
    if routed != entity_name:
        raise InvalidItemError(
            f"item {item_id!r} has 'collection_name' {routed!r}; expected it to "
            f"equal the entity name {entity_name!r}, the collection it is stored in",
            item_id=item_id,
            key="collection_name",
        )
    return {key: value for key, value in item.items() if key != "collection_name"}


class DataStore(abc.ABC):
    """One provider's storage: the user's items and Maestro's records of them.

    Subclasses implement the abstract methods below. Methods that write are
    always called inside :meth:`run_in_transaction`; the engine relies on a
    transaction either taking effect whole or not at all. Reads may happen
    inside or outside one.

    ``wall_clock`` is a callable returning an aware UTC datetime; tests pass
    their own to make time stand still, step back or skew.
    """

    def __init__(self, provider_id: str, *, wall_clock: WallClock | None = None):
        if not isinstance(provider_id, str) or not provider_id.strip():
            raise ValueError(
                f"provider id {provider_id!r} is not valid; expected a non-empty string"
            )
        self.provider_id = provider_id
        self.wall_clock: WallClock = wall_clock or system_wall_clock

    def __repr__(self) -> str:
        return f"<{type(self).__name__} provider_id={self.provider_id!r}>"

    # -- transactions and the clock -------------------------------------------

    @abc.abstractmethod
    def run_in_transaction(self, fn: Callable[[], T]) -> T:
        """Run *fn* so that its writes take effect together or not at all.

        Returns what *fn* returns and re-raises what it raises, after rolling
        back. A call made while a transaction is open joins it.
        """

    @abc.abstractmethod
    def read_clock_for_update(self) -> int:
        """The last timestamp issued or seen, locked until the transaction ends.

        Two transactions of the same provider must not read the clock at the
        same time: this is what makes timestamps follow commit order, so that
        a sync never passes over a change that commits late.
        """

    @abc.abstractmethod
    def write_clock(self, value: int) -> None:
        """Persist *value* as the last timestamp issued or seen."""

    # -- knowledge and changes ------------------------------------------------

    @abc.abstractmethod
    def get_knowledge(self) -> VectorClock:
        """For each origin, the newest timestamp of the changes held from it."""

    @abc.abstractmethod
    def select_changes(
        self, origin: str, after: int, limit: int
    ) -> Sequence[ItemChange]:
        """Up to *limit* held changes of *origin* newer than *after*, oldest first.

        Must cost in proportion to what it returns, not to the history held.
        """

    @abc.abstractmethod
    def get_changes(self, change_ids: Iterable[str]) -> dict[str, ItemChange]:
        """The held changes among *change_ids*, by id."""

    @abc.abstractmethod
    def save_change(self, change: ItemChange) -> None:
        """Record *change* as held (its knowledge entry moves with it)."""

    def count_changes(self, origin: str, after: int) -> int:
        """How many held changes of *origin* are newer than *after*."""
        count, cursor = 0, after
        while batch := self.select_changes(origin, cursor, 1000):
            count += len(batch)
            cursor = batch[-1].timestamp
        return count

    # -- item versions and items ----------------------------------------------

    @abc.abstractmethod
    def get_item_versions(self, keys: Iterable[ItemKey]) -> dict[ItemKey, ItemVersion]:
        """The versions held for *keys*, by ``(entity_name, item_id)``."""

    @abc.abstractmethod
    def save_item_version(self, version: ItemVersion) -> None:
        """Insert or replace the version of ``version.key``."""

    @abc.abstractmethod
    def execute_item_change(
        self,
        operation: Operation,
        entity_name: str,
        item_id: str,
        item: Mapping[str, Any],
    ) -> None:
        """Write the user's data: the only method that does.

        *item* is canonical. INSERT and UPDATE both leave the item stored with
        exactly these values, whether or not it existed; DELETE removes it and
        is a no-op when it is already gone. Raising makes the change deferred.
        """

    @abc.abstractmethod
    def get_item(self, entity_name: str, item_id: str) -> dict[str, Any] | None:
        """The stored item in canonical form, or ``None`` when there is none."""

    def validate_item(  # noqa: B027 - optional for backends
        self,
        operation: Operation,
        entity_name: str,
        item_id: str,
        item: Mapping[str, Any],
    ) -> None:
        """Refuse an item this backend cannot store, raising InvalidItemError.

        Called by :meth:`commit_item_change` before anything is written; the
        core has already checked ``id``. The default accepts everything.
        """

    # -- conflicts and sessions ----------------------------------------------

    @abc.abstractmethod
    def save_conflict_log(self, log: ConflictLog) -> None:
        """Insert or replace the conflict log with ``log.id``."""

    @abc.abstractmethod
    def get_conflict_logs(
        self,
        *,
        status: ConflictStatus | None = None,
        conflict_type: ConflictType | None = None,
    ) -> list[ConflictLog]:
        """Conflict logs, oldest first, optionally of one status and type."""

    @abc.abstractmethod
    def get_conflict_log(self, conflict_id: str) -> ConflictLog | None:
        """The conflict log with *conflict_id*, or ``None``."""

    @abc.abstractmethod
    def save_session(self, session: SyncSession) -> None:
        """Insert or replace the session record with ``session.id``."""

    @abc.abstractmethod
    def get_sessions(self, *, limit: int = 100) -> list[SyncSession]:
        """The most recent sessions this provider recorded, newest first."""

    def close(self) -> None:  # noqa: B027 - optional for backends
        """Release connections or threads the store holds; the default has none."""

    # -- shared logic -------------------------------------------------------

    def now(self) -> dt.datetime:
        """The wall clock's current time."""
        return self.wall_clock()

    def issue_timestamp(self) -> int:
        """Issue the next timestamp; call inside the transaction that records it."""
        value = next_timestamp(self.read_clock_for_update(), self.wall_clock)
        self.write_clock(value)
        return value

    def observe_timestamp(self, timestamp: int) -> None:
        """Move the clock past a timestamp seen on a remote change."""
        if self.read_clock_for_update() < timestamp:
            self.write_clock(timestamp)

    def get_item_version(self, entity_name: str, item_id: str) -> ItemVersion | None:
        """The version held for one item, or ``None``."""
        return self.get_item_versions([(entity_name, item_id)]).get(
            (entity_name, item_id)
        )

    def commit_item_change(
        self,
        operation: Operation | str,
        entity_name: str,
        item_id: str,
        item: Mapping[str, Any],
        execute_operation: bool = True,
    ) -> ItemChange:
        """Record a change made on this provider, so that syncs carry it.

        With *execute_operation* the store also writes the item; pass
        ``False`` when the application already wrote it in the same
        transaction. The item must carry ``id`` equal to *item_id*; an item
        that breaks this or holds a value the canonical encoding cannot carry
        raises :class:`~maestro_core.InvalidItemError` and nothing is written.
        """
        operation = Operation.coerce(operation)
        entity_name = _check_name("entity_name", entity_name)
        item_id = _check_name("item_id", item_id)
        canonical = self._canonical_item(item_id, item)
        self.validate_item(operation, entity_name, item_id, canonical)
        change = self.run_in_transaction(
            lambda: self.commit_local_change(
                operation, entity_name, item_id, canonical, execute_operation
            )
        )
        logger.debug(
            "%s committed %s %s/%s at %d",
            self.provider_id,
            operation.name,
            entity_name,
            item_id,
            change.timestamp,
        )
        return change

    def commit_local_change(
        self,
        operation: Operation,
        entity_name: str,
        item_id: str,
        item: dict[str, Any],
        execute_operation: bool,
    ) -> ItemChange:
        """Issue a timestamp, write *item* if asked, and record its change.

        :meth:`commit_item_change` calls it inside its transaction, with the
        arguments checked and *item* canonical. A backend may override it to
        record a change in fewer round trips; the timestamp must still be
        issued with the clock locked until the transaction ends.
        """
        timestamp = self.issue_timestamp()
        version = self.get_item_version(entity_name, item_id)
        change = self._local_change(
            operation, entity_name, item_id, item, timestamp, version
        )
        if execute_operation:
            self.execute_item_change(operation, entity_name, item_id, item)
        self._record_local_change(change, version)
        return change

    def _canonical_item(self, item_id: str, item: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(item, Mapping):
            raise InvalidItemError(
                f"item {item_id!r} is a {type(item).__name__}; expected a mapping "
                "of field names to values",
                item_id=item_id,
            )
        if "id" not in item:
            raise InvalidItemError(
                f"item {item_id!r} has no 'id' field; expected the item's primary "
                "key, equal to item_id",
                item_id=item_id,
                key="id",
            )
        if str(item["id"]) != item_id:
            if _is_tagged(item["id"]):
                reason = (
                    "a value in canonical form; expected native values "
                    "(decode_item() turns a canonical item into them)"
                )
            else:
                reason = "expected it to equal item_id"
            raise InvalidItemError(
                f"item {item_id!r} has 'id' {item['id']!r}; {reason}",
                item_id=item_id,
                key="id",
            )
        return encode_item(item)

    def _local_change(
        self,
        operation: Operation,
        entity_name: str,
        item_id: str,
        item: dict[str, Any],
        timestamp: int,
        version: ItemVersion | None,
    ) -> ItemChange:
        base = version.vector if version is not None else VectorClock()
        return ItemChange(
            id=new_id(),
            operation=operation,
            entity_name=entity_name,
            item_id=item_id,
            item=item,
            origin=self.provider_id,
            timestamp=timestamp,
            vector=base.advance(self.provider_id, timestamp),
            parent_id=version.change_id if version is not None else None,
        )

    def settle_waiting_conflicts(
        self, previous: ItemVersion | None, change: ItemChange
    ) -> None:
        """Mark RESOLVED the DEFERRED conflicts that *change* has settled.

        Called when *change* includes every head of *previous*: concurrent
        edits the ``manual`` policy left side by side are then decided, here
        as on the provider where someone chose.
        """
        if previous is None or len(previous.heads) < 2:
            return
        heads = set(previous.heads)
        for log in self.get_conflict_logs(status=ConflictStatus.DEFERRED):
            if (
                log.conflict_type is not ConflictType.EXCEPTION_OCCURRED
                and log.key == previous.key
                and {log.local_change_id, log.remote_change_id} <= heads
            ):
                self.save_conflict_log(
                    log.resolved(
                        winner_change_id=change.id,
                        loser_change_id=None,
                        at=micros_to_datetime(change.timestamp),
                        description=f"settled by change {change.id}",
                    )
                )

    def _record_local_change(
        self, change: ItemChange, previous: ItemVersion | None
    ) -> None:
        self.settle_waiting_conflicts(previous, change)
        self.save_change(change)
        self.save_item_version(
            ItemVersion(
                entity_name=change.entity_name,
                item_id=change.item_id,
                change_id=change.id,
                operation=change.operation,
                vector=change.vector,
                heads=(change.id,),
            )
        )

    def resolve_conflict(self, conflict_id: str, winner_change_id: str) -> ItemChange:
        """Settle a DEFERRED conflict by choosing the change that wins.

        Records a new local change that carries the winner's item and includes
        every version the item has seen, so it supersedes the concurrent edits
        on every provider it reaches. Returns that change.
        """

        def resolve() -> ItemChange:
            log = self.get_conflict_log(conflict_id)
            if log is None:
                raise ConflictNotFoundError(
                    f"no conflict {conflict_id!r} on provider {self.provider_id!r}; "
                    "expected the id of a recorded conflict"
                )
            if log.status is not ConflictStatus.DEFERRED:
                raise ConflictNotFoundError(
                    f"conflict {conflict_id!r} is already {log.status.value}; "
                    "expected a DEFERRED conflict"
                )
            candidates = {log.local_change_id, log.remote_change_id} - {None}
            if winner_change_id not in candidates:
                raise ConflictNotFoundError(
                    f"change {winner_change_id!r} is not a side of conflict "
                    f"{conflict_id!r}; expected one of {sorted(candidates)!r}"  # type: ignore[type-var]
                )
            winner = self.get_changes([winner_change_id]).get(winner_change_id)
            if winner is None:
                raise ConflictNotFoundError(
                    f"change {winner_change_id!r} is not held by provider "
                    f"{self.provider_id!r}"
                )
            timestamp = self.issue_timestamp()
            version = self.get_item_version(log.entity_name, log.item_id)
            operation = (
                Operation.DELETE
                if winner.operation is Operation.DELETE
                else Operation.UPDATE
            )
            change = self._local_change(
                operation, log.entity_name, log.item_id, winner.item, timestamp, version
            )
            self.execute_item_change(
                operation, log.entity_name, log.item_id, winner.item
            )
            self._record_local_change(change, version)
            loser = (
                (candidates - {winner_change_id}).pop() if len(candidates) > 1 else None
            )
            self.save_conflict_log(
                log.resolved(
                    winner_change_id=winner_change_id,
                    loser_change_id=loser,
                    at=micros_to_datetime(timestamp),
                    description=f"resolved by hand: change {winner_change_id} "
                    f"wins, recorded as change {change.id}",
                )
            )
            return change

        change = self.run_in_transaction(resolve)
        logger.info(
            "%s resolved conflict %s: change %s wins",
            self.provider_id,
            conflict_id,
            winner_change_id,
        )
        return change
