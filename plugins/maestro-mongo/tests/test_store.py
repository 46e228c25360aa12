"""The store beyond the conformance kit: routing, bad input, indexes, threads."""

from __future__ import annotations

import threading

import pymongo
import pytest
from maestro_mongo import (
    MongoDataStore,
    create_mongo_provider,
    create_mongo_store,
    supports_transactions,
)

from maestro_core import InvalidItemError, Operation, create_memory_provider
from maestro_core.testing import held_change_ids, make_orchestrator


def _commit(store, item, *, entity="tasks", item_id="1", operation=Operation.INSERT):
    return store.commit_item_change(
        operation=operation, entity_name=entity, item_id=item_id, item=item
    )


def _nothing_stored(store: MongoDataStore) -> None:
    database = store.database
    assert store.get_knowledge().to_dict() == {}
    assert database[store.changes_name].count_documents({}) == 0
    assert database[store.versions_name].count_documents({"_id": {"$ne": "clock"}}) == 0
    users = [
        name
        for name in database.list_collection_names()
        if not name.startswith(store.collection_prefix)
    ]
    assert all(database[name].count_documents({}) == 0 for name in users), users


def test_the_mode_follows_the_server(secantus_client, mongomock_client):
    assert supports_transactions(secantus_client["x"])
    assert not supports_transactions(mongomock_client["x"])
    assert create_mongo_store(client=secantus_client, database_name="m1").transactional
    assert not create_mongo_store(
        client=mongomock_client, database_name="m1"
    ).transactional


def test_collections_carry_the_prefix_and_the_indexes(any_client, new_database_name):
    store = create_mongo_store(
        client=any_client, database_name=new_database_name(), collection_prefix="mx_"
    )
    _commit(store, {"id": "1", "collection_name": "tasks", "title": "a"})
    names = set(store.database.list_collection_names())
    assert {"mx_changes", "mx_versions", "tasks"} <= names
    assert not any(n.startswith("maestro_") for n in names)
    indexes = store.database["mx_changes"].index_information()
    (by_origin,) = [i for i in indexes.values() if i["key"][0][0] == "origin"]
    assert by_origin["key"] == [("origin", 1), ("timestamp", 1)]
    assert by_origin.get("unique")


@pytest.mark.parametrize(
    ("item", "entity", "error", "key"),
    [
        ({"collection_name": "tasks"}, "tasks", "has no 'id' field", "id"),
        ({"id": "2", "collection_name": "tasks"}, "tasks", "'id' '2'", "id"),
        ({"id": "1"}, "tasks", "has no 'collection_name' field", "collection_name"),
        (
            {"id": "1", "collection_name": "notes"},
            "tasks",
            "'collection_name' 'notes'; expected it to equal the entity name 'tasks'",
            "collection_name",
        ),
        (
            {"id": "1", "collection_name": "tasks", "x": object()},
            "tasks",
            "cannot carry",
            "x",
        ),
        ({"id": "1", "collection_name": "tasks", "n": 2**70}, "tasks", "64 bits", "n"),
        (
            {"id": "1", "collection_name": "tasks", "_id": 1},
            "tasks",
            "field '_id', which the MongoDB backend reserves",
            "_id",
        ),
        (
            {"id": "1", "collection_name": "a$b"},
            "a$b",
            "entity name 'a$b'",
            "entity_name",
        ),
        (
            {"id": "1", "collection_name": "system.users"},
            "system.users",
            "entity name 'system.users'",
            "entity_name",
        ),
        (
            {"id": "1", "collection_name": "maestro_changes"},
            "maestro_changes",
            "Maestro's prefix 'maestro_'",
            "entity_name",
        ),
        (
            {"id": "1", "collection_name": ""},
            "",
            "entity_name '' is not valid",
            "entity_name",
        ),
    ],
    ids=[
        "missing-id",
        "mismatched-id",
        "missing-collection-name",
        "mismatched-collection-name",
        "unencodable",
        "too-large-integer",
        "underscore-id",
        "dollar-in-entity",
        "system-entity",
        "prefixed-entity",
        "empty-entity",
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(
    any_client, new_database_name, item, entity, error, key
):
    store = create_mongo_store(client=any_client, database_name=new_database_name())
    with pytest.raises(InvalidItemError, match=error.replace("$", r"\$")) as caught:
        _commit(store, item, entity=entity)
    assert caught.value.key == key or caught.value.key.startswith(key)
    if key in ("id", "collection_name"):
        assert "item '1'" in str(caught.value), "the message names the item"
    _nothing_stored(store)


def test_a_too_precise_decimal_is_refused(any_client, new_database_name):
    import decimal

    store = create_mongo_store(client=any_client, database_name=new_database_name())
    value = decimal.Decimal("1." + "1" * 40)
    with pytest.raises(InvalidItemError, match="does not fit in Decimal128"):
        _commit(store, {"id": "1", "collection_name": "tasks", "d": value})
    _nothing_stored(store)


def test_bad_factory_arguments_are_refused(secantus_client):
    with pytest.raises(ValueError, match="database name 'a/b' is not valid"):
        create_mongo_store(client=secantus_client, database_name="a/b")
    with pytest.raises(TypeError, match="is not a MongoClient"):
        create_mongo_store(client="mongodb://x", database_name="db")
    with pytest.raises(ValueError, match=r"collection prefix 'a\$' is not valid"):
        create_mongo_store(
            client=secantus_client, database_name="db", collection_prefix="a$"
        )


def test_policies_are_chosen_per_collection(any_client, new_database_name):
    mongo = create_mongo_provider(
        client=any_client,
        database_name=new_database_name(),
        conflict_policies={"notes": "update_wins"},
    )
    memory = create_memory_provider("memory")
    orchestrator = make_orchestrator([mongo, memory])
    for entity in ("tasks", "notes"):
        _commit(
            mongo.store, {"id": "1", "collection_name": entity, "v": 0}, entity=entity
        )
    orchestrator.run("mongo")
    for entity in ("tasks", "notes"):
        _commit(
            mongo.store,
            {"id": "1", "collection_name": entity},
            entity=entity,
            operation=Operation.DELETE,
        )
        memory.store.commit_item_change(
            operation=Operation.UPDATE,
            entity_name=entity,
            item_id="1",
            item={"id": "1", "v": 1},
        )
    orchestrator.run("mongo")
    # deletion wins by default; the notes' policy keeps the update
    assert mongo.store.get_item("tasks", "1") is None
    assert memory.store.get_item("tasks", "1") is None
    assert mongo.store.get_item("notes", "1") == {"id": "1", "v": 1}
    assert memory.store.get_item("notes", "1") == {"id": "1", "v": 1}


def test_change_selection_uses_the_index(any_client, new_database_name):
    if "mongomock" in type(any_client).__module__:
        pytest.skip("mongomock has no query planner: every find reports a COLLSCAN")
    store = create_mongo_store(client=any_client, database_name=new_database_name())
    changes = [
        _commit(store, {"id": str(n), "collection_name": "tasks"}, item_id=str(n))
        for n in range(30)
    ]
    after = changes[19].timestamp
    plan = store.changes_cursor("mongo", after, 5).explain()
    stages = repr(plan["queryPlanner"]["winningPlan"])
    assert "IXSCAN" in stages and "origin_1_timestamp_1" in stages, stages
    assert "COLLSCAN" not in stages
    examined = plan["executionStats"]["totalKeysExamined"]
    assert examined <= 10, f"{examined} index keys read for 5 of the last 10 changes"


def test_threads_commit_while_syncs_run_and_nothing_is_lost(
    secantus_uri, new_database_name
):
    name = new_database_name()
    clients = [pymongo.MongoClient(secantus_uri) for _ in range(2)]
    # two stores on one database, as two processes would have
    stores = [create_mongo_store(client=c, database_name=name) for c in clients]
    memory = create_memory_provider("memory")
    mongo = create_mongo_provider(client=clients[0], database_name=name)
    orchestrator = make_orchestrator([mongo, memory])
    done = threading.Event()
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        store = stores[worker % 2]
        try:
            for n in range(15):
                item_id = f"{worker}-{n}"
                _commit(
                    store,
                    {"id": item_id, "collection_name": "tasks", "n": n},
                    item_id=item_id,
                )
                if n % 3 == 0:
                    _commit(
                        store,
                        {"id": item_id, "collection_name": "tasks", "n": -n},
                        item_id=item_id,
                        operation=Operation.UPDATE,
                    )
        except BaseException as error:  # reported below
            errors.append(error)

    def sync() -> None:
        try:
            while not done.is_set():
                orchestrator.synchronize_providers("mongo", "memory")
        except BaseException as error:
            errors.append(error)

    syncing = threading.Thread(target=sync)
    syncing.start()
    writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    syncing.join()
    assert not errors, errors
    orchestrator.synchronize_providers("mongo", "memory")

    held = held_change_ids(mongo.store)
    assert len(held) == 4 * (15 + 5)
    assert held_change_ids(memory.store) == held
    for worker in range(4):
        for n in range(15):
            expected = {"id": f"{worker}-{n}", "n": -n if n % 3 == 0 else n}
            assert memory.store.get_item("tasks", f"{worker}-{n}") == expected
    timestamps = [c.timestamp for c in mongo.store.select_changes("mongo", 0, 1000)]
    assert len(set(timestamps)) == len(timestamps) == len(held)
    for client in clients:
        client.close()


def test_two_processes_racing_on_the_same_items_both_commit(
    secantus_uri, new_database_name
):
    name = new_database_name()
    clients = [pymongo.MongoClient(secantus_uri) for _ in range(2)]
    stores = [create_mongo_store(client=c, database_name=name) for c in clients]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def write(store) -> None:
        try:
            barrier.wait()
            for n in range(20):
                _commit(
                    store,
                    {"id": str(n % 5), "collection_name": "tasks", "n": n},
                    item_id=str(n % 5),
                )
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    changes = list(stores[0].select_changes("mongo", 0, 100))
    assert len(changes) == 40
    for item_id in map(str, range(5)):
        history = [c for c in changes if c.item_id == item_id]
        # each change was made on the one before it: a single line of edits
        assert [c.parent_id for c in history[1:]] == [c.id for c in history[:-1]]
        version = stores[1].get_item_version("tasks", item_id)
        assert version.heads == (history[-1].id,)
        assert stores[1].get_item("tasks", item_id)["n"] == history[-1].item["n"]
    for client in clients:
        client.close()


def test_inserts_made_on_stale_knowledge_run_again(secantus_uri, new_database_name):
    """A store inserts without reading first; when another process moved the
    clock, or the item already has a version, the insert is made again."""
    name = new_database_name()
    clients = [pymongo.MongoClient(secantus_uri) for _ in range(2)]
    first, second = (create_mongo_store(client=c, database_name=name) for c in clients)
    a = _commit(first, {"id": "a", "collection_name": "tasks"}, item_id="a")
    b = _commit(second, {"id": "b", "collection_name": "tasks"}, item_id="b")
    # first's clock is behind second's now
    c = _commit(first, {"id": "c", "collection_name": "tasks"}, item_id="c")
    assert a.timestamp < b.timestamp < c.timestamp
    # an insert of an item that has a version is made on that version
    again = _commit(first, {"id": "b", "collection_name": "tasks", "n": 1}, item_id="b")
    assert again.parent_id == b.id and again.vector.get("mongo") == again.timestamp
    assert first.get_item_version("tasks", "b").heads == (again.id,)
    assert second.get_item("tasks", "b") == {"id": "b", "n": 1}
    for client in clients:
        client.close()


def test_an_insert_over_a_document_stored_before_replaces_it(
    any_client, new_database_name
):
    store = create_mongo_store(client=any_client, database_name=new_database_name())
    _commit(store, {"id": "warm", "collection_name": "tasks"}, item_id="warm")
    store.collection("tasks").insert_one({"_id": "1", "old": True})
    _commit(store, {"id": "1", "collection_name": "tasks", "new": True})
    assert store.collection("tasks").find_one({"_id": "1"}) == {"_id": "1", "new": True}
    assert store.get_item_version("tasks", "1") is not None


def test_a_document_your_unique_index_refuses_leaves_nothing(
    any_client, new_database_name
):
    store = create_mongo_store(client=any_client, database_name=new_database_name())
    store.collection("users").create_index("email", unique=True)
    _commit(
        store,
        {"id": "1", "collection_name": "users", "email": "a@x"},
        entity="users",
    )
    before = store.get_knowledge()
    with pytest.raises(pymongo.errors.PyMongoError, match="E11000"):
        _commit(
            store,
            {"id": "2", "collection_name": "users", "email": "a@x"},
            entity="users",
            item_id="2",
        )
    assert store.get_knowledge() == before
    assert store.get_item("users", "2") is None
    assert store.get_item_version("users", "2") is None
    assert store.collection(store.changes_name).count_documents({}) == 1
    # and the store goes on
    _commit(
        store,
        {"id": "2", "collection_name": "users", "email": "b@x"},
        entity="users",
        item_id="2",
    )
    assert store.get_item("users", "2") == {"id": "2", "email": "b@x"}
    if not store.transactional:
        assert store.collection(store.journal_name).count_documents({}) == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_change_selection_pages_through_bursts_and_gaps(
    any_client, new_database_name, seed
):
    """Windows of timestamps adapt to the density of changes; no page ever
    misses or repeats one, whatever the gaps between them."""
    import random

    from maestro_core.testing import FakeWallClock

    rng = random.Random(seed)
    clock = FakeWallClock()
    store = create_mongo_store(
        client=any_client, database_name=new_database_name(), wall_clock=clock
    )
    made = []
    for n in range(120):
        clock.advance(rng.choice([0, 0, 1e-6, 0.001, 0.5, 90, 86_400 * 30]))
        made.append(
            _commit(
                store,
                {"id": str(n), "collection_name": "t"},
                entity="t",
                item_id=str(n),
            )
        )
    pages, cursor = [], 0
    while page := list(
        store.select_changes("mongo", cursor, rng.choice([1, 3, 7, 20]))
    ):
        pages.append(page)
        cursor = page[-1].timestamp
    assert [c.id for page in pages for c in page] == [c.id for c in made]
    middle = made[60].timestamp
    assert list(store.select_changes("mongo", middle, 500)) == made[61:]
    assert list(store.select_changes("someone else", 0, 10)) == []
