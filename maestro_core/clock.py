"""Hybrid logical clocks.

A timestamp is an integer count of microseconds since the Unix epoch. A
provider issues the wall time when it has moved past the last value issued,
and the last value plus one otherwise; a timestamp seen on a remote change
moves the clock past it. Timestamps of one provider are therefore strictly
increasing, never below anything that provider has seen, and a change made
after receiving another always carries a larger timestamp (causality), however
the wall clocks of the machines stand, step back or skew.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from attrs import field, frozen

__all__ = [
    "Timestamp",
    "WallClock",
    "datetime_to_micros",
    "micros_to_datetime",
    "next_timestamp",
    "system_wall_clock",
]

WallClock = Callable[[], dt.datetime]
"""A callable returning the current time as an aware datetime in UTC."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def system_wall_clock() -> dt.datetime:
    """The machine's clock, as an aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


def datetime_to_micros(value: dt.datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"wall clock returned naive datetime {value!r}; "
            "expected an aware datetime in UTC"
        )
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def micros_to_datetime(value: int) -> dt.datetime:
    """The aware UTC datetime of a count of microseconds since the epoch."""
    return _EPOCH + dt.timedelta(microseconds=value)


def next_timestamp(last_issued: int, wall_clock: WallClock) -> int:
    """The timestamp to issue after *last_issued*, given the wall clock now."""
    wall = datetime_to_micros(wall_clock())
    return wall if wall > last_issued else last_issued + 1


def _check_non_negative(instance: object, attribute: object, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(
            f"timestamp value {value!r} is not valid; "
            "expected a non-negative integer of microseconds since the epoch"
        )


@frozen(order=True)
class Timestamp:
    """One hybrid logical clock value, ordered like the integer it wraps."""

    value: int = field(validator=_check_non_negative)

    @classmethod
    def from_datetime(cls, value: dt.datetime) -> Timestamp:
        return cls(datetime_to_micros(value))

    def to_datetime(self) -> dt.datetime:
        """The wall time this timestamp stands for (UTC)."""
        return micros_to_datetime(self.value)

    def __int__(self) -> int:
        return self.value

    def __str__(self) -> str:
        return f"{self.to_datetime().isoformat()}#{self.value}"
