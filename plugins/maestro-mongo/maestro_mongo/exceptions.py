"""Exceptions of the MongoDB backend."""

from __future__ import annotations

from maestro_core import MaestroError

__all__ = ["WriteLeaseLostError", "WriteLeaseTimeoutError"]


class WriteLeaseTimeoutError(MaestroError, TimeoutError):
    """Without transactions, another writer held the write lease for too long."""


class WriteLeaseLostError(MaestroError, RuntimeError):
    """Without transactions, a writer's lease ran out before it could commit."""
