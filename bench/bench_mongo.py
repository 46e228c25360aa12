"""MongoDB backend on SecantusDB: commit cost against plain inserts, sync rates
both ways, applying remote changes against ``insert_many``, and growth with
the history held.

Run alone (``python bench/bench_mongo.py [--quick]``) to print the figures,
or through ``run.py``. Starts a SecantusDB server process (in memory, replica
set mode, so every Maestro write commits in a MongoDB transaction), as a real
``mongod`` runs beside its clients, and stops it at the end. Times are
wall-clock: the server's work counts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Result, at_least, at_most, info, stopwatch

from maestro_core import ItemChange, Operation, create_memory_provider
from maestro_core.testing import make_orchestrator

ENTITY = "bench_items"
BATCH = 50


def _command_counter():
    """A listener counting the commands a client sends (each a round trip)."""
    from pymongo import monitoring

    class Commands(monitoring.CommandListener):
        count = 0

        def started(self, event) -> None:
            self.count += 1

        def succeeded(self, event) -> None:
            pass

        def failed(self, event) -> None:
            pass

    return Commands()


@dataclass
class _Cost:
    """What one stretch of work took: wall-clock seconds, CPU seconds of the
    client and of the server process, and commands sent."""

    seconds: float
    client_cpu: float
    server_cpu: float
    commands: int


@contextmanager
def _costing(server, commands) -> Iterator[list[_Cost]]:
    """Measure a block; its :class:`_Cost` is in the yielded list after it."""
    found: list[_Cost] = []
    with stopwatch() as elapsed:
        client_cpu, server_cpu = time.process_time(), server.cpu_seconds()
        sent = commands.count
        yield found
        client_cpu = time.process_time() - client_cpu
        server_cpu = server.cpu_seconds() - server_cpu
        sent = commands.count - sent
    found.append(_Cost(elapsed(), client_cpu, server_cpu, sent))


def _fields(n: int) -> dict:
    return {"name": f"item {n}", "count": n, "score": n * 0.5, "tags": ["a", "b"]}


def _commit_against_insert(client, count: int, server, commands) -> tuple[_Cost, _Cost]:
    """What *count* ``commit_item_change`` and as many ``insert_one`` of the
    same documents take; alternating rounds, so both see the same load. The
    CPU time of client and server is disturbed less than wall-clock time by
    other processes on a shared machine."""
    from maestro_mongo import create_mongo_store, item_to_document

    store = create_mongo_store(client=client, database_name=_name("commit"))
    plain = store.collection("plain_inserts")
    rounds = 4
    per_round = count // rounds
    commits: list[_Cost] = []
    inserts: list[_Cost] = []
    for r in range(rounds):
        ids = [f"{r}-{n}" for n in range(per_round)]
        documents = [
            item_to_document({"id": i, **_fields(n)}) for n, i in enumerate(ids)
        ]
        with _costing(server, commands) as inserted:
            for document in documents:
                plain.insert_one(document)
        inserts += inserted
        with _costing(server, commands) as committed:
            for n, item_id in enumerate(ids):
                store.commit_item_change(
                    operation=Operation.INSERT,
                    entity_name=ENTITY,
                    item_id=item_id,
                    item={"id": item_id, "collection_name": ENTITY, **_fields(n)},
                )
        commits += committed
    return _total(commits), _total(inserts)


def _total(costs: list[_Cost]) -> _Cost:
    return _Cost(
        sum(c.seconds for c in costs),
        sum(c.client_cpu for c in costs),
        sum(c.server_cpu for c in costs),
        sum(c.commands for c in costs),
    )


def _per(cost: _Cost, units: float) -> str:
    """One stretch's cost per unit: round trips, client and server CPU."""
    return (
        f"{cost.commands / units:.1f} round trips, "
        f"client CPU {1000 * cost.client_cpu / units:.2f} ms, "
        f"server CPU {1000 * cost.server_cpu / units:.2f} ms"
    )


def _name(what: str) -> str:
    return f"bench_{what}_{uuid.uuid4().hex[:8]}"


def _memory_history(count: int, provider_id: str = "memory"):
    """A memory provider with *count* changes: 70% inserts, 20% updates,
    10% deletes."""
    memory = create_memory_provider(provider_id, max_changes_per_session=BATCH)
    store = memory.store
    inserts = count * 7 // 10
    updates = count * 2 // 10
    for n in range(inserts):
        store.commit_item_change("INSERT", ENTITY, str(n), {"id": str(n), **_fields(n)})
    for n in range(updates):
        store.commit_item_change(
            "UPDATE", ENTITY, str(n), {"id": str(n), **_fields(-n)}
        )
    for n in range(inserts - (count - inserts - updates), inserts):
        store.commit_item_change("DELETE", ENTITY, str(n), {"id": str(n)})
    return memory


def _sync_rates(client, count: int) -> tuple[float, float, int]:
    """Changes per second from memory into MongoDB, then out to a new memory."""
    from maestro_mongo import create_mongo_provider

    mongo = create_mongo_provider(
        client=client, database_name=_name("sync"), max_changes_per_session=BATCH
    )
    memory = _memory_history(count)
    with stopwatch() as elapsed:
        into = make_orchestrator([memory, mongo]).synchronize_providers(
            "memory", "mongo"
        )
    into_rate = into.applied / elapsed()
    receiver = create_memory_provider("receiver")
    with stopwatch() as elapsed:
        out = make_orchestrator([mongo, receiver]).synchronize_providers(
            "mongo", "receiver"
        )
    return into_rate, out.applied / elapsed(), into.applied


def _apply_against_insert_many(
    client, count: int, server, commands
) -> tuple[_Cost, _Cost]:
    """What it takes to apply *count* remote inserts in batches of BATCH, and
    to ``insert_many`` the same documents in batches of the same size."""
    from maestro_mongo import create_mongo_provider, item_to_document

    mongo = create_mongo_provider(
        client=client, database_name=_name("apply"), max_changes_per_session=BATCH
    )
    memory = create_memory_provider("memory", max_changes_per_session=BATCH)
    for n in range(count):
        memory.store.commit_item_change(
            "INSERT", ENTITY, str(n), {"id": str(n), **_fields(n)}
        )
    documents = [
        item_to_document(memory.store.get_item(ENTITY, str(n))) for n in range(count)
    ]
    plain = mongo.store.collection("plain_batches")
    with _costing(server, commands) as inserted:
        for start in range(0, count, BATCH):
            plain.insert_many(documents[start : start + BATCH])
    with _costing(server, commands) as applied:
        session = make_orchestrator([memory, mongo]).synchronize_providers(
            "memory", "mongo"
        )
    assert session.applied == count, session
    return applied[0], inserted[0]


def _inserts_in_transactions(client, count: int, server, commands) -> tuple:
    """What ``insert_many`` of *count* documents in batches of BATCH takes
    each batch in a transaction of its own (with its commit), and outside
    one, alternating; and the same for upserts (``bulk_write`` of
    ``ReplaceOne(upsert=True)``) of new documents in transactions."""
    from maestro_mongo import item_to_document
    from pymongo import ReplaceOne

    database = client[_name("transactions")]
    costs: dict[str, list[_Cost]] = {"outside": [], "inside": [], "upserts": []}
    for start in range(0, count, BATCH):
        for way, found in costs.items():
            documents = [
                item_to_document({"id": f"{way}-{n}", **_fields(n)})
                for n in range(start, min(count, start + BATCH))
            ]
            collection = database[way]
            with _costing(server, commands) as cost:
                if way == "outside":
                    collection.insert_many(documents)
                else:
                    with client.start_session() as session:
                        session.start_transaction()
                        if way == "inside":
                            collection.insert_many(documents, session=session)
                        else:
                            upserts = [
                                ReplaceOne({"_id": d["_id"]}, d, upsert=True)
                                for d in documents
                            ]
                            collection.bulk_write(upserts, session=session)
                        session.commit_transaction()
            found += cost
    return tuple(_total(costs[way]) for way in ("inside", "outside", "upserts"))


def _load_history(store, count: int, origin: str) -> ItemChange | None:
    """Put *count* changes of *origin* (with items and versions) straight into
    the store's collections, as a long-running provider would hold them."""
    from maestro_mongo import item_to_document
    from maestro_mongo._journal import STATE_ID
    from maestro_mongo._records import change_to_document, knowledge_field, version_id

    last = None
    base = 1_600_000_000_000_000
    for start in range(0, count, 5_000):
        changes, versions, items = [], [], []
        for n in range(start, min(count, start + 5_000)):
            item_id = f"h{n}"
            item = {"id": item_id, **_fields(n)}
            last = ItemChange(
                id=uuid.uuid4().hex,
                operation=Operation.INSERT,
                entity_name=ENTITY,
                item_id=item_id,
                item=item,
                origin=origin,
                timestamp=base + n,
                vector={origin: base + n},
            )
            changes.append(change_to_document(last))
            items.append(item_to_document(item))
            versions.append(
                {
                    "_id": version_id(ENTITY, item_id),
                    "entity_name": ENTITY,
                    "item_id": item_id,
                    "change_id": last.id,
                    "operation": "INSERT",
                    "vector": [[origin, base + n]],
                    "heads": [last.id],
                }
            )
        store.collection(store.changes_name).insert_many(changes)
        store.collection(store.versions_name).insert_many(versions)
        store.collection(ENTITY).insert_many(items)
    if last is not None:
        store.collection(store.versions_name).update_one(
            {"_id": STATE_ID},
            {
                "$max": {
                    "value": last.timestamp,
                    f"knowledge.{knowledge_field(origin)}": last.timestamp,
                }
            },
            upsert=True,
        )
    return last


def _growth(sizes: tuple[int, int], new: int) -> dict[int, tuple[float, float]]:
    """For each history size: median seconds to sync *new* changes into
    MongoDB, and out of it (three rounds each).

    Each size gets a server of its own, so that no size pays for the data
    another one left, and the rounds alternate between the sizes, so that
    both see the same load on a shared machine. The history is put straight
    into the collections; the receiver of the changes going out holds the
    newest change of it (and so knows the rest), as a provider that has
    synced before. The changes going out update items of the history; those
    coming in insert new ones.
    """
    import statistics

    import pymongo
    from maestro_mongo import create_mongo_provider

    times: dict[int, tuple[list[float], list[float]]] = {n: ([], []) for n in sizes}
    with ExitStack() as stack:
        setups = {}
        for history in sizes:
            server = stack.enter_context(_secantus_server())
            client = stack.enter_context(pymongo.MongoClient(server.uri))
            mongo = create_mongo_provider(
                client=client,
                database_name=_name("grow"),
                max_changes_per_session=BATCH,
            )
            last = _load_history(mongo.store, history, "mongo")
            receiver = create_memory_provider("receiver")
            receiver.store.run_in_transaction(
                lambda r=receiver, c=last: r.store.save_change(c)
            )
            memory = create_memory_provider("memory", max_changes_per_session=BATCH)
            setups[history] = (mongo, receiver, memory)

        for round_ in range(3):
            for history, (mongo, receiver, _) in setups.items():
                for n in range(new):
                    item_id = f"h{(round_ * new + n) * (history // (3 * new))}"
                    mongo.store.commit_item_change(
                        "UPDATE",
                        ENTITY,
                        item_id,
                        {"id": item_id, "collection_name": ENTITY, "round": round_},
                    )
                with stopwatch() as elapsed:
                    out = make_orchestrator([mongo, receiver]).synchronize_providers(
                        "mongo", "receiver"
                    )
                assert out.sent == new, out
                times[history][1].append(elapsed())
        for round_ in range(3):
            for history, (mongo, _, memory) in setups.items():
                for n in range(new):
                    item_id = f"new{round_}-{n}"
                    memory.store.commit_item_change(
                        "INSERT", ENTITY, item_id, {"id": item_id, **_fields(n)}
                    )
                with stopwatch() as elapsed:
                    into = make_orchestrator([memory, mongo]).synchronize_providers(
                        "memory", "mongo"
                    )
                assert into.applied == new, into
                times[history][0].append(elapsed())
    return {
        n: (statistics.median(ins), statistics.median(outs))
        for n, (ins, outs) in times.items()
    }


@contextmanager
def _phase(what: str) -> Iterator[None]:
    """Say on stderr how long one part of the module took."""
    with stopwatch() as elapsed:
        yield
    print(f"  bench_mongo: {what}: {elapsed():.0f} s", file=sys.stderr)


@dataclass
class _Server:
    uri: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _secantus_server() -> Iterator[_Server]:
    """A SecantusDB server in a process of its own."""
    import pymongo

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "secantus",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            ":memory:",
            "--log-level",
            "WARNING",
        ]
    )
    uri = f"mongodb://127.0.0.1:{port}/"
    try:
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=30_000) as client:
            client.admin.command("ping")
        yield _Server(uri, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def measure(quick: bool) -> list[Result]:
    import pymongo

    commits = 400 if quick else 2_000
    synced = 2_000 if quick else 10_000
    applied = 1_000 if quick else 5_000
    small, large = (2_000, 20_000) if quick else (10_000, 100_000)
    new = 500 if quick else 1_000

    commands = _command_counter()
    with ExitStack() as stack:
        server = stack.enter_context(_secantus_server())
        client = stack.enter_context(
            pymongo.MongoClient(server.uri, event_listeners=[commands])
        )
        with _phase("commits against insert_one"):
            commit, insert = _commit_against_insert(client, commits, server, commands)
        with _phase("sync rates"):
            into_rate, out_rate, moved = _sync_rates(client, synced)
        with _phase("applying against insert_many"):
            applied_cost, batches_cost = _apply_against_insert_many(
                client, applied, server, commands
            )
        with _phase("inserts inside and outside transactions"):
            inside, outside, upserts = _inserts_in_transactions(
                client, applied, server, commands
            )
    with _phase("growth"):
        growth = _growth((small, large), new)
    (small_in, small_out), (large_in, large_out) = growth[small], growth[large]
    committed = commits // 4 * 4
    batches = -(-applied // BATCH)

    def cpu(cost: _Cost) -> float:
        return cost.client_cpu + cost.server_cpu

    return [
        at_most(
            "mongo: commit_item_change time / plain insert_one time",
            commit.seconds / insert.seconds,
            "x",
            3,
            f"{committed / commit.seconds:,.0f} commits/s against "
            f"{committed / insert.seconds:,.0f} insert_one/s, {committed:,} "
            f"documents; per commit {_per(commit, committed)}; per insert_one "
            f"{_per(insert, committed)}",
        ),
        info(
            "mongo: commit_item_change CPU time / insert_one CPU time",
            cpu(commit) / cpu(insert),
            "x",
            "client and server process together",
        ),
        info(f"memory -> mongo sync, {moved:,} changes", into_rate, "changes/s"),
        info(f"mongo -> memory sync, {moved:,} changes", out_rate, "changes/s"),
        at_least(
            "mongo: applying remote inserts / insert_many, same batches",
            100 * batches_cost.seconds / applied_cost.seconds,
            "%",
            40,
            f"{applied / applied_cost.seconds:,.0f} changes/s applied against "
            f"{applied / batches_cost.seconds:,.0f} documents/s by insert_many, "
            f"batches of {BATCH}; per batch applied {_per(applied_cost, batches)}; "
            f"per insert_many {_per(batches_cost, batches)}",
        ),
        info(
            "mongo: applying remote inserts, CPU time / insert_many CPU time",
            cpu(applied_cost) / cpu(batches_cost),
            "x",
            "client and server process together",
        ),
        info(
            "mongo: insert_many in a transaction / outside one, same batches",
            inside.seconds / outside.seconds,
            "x",
            f"with the commit; per batch in a transaction {_per(inside, batches)}; "
            f"outside {_per(outside, batches)}",
        ),
        info(
            "mongo: upserts of new documents / inserts, in transactions",
            upserts.seconds / inside.seconds,
            "x",
            f"per batch of upserts {_per(upserts, batches)}",
        ),
        at_most(
            f"mongo: {new:,} new changes into mongo, history {large:,} / {small:,}",
            large_in / small_in,
            "x",
            1.3,
            f"{small_in:.2f} s with {small:,} held, {large_in:.2f} s with {large:,}",
        ),
        at_most(
            f"mongo: {new:,} new changes out of mongo, history {large:,} / {small:,}",
            large_out / small_out,
            "x",
            1.3,
            f"{small_out:.2f} s with {small:,} held, {large_out:.2f} s with {large:,}",
        ),
    ]


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    for result in measure(quick):
        verdict = {True: "met", False: "MISSED", None: ""}[result.ok]
        print(
            f"{result.name:<66} {result.value:>10.2f} {result.unit:<9} "
            f"{result.target:<8} {verdict} {result.detail}"
        )


if __name__ == "__main__":
    main()
