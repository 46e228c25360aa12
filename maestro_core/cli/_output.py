"""Writing to the terminal: redacted streams, tables, and session progress."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from ..hookspecs import hookimpl
from ..model import ItemChangeBatch, SessionStatus, SyncSession
from ._redact import Redactor

__all__ = ["SessionReporter", "Writer", "format_counts", "format_time", "table"]

_BAR_WIDTH = 20


class Writer:
    """A text stream that passes everything through a :class:`Redactor`.

    Also serves as a logging handler's stream.
    """

    def __init__(self, stream: TextIO, redactor: Redactor):
        self.stream = stream
        self.redactor = redactor

    @property
    def is_terminal(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def write(self, text: str) -> int:
        self.stream.write(self.redactor(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def line(self, text: str = "") -> None:
        self.write(text + "\n")
        self.flush()

    def json(self, document: Any) -> None:
        self.line(json.dumps(document, indent=2, sort_keys=False, default=str))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Lines of a plain table: columns two spaces apart, the last unpadded."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [
        max([len(headers[i]), *(len(row[i]) for row in cells)])
        for i in range(len(headers))
    ]

    def render(row: Sequence[str]) -> str:
        padded = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        return "  ".join(padded).rstrip()

    return [render(list(headers)), *(render(row) for row in cells)]


def format_time(value: dt.datetime | None) -> str:
    """A moment as ``2024-05-01 09:00:00 UTC``; ``-`` for none."""
    if value is None:
        return "-"
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_counts(session: SyncSession) -> str:
    return (
        f"sent {session.sent}, applied {session.applied}, "
        f"conflicts {session.conflicts}, deferred {session.deferred}"
    )


def first_line(text: str | None, limit: int = 60) -> str:
    """The first line of *text*, cut to *limit* characters."""
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


class SessionReporter:
    """A plugin that reports each session of a run as it goes.

    On a terminal (*live*), each session has a line that is redrawn after
    every batch, with a bar of the changes sent out of those that were
    waiting; elsewhere only the finished session's line is written, and
    nothing when *quiet*. ``sessions`` collects every finished session,
    failed ones included.
    """

    def __init__(
        self,
        out: Writer,
        *,
        live: bool,
        quiet: bool = False,
        waiting: Callable[[str, str], int] | None = None,
        id_width: int = 0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.out = out
        self.live = live and not quiet
        self.quiet = quiet
        self.sessions: list[SyncSession] = []
        self._waiting = waiting
        self._id_width = id_width
        self._monotonic = monotonic
        self._started = 0.0
        self._total: int | None = None
        self._drawn = False

    def _label(self, session: SyncSession) -> str:
        pair = f"{session.source_provider_id} -> {session.target_provider_id}"
        return pair.ljust(self._id_width * 2 + 4)

    def _draw(self, text: str) -> None:
        columns = shutil.get_terminal_size((100, 24)).columns - 1
        self.out.write("\r\x1b[K" + text[:columns])
        self.out.flush()
        self._drawn = True

    def end_line(self) -> None:
        """End a progress line left open by a run that stopped mid-session."""
        if self._drawn:
            self.out.line()
            self._drawn = False

    @hookimpl
    def maestro_session_started(self, session: SyncSession) -> None:
        self._started = self._monotonic()
        self._total = None
        if not self.live:
            return
        if self._waiting is not None:
            self._total = self._waiting(
                session.source_provider_id, session.target_provider_id
            )
        self._draw(self._progress(session))

    @hookimpl
    def maestro_batch_applied(
        self, session: SyncSession, batch: ItemChangeBatch
    ) -> None:
        if self.live:
            self._draw(self._progress(session))

    @hookimpl
    def maestro_session_finished(self, session: SyncSession) -> None:
        self.sessions.append(session)
        if self.quiet:
            return
        seconds = self._monotonic() - self._started
        text = (
            f"{self._label(session)}  {session.status.value:<9}  "
            f"{format_counts(session)}  ({seconds:.2f} s)"
        )
        if self.live:
            self._draw(text)
            self.end_line()
        else:
            self.out.line(text)

    def _progress(self, session: SyncSession) -> str:
        bar = ""
        if self._total:
            done = min(session.sent, self._total)
            filled = round(_BAR_WIDTH * done / self._total)
            bar = f"[{'#' * filled}{'-' * (_BAR_WIDTH - filled)}] "
        total = f"/{self._total}" if self._total is not None else ""
        return (
            f"{self._label(session)}  {bar}sent {session.sent}{total}, "
            f"applied {session.applied}, conflicts {session.conflicts}, "
            f"deferred {session.deferred}"
        )


def summarize(sessions: Sequence[SyncSession]) -> dict[str, int]:
    """The counts of *sessions*, added up."""
    return {
        "sessions": len(sessions),
        "failed": sum(s.status is SessionStatus.FAILED for s in sessions),
        "sent": sum(s.sent for s in sessions),
        "applied": sum(s.applied for s in sessions),
        "conflicts": sum(s.conflicts for s in sessions),
        "deferred": sum(s.deferred for s in sessions),
    }
