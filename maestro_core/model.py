"""The data model: changes, versions, vector clocks, conflicts and sessions.

Every record here is an immutable attrs class. Items travel inside changes in
the canonical encoding of :mod:`maestro_core.codec`; timestamps are hybrid
logical clock values (integers of microseconds, see :mod:`maestro_core.clock`).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from attrs import evolve, field, frozen

from .clock import Timestamp

__all__ = [
    "ConflictLog",
    "ConflictStatus",
    "ConflictType",
    "ItemChange",
    "ItemChangeBatch",
    "ItemVersion",
    "Operation",
    "SessionStatus",
    "SyncSession",
    "VectorClock",
    "new_id",
]


def new_id() -> str:
    """A fresh identifier for a change, conflict log or session."""
    return str(uuid.uuid4())


class Operation(enum.Enum):
    """What a change did to its item."""

    INSERT = "INSERT"
    UPDATE = "UPDATE"
    DELETE = "DELETE"

    @classmethod
    def coerce(cls, value: object) -> Operation:
        """*value* as an operation, accepting members and their names."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        raise ValueError(
            f"unknown operation {value!r}; expected one of "
            f"{', '.join(m.name for m in cls)}"
        )


class ConflictType(enum.Enum):
    """How a conflict arose, seen from the provider that recorded it."""

    LOCAL_UPDATE_REMOTE_UPDATE = "LOCAL_UPDATE_REMOTE_UPDATE"
    LOCAL_UPDATE_REMOTE_DELETE = "LOCAL_UPDATE_REMOTE_DELETE"
    LOCAL_DELETE_REMOTE_UPDATE = "LOCAL_DELETE_REMOTE_UPDATE"
    LOCAL_DELETE_REMOTE_DELETE = "LOCAL_DELETE_REMOTE_DELETE"
    LOCAL_INSERT_REMOTE_UPDATE = "LOCAL_INSERT_REMOTE_UPDATE"
    LOCAL_UPDATE_REMOTE_INSERT = "LOCAL_UPDATE_REMOTE_INSERT"
    LOCAL_INSERT_REMOTE_INSERT = "LOCAL_INSERT_REMOTE_INSERT"
    EXCEPTION_OCCURRED = "EXCEPTION_OCCURRED"

    @classmethod
    def between(cls, local: Operation, remote: Operation) -> ConflictType:
        """The type of a conflict between a local and a remote operation.

        An insert meeting a delete is reported as the update it amounts to.
        """
        insert, delete = Operation.INSERT, Operation.DELETE
        if local is insert and remote is insert:
            return cls.LOCAL_INSERT_REMOTE_INSERT
        if local is insert and remote is not delete:
            return cls.LOCAL_INSERT_REMOTE_UPDATE
        if remote is insert and local is not delete:
            return cls.LOCAL_UPDATE_REMOTE_INSERT
        local_name = "DELETE" if local is delete else "UPDATE"
        remote_name = "DELETE" if remote is delete else "UPDATE"
        return cls[f"LOCAL_{local_name}_REMOTE_{remote_name}"]


class ConflictStatus(enum.Enum):
    """Whether a conflict still waits for a decision."""

    DEFERRED = "DEFERRED"
    RESOLVED = "RESOLVED"


class SessionStatus(enum.Enum):
    """Where a sync session stands."""

    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


def _to_clock_dict(value: Mapping[str, int] | None) -> dict[str, int]:
    if value is None:
        return {}
    clock = {}
    for origin, ts in value.items():
        if not isinstance(origin, str) or not origin:
            raise ValueError(
                f"vector clock key {origin!r} is not valid; "
                "expected a non-empty provider id"
            )
        if isinstance(ts, Timestamp):
            ts = ts.value
        if not isinstance(ts, int) or isinstance(ts, bool) or ts < 0:
            raise ValueError(
                f"vector clock entry {origin!r}: {ts!r} is not valid; "
                "expected a non-negative integer timestamp"
            )
        if ts:
            clock[origin] = ts
    return clock


@frozen(eq=True, hash=False)
class VectorClock:
    """For each origin provider, the newest of its timestamps that is known.

    As a provider's *knowledge* it says which changes the provider holds; as
    an item's *version vector* it says which changes the item's state
    includes. Entries that are absent count as zero.
    """

    entries: dict[str, int] = field(factory=dict, converter=_to_clock_dict)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __hash__(self) -> int:
        return hash(frozenset(self.entries.items()))

    def get(self, origin: str) -> int:
        """The timestamp known for *origin*, zero when none is."""
        return self.entries.get(origin, 0)

    def items(self) -> Iterable[tuple[str, int]]:
        return self.entries.items()

    def includes(self, other: VectorClock) -> bool:
        """Whether everything *other* knows is known here as well."""
        get = self.entries.get
        return all(get(origin, 0) >= ts for origin, ts in other.entries.items())

    def merge(self, other: VectorClock) -> VectorClock:
        """The smallest clock that includes both (one of them when it does)."""
        if self.includes(other):
            return self
        if other.includes(self):
            return other
        merged = dict(self.entries)
        for origin, ts in other.entries.items():
            if ts > merged.get(origin, 0):
                merged[origin] = ts
        return VectorClock(merged)

    def advance(self, origin: str, timestamp: int) -> VectorClock:
        """This clock with *origin* moved up to *timestamp* (never down)."""
        if self.entries.get(origin, 0) >= timestamp:
            return self
        return VectorClock({**self.entries, origin: timestamp})

    def to_dict(self) -> dict[str, int]:
        return dict(self.entries)


def _to_str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _to_change_tuple(value: Iterable[ItemChange]) -> tuple[ItemChange, ...]:
    return tuple(value)


def _to_operation(value: object) -> Operation:
    return Operation.coerce(value)


def _to_vector(value: object) -> VectorClock:
    if isinstance(value, VectorClock):
        return value
    return VectorClock(value)  # type: ignore[arg-type]


@frozen
class ItemChange:
    """One INSERT, UPDATE or DELETE of one item, made by its origin provider.

    ``item`` is the whole item after the change in canonical encoding (for a
    DELETE, its last state). ``vector`` is the item's version vector once this
    change is part of it, so it holds ``origin: timestamp`` itself.
    ``parent_id`` is the change the item's state stood at when this one was
    made, which lets a merge find the version both sides started from.
    """

    id: str
    operation: Operation = field(converter=_to_operation)
    entity_name: str
    item_id: str
    item: dict[str, Any]
    origin: str
    timestamp: int
    vector: VectorClock = field(converter=_to_vector)
    parent_id: str | None = None

    @property
    def hlc(self) -> Timestamp:
        """The change's timestamp as a :class:`~maestro_core.Timestamp`."""
        return Timestamp(self.timestamp)

    @property
    def key(self) -> tuple[str, str]:
        """``(entity_name, item_id)``, the item this change is about."""
        return (self.entity_name, self.item_id)

    @property
    def order_key(self) -> tuple[int, str]:
        """Sort key of the total order every provider agrees on."""
        return (self.timestamp, self.origin)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dictionary, the form backends may persist."""
        return {
            "id": self.id,
            "operation": self.operation.value,
            "entity_name": self.entity_name,
            "item_id": self.item_id,
            "item": self.item,
            "origin": self.origin,
            "timestamp": self.timestamp,
            "vector": self.vector.to_dict(),
            "parent_id": self.parent_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ItemChange:
        return cls(
            id=data["id"],
            operation=data["operation"],
            entity_name=data["entity_name"],
            item_id=data["item_id"],
            item=data["item"],
            origin=data["origin"],
            timestamp=data["timestamp"],
            vector=data["vector"],
            parent_id=data.get("parent_id"),
        )


@frozen
class ItemVersion:
    """What a provider holds of one item: its version vector and heads.

    ``change_id`` is the change whose state the provider's item shows (the
    winner, after a conflict). ``heads`` are the changes of the item's history
    that no other held change includes: one after ordinary edits, several
    while concurrent edits stand side by side. Every provider that holds the
    same heads decides the item's state the same way.
    """

    entity_name: str
    item_id: str
    change_id: str
    operation: Operation = field(converter=_to_operation)
    vector: VectorClock = field(converter=_to_vector)
    heads: tuple[str, ...] = field(converter=_to_str_tuple)

    @property
    def key(self) -> tuple[str, str]:
        return (self.entity_name, self.item_id)

    @property
    def is_deleted(self) -> bool:
        return self.operation is Operation.DELETE

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity_name": self.entity_name,
            "item_id": self.item_id,
            "change_id": self.change_id,
            "operation": self.operation.value,
            "vector": self.vector.to_dict(),
            "heads": list(self.heads),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ItemVersion:
        return cls(
            entity_name=data["entity_name"],
            item_id=data["item_id"],
            change_id=data["change_id"],
            operation=data["operation"],
            vector=data["vector"],
            heads=data["heads"],
        )


@frozen
class ItemChangeBatch:
    """Changes selected for a target in one go, in the order to apply them."""

    changes: tuple[ItemChange, ...] = field(converter=_to_change_tuple)
    is_last_batch: bool

    def __len__(self) -> int:
        return len(self.changes)

    def __iter__(self) -> Iterator[ItemChange]:
        return iter(self.changes)


def _to_conflict_type(value: object) -> ConflictType:
    return value if isinstance(value, ConflictType) else ConflictType(value)


def _to_conflict_status(value: object) -> ConflictStatus:
    return value if isinstance(value, ConflictStatus) else ConflictStatus(value)


def _to_session_status(value: object) -> SessionStatus:
    return value if isinstance(value, SessionStatus) else SessionStatus(value)


def _dt_to_str(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _str_to_dt(value: str | dt.datetime | None) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value)


@frozen
class ConflictLog:
    """A conflict or a deferred change, as recorded by the provider that met it.

    For an ``EXCEPTION_OCCURRED`` entry, ``remote_change_id`` is the deferred
    change and ``description`` holds the error with its traceback.
    ``winner_change_id`` and ``loser_change_id`` stay ``None`` while the entry
    is DEFERRED.
    """

    id: str
    provider_id: str
    conflict_type: ConflictType = field(converter=_to_conflict_type)
    status: ConflictStatus = field(converter=_to_conflict_status)
    entity_name: str
    item_id: str
    created_at: dt.datetime
    local_change_id: str | None = None
    remote_change_id: str | None = None
    winner_change_id: str | None = None
    loser_change_id: str | None = None
    policy: str | None = None
    description: str = ""
    resolved_at: dt.datetime | None = None

    @property
    def key(self) -> tuple[str, str]:
        """``(entity_name, item_id)``, the item the conflict is about."""
        return (self.entity_name, self.item_id)

    def resolved(
        self,
        *,
        winner_change_id: str | None,
        loser_change_id: str | None,
        at: dt.datetime,
        description: str | None = None,
    ) -> ConflictLog:
        """This entry marked RESOLVED."""
        return evolve(
            self,
            status=ConflictStatus.RESOLVED,
            winner_change_id=winner_change_id,
            loser_change_id=loser_change_id,
            resolved_at=at,
            description=self.description if description is None else description,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider_id": self.provider_id,
            "conflict_type": self.conflict_type.value,
            "status": self.status.value,
            "entity_name": self.entity_name,
            "item_id": self.item_id,
            "created_at": _dt_to_str(self.created_at),
            "local_change_id": self.local_change_id,
            "remote_change_id": self.remote_change_id,
            "winner_change_id": self.winner_change_id,
            "loser_change_id": self.loser_change_id,
            "policy": self.policy,
            "description": self.description,
            "resolved_at": _dt_to_str(self.resolved_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConflictLog:
        values = dict(data)
        values["created_at"] = _str_to_dt(values["created_at"])
        values["resolved_at"] = _str_to_dt(values.get("resolved_at"))
        return cls(**values)


@frozen
class SyncSession:
    """One direction of sync between two providers, with what it did."""

    id: str
    source_provider_id: str
    target_provider_id: str
    status: SessionStatus = field(converter=_to_session_status)
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    sent: int = 0
    applied: int = 0
    conflicts: int = 0
    deferred: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source_provider_id": self.source_provider_id,
            "target_provider_id": self.target_provider_id,
            "status": self.status.value,
            "started_at": _dt_to_str(self.started_at),
            "ended_at": _dt_to_str(self.ended_at),
            "sent": self.sent,
            "applied": self.applied,
            "conflicts": self.conflicts,
            "deferred": self.deferred,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncSession:
        values = dict(data)
        values["started_at"] = _str_to_dt(values["started_at"])
        values["ended_at"] = _str_to_dt(values.get("ended_at"))
        return cls(**values)
