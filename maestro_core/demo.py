"""A short sync between two in-memory providers, with a conflict, narrated.

Run with ``python -m maestro_core.demo``.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from typing import TextIO

from .lock import InMemorySyncLock
from .memory import MemoryDataStore, create_memory_provider
from .model import SyncSession
from .orchestrator import SyncOrchestrator

__all__ = ["main"]

ENTITY = "customer"


class _Narrator:
    def __init__(self, out: TextIO):
        self.out = out
        self.step = 0

    def heading(self, text: str) -> None:
        self.step += 1
        print(f"\n{self.step}. {text}", file=self.out)

    def line(self, text: str) -> None:
        print(f"   {text}", file=self.out)

    def sessions(self, sessions: Sequence[SyncSession] | None) -> None:
        for s in sessions or ():
            self.line(
                f"session {s.source_provider_id} -> {s.target_provider_id}: "
                f"sent {s.sent}, applied {s.applied}, conflicts {s.conflicts}, "
                f"deferred {s.deferred} ({s.status.value})"
            )

    def table(self, stores: Sequence[MemoryDataStore]) -> None:
        ids = sorted({i for s in stores for i in s.get_items(ENTITY)})
        width = max(len(s.provider_id) for s in stores) + 2
        for item_id in ids:
            for store in stores:
                item = store.get_item(ENTITY, item_id)
                shown = "(absent)" if item is None else _describe(item)
                self.line(f"{store.provider_id:<{width}} {ENTITY} {item_id}: {shown}")


def _describe(item: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in item.items() if k != "id")


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    """Tell the story; return 0 when both providers agree at the end."""
    say = _Narrator(out)
    clock_start = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)
    ticks = iter(range(10**6))

    def wall_clock() -> dt.datetime:
        return clock_start + dt.timedelta(seconds=next(ticks))

    office = create_memory_provider("back-office", wall_clock=wall_clock)
    mobile = create_memory_provider("mobile-app", wall_clock=wall_clock)
    orchestrator = SyncOrchestrator(
        sync_lock=InMemorySyncLock(),
        providers=[office, mobile],
        maximum_duration_seconds=60,
    )
    assert isinstance(office.store, MemoryDataStore)
    assert isinstance(mobile.store, MemoryDataStore)
    stores = [office.store, mobile.store]

    say.heading("Each side creates records of its own")
    office.store.commit_item_change(
        "INSERT", ENTITY, "1", {"id": "1", "name": "Ada", "email": "ada@old.example"}
    )
    mobile.store.commit_item_change(
        "INSERT", ENTITY, "2", {"id": "2", "name": "Grace", "phone": "555-0100"}
    )
    say.table(stores)

    say.heading("A sync sends each side what it lacks")
    say.sessions(orchestrator.run(initial_source_provider_id="back-office"))
    say.table(stores)

    say.heading("Both sides edit customer 1 before the next sync")
    office.store.commit_item_change(
        "UPDATE", ENTITY, "1", {"id": "1", "name": "Ada", "email": "ada@new.example"}
    )
    mobile.store.commit_item_change(
        "UPDATE",
        ENTITY,
        "1",
        {"id": "1", "name": "Ada Lovelace", "email": "ada@old.example"},
    )
    say.table(stores)

    say.heading("The sync detects the conflict; the default policy keeps the newest")
    say.sessions(orchestrator.run(initial_source_provider_id="back-office"))

    say.heading("Final state")
    say.table(stores)
    say.line("")
    say.line("conflict log:")
    for log in office.store.get_conflict_logs() + mobile.store.get_conflict_logs():
        say.line(
            f"  on {log.provider_id}: {log.conflict_type.value} for {log.entity_name} "
            f"{log.item_id}, {log.status.value} by {log.policy!r}: "
            f"change {str(log.winner_change_id)[:8]} won over "
            f"{str(log.loser_change_id)[:8]}"
        )
    agree = all(
        office.store.get_item(ENTITY, i) == mobile.store.get_item(ENTITY, i)
        for i in ("1", "2")
    )
    print("\nAll providers agree." if agree else "\nProviders DISAGREE.", file=out)
    return 0 if agree else 1


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.ERROR)  # the narration says what matters
    raise SystemExit(main(sys.argv[1:]))
