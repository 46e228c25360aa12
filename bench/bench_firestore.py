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


class WireCounts:
    """Document reads, writes and deletes seen in the client's requests and
    responses, counted apart from the store's own counts to check them.

    Billed as Firestore bills them: a write or delete per write in a commit; a
    read per document asked for by a get (found or not); per query, a read
    per document returned and at least one; per aggregation, a read per 1,000
    index entries counted and at least one.
    """

    def __init__(self, client) -> None:
        self.reads = self.writes = self.deletes = 0
        api = client._firestore_api  # the one GAPIC client this client uses
        commit, batch_get = api.commit, api.batch_get_documents
        run_query, aggregate = api.run_query, api.run_aggregation_query

        def counted_commit(*args, request, **kwargs):
            for write in request["writes"]:
                pb = getattr(write, "_pb", write)
                if pb.WhichOneof("operation") == "delete":
                    self.deletes += 1
                else:
                    self.writes += 1
            return commit(*args, request=request, **kwargs)

        def counted_get(*args, **kwargs):
            for response in batch_get(*args, **kwargs):
                self.reads += 1
                yield response

        def counted_query(*args, **kwargs):
            found = 0
            try:
                for response in run_query(*args, **kwargs):
                    found += bool(getattr(response, "_pb", response).document.name)
                    yield response
            finally:
                self.reads += max(1, found)

        def counted_aggregate(*args, **kwargs):
            entries = 0
            try:
                for response in aggregate(*args, **kwargs):
                    for value in response.result.aggregate_fields.values():
                        entries += int(value.integer_value)
                    yield response
            finally:
                self.reads += max(1, -(-entries // 1000))

        api.commit = counted_commit
        api.batch_get_documents = counted_get
        api.run_query = counted_query
        api.run_aggregation_query = counted_aggregate

    def snapshot(self) -> tuple[int, int, int]:
        return (self.reads, self.writes, self.deletes)


def _differences(store_cost, wire: tuple[int, int, int]) -> int:
    """How far the store's count of one phase is from the wire's."""
    own = (store_cost.reads, store_cost.writes, store_cost.deletes)
    return sum(abs(a - b) for a, b in zip(own, wire, strict=True))


def _minus(after: tuple[int, int, int], before: tuple[int, int, int]):
    return tuple(a - b for a, b in zip(after, before, strict=True))


def measure(quick: bool) -> list[Result]:
    from maestro_firestore import create_firestore_provider
    from maestro_firestore.emulator import launch

    count = 500 if quick else 2_000
    emulator = launch()
    try:
        client = emulator.client(f"bench-{uuid.uuid4().hex[:8]}")
        wire = WireCounts(client)
        firestore = create_firestore_provider(client, "firestore")
        store = firestore.store
        mismatch = 0

        # into Firestore: a memory provider's history, applied in batches of 50
        memory, (inserts, updates, deletes) = _memory_history(count)
        orchestrator = make_orchestrator([memory, firestore])
        before, on_wire = store.snapshot_counts(), wire.snapshot()
        with stopwatch() as elapsed:
            into = orchestrator.synchronize_providers("memory", "firestore")
        into_rate = into.applied / elapsed()
        into_cost = store.snapshot_counts() - before
        mismatch += _differences(into_cost, _minus(wire.snapshot(), on_wire))

        # local commits in Firestore, then out of it to a fresh memory provider
        before, on_wire = store.snapshot_counts(), wire.snapshot()
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
        mismatch += _differences(commit_cost, _minus(wire.snapshot(), on_wire))

        receiver = create_memory_provider("receiver")
        before, on_wire = store.snapshot_counts(), wire.snapshot()
        with stopwatch() as elapsed:
            out = make_orchestrator([firestore, receiver]).synchronize_providers(
                "firestore", "receiver"
            )
        out_rate = out.applied / elapsed()
        out_cost = store.snapshot_counts() - before
        mismatch += _differences(out_cost, _minus(wire.snapshot(), on_wire))
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
            "firestore: document writes per applied change",
            _per(into_cost.writes, received),
            "writes",
            3,
            f"all writes of the session over its changes: {detail}",
        ),
        info(
            "firestore: document writes per applied insert or update",
            _per(into_cost.writes - deletes * 2, upserts),
            "writes",
            "item, change and version; plus the clock once per batch and the "
            "session record; a delete: 2 writes + 1 delete",
        ),
        info(
            "firestore: document deletes per applied change",
            _per(into_cost.deletes, received),
            "deletes",
        ),
        at_most(
            "firestore: document reads per applied change",
            _per(into_cost.reads, received),
            "reads",
            1,
            "all reads of the session; versions in 'in' queries of 30 keys",
        ),
        at_most(
            "firestore: store's counts differ from the requests sent",
            mismatch,
            "ops",
            0,
            "reads, writes and deletes counted on the client's calls, all phases",
        ),
        info(
            "firestore: document reads per sent change",
            _per(out_cost.reads, out.applied),
            "reads",
            "each change document read once",
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
