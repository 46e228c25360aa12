"""Alias module: the model classes of :mod:`maestro_core`."""

from maestro_core.model import (
    ConflictLog,
    ConflictStatus,
    ConflictType,
    ItemChange,
    ItemChangeBatch,
    ItemVersion,
    Operation,
    SessionStatus,
    SyncSession,
    VectorClock,
)

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
]
