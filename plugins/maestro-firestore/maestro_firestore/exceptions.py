"""The errors the Firestore backend raises on purpose."""

from __future__ import annotations

from maestro_core import MaestroError

__all__ = ["ClockMovedError"]


class ClockMovedError(MaestroError, RuntimeError):
    """Another process recorded changes since this one last read the clock."""
