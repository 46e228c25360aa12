"""Controllable clocks for tests: wall clocks that stand still, jump, skew."""

from __future__ import annotations

import datetime as dt
import threading

__all__ = ["FakeMonotonic", "FakeWallClock"]


class FakeWallClock:
    """A wall clock that moves only when told to.

    Call it for the current time (an aware UTC datetime). ``tick`` moves it
    forward after every reading when set, which gives distinct readings
    without sleeping.
    """

    def __init__(
        self,
        start: dt.datetime | None = None,
        *,
        tick: dt.timedelta = dt.timedelta(0),
    ):
        self._now = start or dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        self._tick = tick
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            now = self._now
            self._now += self._tick
            return now

    def advance(self, seconds: float) -> None:
        """Move the clock by *seconds* (negative steps it back)."""
        with self._lock:
            self._now += dt.timedelta(seconds=seconds)

    def set(self, value: dt.datetime) -> None:
        with self._lock:
            self._now = value


class FakeMonotonic:
    """A monotonic clock for orchestrator time limits, advanced by hand."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
