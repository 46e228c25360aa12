"""Throughput and memory of the in-memory backend.

Prints, for 10,000 and 100,000 changes: changes committed per second, changes
synced per second from one in-memory provider to another, and the peak
memory the session added on top of the two stores.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
import tracemalloc

from maestro_core import Operation, create_memory_provider
from maestro_core.testing import make_orchestrator


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def commit_changes(store, count: int) -> float:
    """Commit *count* changes (inserts, then updates of the same items)."""
    items = max(1, count // 2)
    started = time.perf_counter()
    for n in range(count):
        item_id = str(n % items)
        store.commit_item_change(
            Operation.INSERT if n < items else Operation.UPDATE,
            "bench",
            item_id,
            {"id": item_id, "n": n, "name": f"item {n}", "score": n * 0.5},
        )
    return time.perf_counter() - started


def measure(count: int, batch: int, trace_memory: bool) -> dict[str, float]:
    source = create_memory_provider("source", max_changes_per_session=batch)
    target = create_memory_provider("target")
    commit_seconds = commit_changes(source.store, count)
    orchestrator = make_orchestrator([source, target], maximum_duration_seconds=3600)
    gc.collect()
    if trace_memory:
        tracemalloc.start()
    rss_before = _rss_mb()
    started = time.perf_counter()
    session = orchestrator.synchronize_providers("source", "target")
    sync_seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace_memory else float("nan")
    if trace_memory:
        tracemalloc.stop()
    assert session.sent == count, session
    return {
        "changes": count,
        "batch": batch,
        "commit_per_s": count / commit_seconds,
        "sync_per_s": count / sync_seconds,
        "sync_s": sync_seconds,
        "session_peak_traced_mb": peak,
        "rss_growth_mb": _rss_mb() - rss_before,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument(
        "--memory", action="store_true", help="trace allocations (slower)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = [measure(int(n), args.batch, args.memory) for n in args.sizes.split(",")]
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
    else:
        for row in rows:
            print(
                f"{row['changes']:>7} changes  commit {row['commit_per_s']:>9,.0f}/s  "
                f"sync {row['sync_per_s']:>9,.0f}/s  session peak "
                f"{row['session_peak_traced_mb']:.1f} MB  "
                f"rss +{row['rss_growth_mb']:.1f} MB"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
