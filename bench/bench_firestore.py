"""Firestore backend: sync rates into and out of the emulator, and the cost
of each synced change in document reads, writes and deletes.

Run alone (``python bench/bench_firestore.py [--quick]``) to print the figures,
or through ``run.py``. Starts its own emulator (the Java one, or the npm
stand-in where the jar is missing) and stops it at the end.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Result, at_most, info, stopwatch

from maestro_core import create_memory_provider
from maestro_core.testing import make_orchestrator

ENTITY = "bench_items"


def _memory_history(count: int):
    """A memory provider with *count* changes: 70% inserts, 20% updates,
    10% deletes."""
    memory = create_memory_provider("memory")
    store = memory.store
    inserts = count * 7 // 10
    updates = count * 2 // 10
    deletes = count - inserts - updates
    for n in range(inserts):
        store.commit_item_change(
            "INSERT", ENTITY, str(n), {"id": str(n), "name": f"item {n}", "count": n}
        )
    for n in range(updates):
        store.commit_item_change(
            "UPDATE", ENTITY, str(n), {"id": str(n), "name": "updated", "count": -n}
        )
    for n in range(inserts - deletes, inserts):
        store.commit_item_change("DELETE", ENTITY, str(n), {"id": str(n)})
    return memory, (inserts, updates, deletes)


def _per(value: int, changes: int) -> float:
    return value / changes if changes else 0.0


def measure(quick: bool) -> list[Result]:
    from maestro_firestore import create_firestore_provider
    from maestro_firestore.emulator import launch

    count = 500 if quick else 2_000
    emulator = launch()
    try:
        client = emulator.client(f"bench-{uuid.uuid4().hex[:8]}")
        firestore = create_firestore_provider(client, "firestore")
        store = firestore.store

        # into Firestore: a memory provider's history, applied in batches of 50
        memory, (inserts, updates, deletes) = _memory_history(count)
        orchestrator = make_orchestrator([memory, firestore])
        before = store.snapshot_counts()
        with stopwatch() as elapsed:
            into = orchestrator.synchronize_providers("memory", "firestore")
        into_rate = into.applied / elapsed()
        into_cost = store.snapshot_counts() - before

        # local commits in Firestore, then out of it to a fresh memory provider
        before = store.snapshot_counts()
        with stopwatch() as elapsed:
            for n in range(count):
                store.commit_item_change(
                    "UPDATE",
                    ENTITY,
                    f"f{n}",
                    {"id": f"f{n}", "collection_name": ENTITY, "count": n},
                )
        commit_rate = count / elapsed()
        commit_cost = store.snapshot_counts() - before

        receiver = create_memory_provider("receiver")
        before = store.snapshot_counts()
        with stopwatch() as elapsed:
            out = make_orchestrator([firestore, receiver]).synchronize_providers(
                "firestore", "receiver"
            )
        out_rate = out.applied / elapsed()
        out_cost = store.snapshot_counts() - before
        client.close()
    finally:
        emulator.stop()

    received = into.applied
    upserts = inserts + updates
    detail = (
        f"{emulator.kind} emulator; {inserts} inserts, {updates} updates, "
        f"{deletes} deletes in batches of 50, one session"
    )
    return [
        info(f"memory -> firestore sync, {received:,} changes", into_rate, "changes/s"),
        info(
            f"firestore -> memory sync, {out.applied:,} changes", out_rate, "changes/s"
        ),
        info(
            f"firestore: commit_item_change, {count:,} changes",
            commit_rate,
            "changes/s",
        ),
        at_most(
            "firestore: document writes per received change (incl. session)",
            _per(into_cost.writes, received),
            "writes",
            3.1,
            detail,
        ),
        info(
            "firestore: document writes per received insert or update",
            _per(into_cost.writes - deletes * 2, upserts),
            "writes",
            "item, change and version; a delete: 2 writes + 1 delete",
        ),
        info(
            "firestore: document deletes per received change",
            _per(into_cost.deletes, received),
            "deletes",
        ),
        at_most(
            "firestore: document reads per received change",
            _per(into_cost.reads, received),
            "reads",
            1.1,
        ),
        at_most(
            "firestore: document reads per sent change",
            _per(out_cost.reads, out.applied),
            "reads",
            1.1,
        ),
        info(
            "firestore: document writes per sent change",
            _per(out_cost.writes, out.applied),
            "writes",
        ),
        info(
            "firestore: document reads per local commit",
            _per(commit_cost.reads, count),
            "reads",
        ),
        info(
            "firestore: document writes per local commit",
            _per(commit_cost.writes, count),
            "writes",
        ),
    ]


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    for result in measure(quick):
        verdict = {True: "met", False: "MISSED", None: ""}[result.ok]
        print(
            f"{result.name:<64} {result.value:>10.2f} {result.unit:<9} "
            f"{result.target:<8} {verdict} {result.detail}"
        )


if __name__ == "__main__":
    main()
