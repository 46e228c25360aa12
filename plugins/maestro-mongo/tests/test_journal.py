"""Without transactions: a writer that dies mid-journal is rolled forward."""

from __future__ import annotations

import pytest
from maestro_mongo import MongoDataStore
from maestro_mongo._writes import write_groups

from maestro_core import (
    ItemVersion,
    Operation,
    SyncProvider,
    create_memory_provider,
)
from maestro_core.testing import held_change_ids, make_orchestrator

LEASE = 0.3


class Died(BaseException):
    """The writing process stops here."""


def _store(client, name: str) -> MongoDataStore:
    return MongoDataStore(
        client[name], "mongo", transactions=False, write_lease_seconds=LEASE
    )


def _commit(store: MongoDataStore, item_id: str, title: str):
    return store.commit_item_change(
        operation=Operation.INSERT,
        entity_name="tasks",
        item_id=item_id,
        item={"id": item_id, "collection_name": "tasks", "title": title},
    )


def _die_while_applying(store: MongoDataStore, monkeypatch, runs: int) -> None:
    """Make *store* die after applying *runs* runs of its next write set."""

    def apply(entry):
        for collection, run in write_groups(entry["writes"])[:runs]:
            store.collection(collection).bulk_write(run, ordered=True)
        raise Died()

    monkeypatch.setattr(store, "_apply_journaled", apply)
    # a dead process gives nothing back: its lease has to run out
    monkeypatch.setattr(store, "_release_write_lease", lambda: None)


def _assert_complete(store: MongoDataStore, change, title: str) -> None:
    assert store.get_item("tasks", change.item_id) == {
        "id": change.item_id,
        "title": title,
    }
    assert store.get_changes([change.id]) == {change.id: change}
    assert store.get_item_version("tasks", change.item_id).change_id == change.id
    assert store.get_knowledge().get("mongo") >= change.timestamp


@pytest.mark.parametrize("runs", [0, 1, 2, 3], ids=lambda n: f"after-{n}-runs")
def test_a_crash_is_rolled_forward_when_the_store_next_opens(
    mongomock_client, new_database_name, monkeypatch, runs
):
    name = new_database_name()
    dying = _store(mongomock_client, name)
    before = _commit(dying, "0", "committed before")
    _die_while_applying(dying, monkeypatch, runs)
    with pytest.raises(Died):
        _commit(dying, "1", "interrupted")
    journal = dying.collection(dying.journal_name)
    (entry,) = journal.find()
    if runs < 3:
        assert dying.get_knowledge().get("mongo") == before.timestamp, (
            "the knowledge moves last"
        )
    assert len(write_groups(entry["writes"])) == 3

    successor = _store(mongomock_client, name)  # waits for the lease to run out
    assert journal.count_documents({}) == 0
    (change,) = successor.select_changes("mongo", before.timestamp, 10)
    _assert_complete(successor, change, "interrupted")
    _assert_complete(successor, before, "committed before")

    memory = create_memory_provider("memory")
    make_orchestrator([SyncProvider(successor), memory]).run("mongo")
    assert held_change_ids(memory.store) == {before.id, change.id}


def test_a_crash_is_rolled_forward_by_the_next_transaction(
    mongomock_client, new_database_name, monkeypatch
):
    store = _store(mongomock_client, new_database_name())
    _die_while_applying(store, monkeypatch, 1)
    with pytest.raises(Died):
        _commit(store, "1", "interrupted")
    monkeypatch.undo()  # the same process goes on
    later = _commit(store, "2", "later")
    assert store.collection(store.journal_name).count_documents({}) == 0
    (first,) = store.select_changes("mongo", 0, 1)
    _assert_complete(store, first, "interrupted")
    _assert_complete(store, later, "later")
    assert first.timestamp < later.timestamp


def test_a_failure_before_the_journal_writes_nothing(
    mongomock_client, new_database_name
):
    store = _store(mongomock_client, new_database_name())

    def fail() -> None:
        store.save_item_version(
            store.get_item_version("tasks", "1")
            or ItemVersion(
                entity_name="tasks",
                item_id="1",
                change_id="c",
                operation=Operation.INSERT,
                vector={"mongo": 1},
                heads=("c",),
            )
        )
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        store.run_in_transaction(fail)
    assert store.get_item_version("tasks", "1") is None
    assert store.collection(store.journal_name).count_documents({}) == 0


def test_a_refused_document_puts_back_those_written_before_it(
    mongomock_client, new_database_name
):
    store = _store(mongomock_client, new_database_name())
    users = store.collection("users")
    users.create_index("email", unique=True)
    users.insert_many([{"_id": "1", "email": "a@x"}, {"_id": "2", "email": "b@x"}])

    def write_both() -> None:
        store.execute_item_change(
            Operation.UPDATE, "users", "1", {"id": "1", "email": "new@x"}
        )
        store.execute_item_change(
            Operation.INSERT, "users", "3", {"id": "3", "email": "b@x"}
        )

    with pytest.raises(Exception, match="E11000"):
        store.run_in_transaction(write_both)
    assert users.find_one({"_id": "1"}) == {"_id": "1", "email": "a@x"}
    assert users.find_one({"_id": "3"}) is None
    assert store.collection(store.journal_name).count_documents({}) == 0


def test_a_batch_with_a_refused_document_defers_only_that_change(
    mongomock_client, new_database_name
):
    store = _store(mongomock_client, new_database_name())
    store.collection("users").create_index("email", unique=True)
    memory = create_memory_provider("memory")
    for n, email in enumerate(["a@x", "b@x", "a@x", "c@x"]):
        memory.store.commit_item_change(
            "INSERT", "users", str(n), {"id": str(n), "email": email}
        )
    session = make_orchestrator([memory, SyncProvider(store)]).synchronize_providers(
        "memory", "mongo"
    )
    assert (session.applied, session.deferred) == (3, 1)
    assert store.get_item("users", "2") is None
    assert {store.get_item("users", n)["email"] for n in "013"} == {"a@x", "b@x", "c@x"}
    assert store.collection(store.journal_name).count_documents({}) == 0
