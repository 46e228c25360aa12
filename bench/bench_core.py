"""The in-memory backend: commit and sync rates, growth, and session memory."""

from __future__ import annotations

import gc
import tracemalloc

from harness import Result, at_least, at_most, info, isolated, stopwatch

from maestro_core import Operation, SyncProvider, create_memory_provider
from maestro_core.testing import make_orchestrator

ENTITY = "bench"


def commit_changes(store, count: int, start: int = 0) -> float:
    """Commit *count* changes, half inserts and half updates; return seconds."""
    items = max(1, count // 2)
    with stopwatch() as elapsed:
        for n in range(start, start + count):
            item_id = str(n % items + start)
            store.commit_item_change(
                Operation.INSERT if n - start < items else Operation.UPDATE,
                ENTITY,
                item_id,
                {"id": item_id, "n": n, "name": f"item {n}", "score": n * 0.5},
            )
    return elapsed()


def _pair(batch: int = 50) -> tuple[SyncProvider, SyncProvider]:
    return (
        create_memory_provider("source", max_changes_per_session=batch),
        create_memory_provider("target"),
    )


def sync_rate(count: int) -> tuple[float, float]:
    """Changes committed and synced per second for *count* changes."""
    source, target = _pair()
    commit_seconds = commit_changes(source.store, count)
    orchestrator = make_orchestrator([source, target], maximum_duration_seconds=3600)
    with stopwatch() as elapsed:
        session = orchestrator.synchronize_providers("source", "target")
    assert session.sent == count and session.status.value == "SUCCEEDED"
    return count / commit_seconds, count / elapsed()


def sync_new_changes(history: int, new: int = 1000) -> float:
    """Seconds to sync *new* changes when *history* changes were synced before."""
    source, target = _pair()
    commit_changes(source.store, history)
    orchestrator = make_orchestrator([source, target], maximum_duration_seconds=3600)
    orchestrator.synchronize_providers("source", "target")
    commit_changes(source.store, new, start=history)
    with stopwatch() as elapsed:
        session = orchestrator.synchronize_providers("source", "target")
    assert session.sent == new
    return elapsed()


def session_memory(count: int) -> tuple[float, float]:
    """Peak traced memory of a session above what the stores hold after it.

    Returns (overhead MiB, stores MiB).
    """
    source, target = _pair()
    commit_changes(source.store, count)
    orchestrator = make_orchestrator([source, target], maximum_duration_seconds=3600)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        orchestrator.synchronize_providers("source", "target")
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - after) / 2**20, (after - before) / 2**20


def measure(quick: bool) -> list[Result]:
    small, large = (10_000, 100_000) if not quick else (5_000, 20_000)
    commit_small, sync_small = isolated(sync_rate, small)
    commit_large, sync_large = isolated(sync_rate, large)
    t_small = isolated(sync_new_changes, small)
    t_large = isolated(sync_new_changes, large)
    overhead, stores = isolated(session_memory, large)
    return [
        info(
            f"memory: commit_item_change, {large:,} changes", commit_large, "changes/s"
        ),
        info(f"memory -> memory sync, {small:,} changes", sync_small, "changes/s"),
        at_least(
            f"memory -> memory sync, {large:,} changes", sync_large, "changes/s", 20_000
        ),
        at_most(
            f"memory: time per change, {large:,} vs {small:,} in one session",
            sync_small / sync_large,
            "x",
            1.2,
        ),
        at_most(
            f"memory: sync 1,000 new with {large:,} vs {small:,} in history",
            t_large / t_small,
            "x",
            1.3,
            f"{t_small * 1000:.0f} ms vs {t_large * 1000:.0f} ms",
        ),
        at_most(
            f"memory: session peak above the stores, {large:,} changes",
            overhead,
            "MiB",
            50,
            f"stores hold {stores:.0f} MiB after the session",
        ),
        info("memory: commit rate, small run", commit_small, "changes/s"),
    ]
