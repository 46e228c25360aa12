"""The in-memory backend: commit and sync rates, growth, and session memory.

Every size runs in a fresh interpreter (:func:`harness.isolated`), so one
figure does not inherit the heap another one left behind.
"""

from __future__ import annotations

import gc
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    Result,
    at_least,
    at_most,
    info,
    isolated,
    peak_rss_mb,
    reset_peak_rss,
    rss_mb,
    stopwatch,
)

from maestro_core import ItemVersion, Operation, SyncProvider, create_memory_provider
from maestro_core.testing import make_orchestrator

ENTITY = "bench"
BATCH = 50


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


def _pair() -> tuple[SyncProvider, SyncProvider]:
    return (
        create_memory_provider("source", max_changes_per_session=BATCH),
        create_memory_provider("target"),
    )


def _held_changes(store) -> list:
    return list(store.select_changes(store.provider_id, 0, sys.maxsize))


def copy_rate(changes: list) -> float:
    """The raw baseline: items of *changes* copied into a dict, per second.

    What syncing amounts to at its barest (each change's item lands in the
    target by its key), in plain Python, on the same machine in the same run.
    """
    items: dict[tuple[str, str], dict] = {}
    with stopwatch() as elapsed:
        for change in changes:
            items[(change.entity_name, change.item_id)] = dict(change.item)
    return len(changes) / elapsed()


def _time_session(
    source: SyncProvider, count: int, expected: dict
) -> tuple[float, float]:
    """Wall and CPU seconds to sync all of *source* (*count* changes) into a
    fresh target, starting cold."""
    target = create_memory_provider("target")
    orchestrator = make_orchestrator([source, target], maximum_duration_seconds=3600)
    with stopwatch(cold=True) as elapsed:
        session = orchestrator.synchronize_providers(source.provider_id, "target")
    assert session.sent == count and session.applied == count, session
    assert target.store.get_items(ENTITY) == expected
    return elapsed(), elapsed.cpu


def sync_growth(small: int, large: int, rounds: int) -> dict[str, float]:
    """Sync rates of a *small* and a *large* source, and their ratio.

    Both sources live in one process and are synced into fresh targets in
    alternation, *rounds* times, so that the load of a shared machine weighs
    on both sizes alike; each figure is the median over the rounds. Rates are
    in wall time, the ratio of time per change in CPU time (see
    :class:`harness.Elapsed`).
    """
    sources, expected, commit_rate = {}, {}, {}
    for count in (small, large):
        sources[count] = create_memory_provider(
            f"source-{count}", max_changes_per_session=BATCH
        )
        commit_rate[count] = count / commit_changes(sources[count].store, count)
        expected[count] = sources[count].store.get_items(ENTITY)
    rates: dict[int, list[float]] = {small: [], large: []}
    cpu: dict[int, float] = {}
    ratios = []
    for _ in range(rounds):
        for count in (small, large):
            wall, cpu[count] = _time_session(sources[count], count, expected[count])
            rates[count].append(count / wall)
        ratios.append((cpu[large] / large) / (cpu[small] / small))
    return {
        "commit_small": commit_rate[small],
        "commit_large": commit_rate[large],
        "sync_small": statistics.median(rates[small]),
        "sync_large": statistics.median(rates[large]),
        "ratio": statistics.median(ratios),
        "baseline": copy_rate(_held_changes(sources[large].store)),
    }


def new_changes_growth(
    small: int, large: int, rounds: int, new: int = 1000
) -> dict[str, float]:
    """Seconds to sync *new* changes into a target that already holds a
    *small* or a *large* history, and their ratio (medians over *rounds*,
    in alternation, each round *new* more changes; the ratio in CPU time)."""
    pairs = {}
    for count in (small, large):
        source = create_memory_provider(
            f"source-{count}", max_changes_per_session=BATCH
        )
        target = create_memory_provider(f"target-{count}")
        commit_changes(source.store, count)
        orchestrator = make_orchestrator(
            [source, target], maximum_duration_seconds=3600
        )
        orchestrator.synchronize_providers(source.provider_id, target.provider_id)
        pairs[count] = (source, target, orchestrator)
    times: dict[int, list[float]] = {small: [], large: []}
    cpu: dict[int, float] = {}
    ratios = []
    for round_ in range(rounds):
        for count, (source, target, orchestrator) in pairs.items():
            commit_changes(source.store, new, start=count + round_ * new)
            with stopwatch(cold=True) as elapsed:
                session = orchestrator.synchronize_providers(
                    source.provider_id, target.provider_id
                )
            assert session.sent == new and session.applied == new, session
            times[count].append(elapsed())
            cpu[count] = elapsed.cpu
        ratios.append(cpu[large] / cpu[small])
    return {
        "small": statistics.median(times[small]),
        "large": statistics.median(times[large]),
        "ratio": statistics.median(ratios),
    }


def session_peak(count: int) -> tuple[float, float, bool]:
    """Memory of a session of *count* changes, in MiB above the bare process.

    Returns (peak during the session, held after it, whether the peak could
    be restarted at the session's start; if not it counts from the start of
    the process, which only raises it).
    """
    gc.collect()
    bare = rss_mb()
    source, target = _pair()
    commit_changes(source.store, count)
    orchestrator = make_orchestrator([source, target], maximum_duration_seconds=3600)
    gc.collect()
    restarted = reset_peak_rss()
    session = orchestrator.synchronize_providers("source", "target")
    peak = peak_rss_mb()
    assert session.applied == count, session
    gc.collect()
    return peak - bare, rss_mb() - bare, restarted


def stores_size(count: int) -> tuple[float, float]:
    """RSS in MiB of what both stores hold after a session of *count* changes,
    built without a session: (source alone, source and target).

    The target gets what the applier leaves in it when nothing conflicts:
    the source's change records themselves, a copy of each item, and a
    version per item whose vector is that of its newest change.
    """
    gc.collect()
    bare = rss_mb()
    source, target = _pair()
    commit_changes(source.store, count)
    gc.collect()
    source_only = rss_mb() - bare

    store, cursor = target.store, 0
    while page := source.store.select_changes("source", cursor, BATCH):
        for change in page:
            previous = store.get_item_version(*change.key)
            store.save_change(change)
            store.execute_item_change(
                change.operation, change.entity_name, change.item_id, change.item
            )
            store.save_item_version(
                ItemVersion(
                    entity_name=change.entity_name,
                    item_id=change.item_id,
                    change_id=change.id,
                    operation=change.operation,
                    vector=change.vector
                    if previous is None
                    else previous.vector.merge(change.vector),
                    heads=(change.id,),
                )
            )
            store.observe_timestamp(change.timestamp)
        cursor = page[-1].timestamp
    gc.collect()
    both = rss_mb() - bare
    assert store.get_items(ENTITY) == source.store.get_items(ENTITY)  # after: copies
    return source_only, both


def measure(quick: bool) -> list[Result]:
    small, large = (10_000, 50_000) if quick else (10_000, 100_000)
    growth = isolated(sync_growth, small, large, 2 if quick else 5)
    history = isolated(new_changes_growth, small, large, 3 if quick else 9)
    commit_small, commit_large = growth["commit_small"], growth["commit_large"]
    sync_small, sync_large = growth["sync_small"], growth["sync_large"]
    baseline = growth["baseline"]
    t_small, t_large = history["small"], history["large"]
    peak, held, restarted = isolated(session_peak, large)
    source_only, stores = isolated(stores_size, large)
    return [
        info(
            f"memory: commit_item_change, {large:,} changes", commit_large, "changes/s"
        ),
        info(
            "raw baseline: a dict copy of each item into a dict",
            baseline,
            "items/s",
            f"the {large:,} items of the sync below, same process",
        ),
        at_least(
            f"memory -> memory sync, {large:,} changes",
            sync_large,
            "changes/s",
            20_000,
            f"{baseline / sync_large:.0f}x the time of the raw baseline; "
            f"batches of {BATCH}",
        ),
        info(f"memory -> memory sync, {small:,} changes", sync_small, "changes/s"),
        at_most(
            f"memory: time per change, {large:,} vs {small:,} in one session",
            growth["ratio"],
            "x",
            1.2,
            f"CPU time; wall {1e6 / sync_small:.1f} us vs {1e6 / sync_large:.1f} "
            "us per change",
        ),
        at_most(
            f"memory: sync 1,000 new with {large:,} vs {small:,} in history",
            history["ratio"],
            "x",
            1.3,
            f"CPU time; wall {t_small * 1000:.0f} ms vs {t_large * 1000:.0f} ms",
        ),
        at_most(
            f"memory: session peak RSS above the stores, {large:,} changes",
            peak - stores,
            "MiB",
            50,
            f"peak {peak:.0f} MiB above the bare process"
            f"{'' if restarted else ' (since process start)'}; stores "
            f"{stores:.0f} MiB (source {source_only:.0f}); {held:.0f} MiB "
            "held after the session",
        ),
        info(
            f"memory: stores after {large:,} changes (source and target)",
            stores,
            "MiB",
            "RSS of the stores built without a session, in a fresh process",
        ),
        info(
            f"memory: commit_item_change, {small:,} changes", commit_small, "changes/s"
        ),
    ]


if __name__ == "__main__":
    for result in measure("--quick" in sys.argv[1:]):
        print(f"{result.name:<66} {result.value:>12,.2f} {result.unit} {result.detail}")
