"""Writes made by other Firestore clients become changes; Maestro's own do not."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from maestro_firestore import (
    CaptureListener,
    capture_document,
    capture_event,
    create_firestore_provider,
)

from maestro_core import Operation, create_memory_provider
from maestro_core.testing import held_change_ids, make_orchestrator


@pytest.fixture
def setup(new_client):
    """A Firestore provider, a memory provider, and a plain 'mobile' client."""
    maestro_client = new_client()
    mobile = new_client(maestro_client.project)
    provider = create_firestore_provider(maestro_client, "firestore")
    memory = create_memory_provider("memory")
    return provider, memory, mobile, make_orchestrator([provider, memory])


def local_changes(provider):
    store = provider.store
    return [c for c in store.select_changes(provider.provider_id, 0, 1000)]


def trigger_event(client, path):
    """What a Cloud Functions ``on_document_written`` trigger receives."""
    after = client.document(path).get()
    return SimpleNamespace(
        document=path,
        data=SimpleNamespace(before=None, after=after if after.exists else None),
    )


def test_a_trigger_captures_creates_updates_and_deletes(setup):
    provider, memory, mobile, orchestrator = setup
    store = provider.store
    tasks = mobile.collection("tasks")

    tasks.document("a").set({"title": "from the phone", "done": False})
    created = capture_event(store, trigger_event(mobile, "tasks/a"))
    assert created.operation is Operation.INSERT
    assert created.item == {"id": "a", "title": "from the phone", "done": False}
    orchestrator.run("firestore")
    assert memory.store.get_item("tasks", "a") == created.item

    tasks.document("a").update({"done": True})
    updated = capture_event(store, trigger_event(mobile, "tasks/a"))
    assert (updated.operation, updated.parent_id) == (Operation.UPDATE, created.id)
    assert capture_event(store, trigger_event(mobile, "tasks/a")) is None, (
        "a document already captured is not captured twice"
    )
    orchestrator.run("firestore")
    assert memory.store.get_item("tasks", "a")["done"] is True

    tasks.document("a").delete()
    deleted = capture_event(store, trigger_event(mobile, "tasks/a"))
    assert deleted.operation is Operation.DELETE
    assert deleted.item == updated.item, "a deletion carries the last state held"
    assert capture_event(store, trigger_event(mobile, "tasks/a")) is None
    orchestrator.run("firestore")
    assert memory.store.get_item("tasks", "a") is None
    assert held_change_ids(memory.store) == held_change_ids(store)


def test_maestros_own_writes_are_not_captured_again(setup):
    provider, memory, mobile, orchestrator = setup
    store = provider.store
    memory.store.commit_item_change(
        operation="INSERT",
        entity_name="tasks",
        item_id="m1",
        item={"id": "m1", "title": "from the back office"},
    )
    store.commit_item_change(
        operation="INSERT",
        entity_name="tasks",
        item_id="f1",
        item={"id": "f1", "collection_name": "tasks", "title": "committed"},
    )
    orchestrator.run("memory")
    for item_id in ("m1", "f1"):
        data = mobile.collection("tasks").document(item_id).get().to_dict()
        assert capture_document(store, "tasks", item_id, data) is None
    memory.store.commit_item_change(
        operation="DELETE",
        entity_name="tasks",
        item_id="m1",
        item={"id": "m1", "title": "from the back office"},
    )
    orchestrator.run("memory")
    assert capture_document(store, "tasks", "m1", None) is None
    assert capture_document(store, "tasks", "never-there", None) is None
    assert len(local_changes(provider)) == 1


def test_the_listener_captures_a_mobile_apps_writes_and_ignores_maestros(
    setup, wait_until
):
    provider, memory, mobile, orchestrator = setup
    store = provider.store
    tasks = mobile.collection("tasks")
    tasks.document("before").set({"title": "written while nobody listened"})

    with CaptureListener(store, ["tasks"]) as listener:
        wait_until(lambda: len(local_changes(provider)) == 1)
        tasks.document("a").set({"title": "new", "tags": ["x"]})
        wait_until(lambda: len(local_changes(provider)) == 2)
        tasks.document("a").set({"title": "edited", "tags": ["x", "y"]})
        wait_until(lambda: len(local_changes(provider)) == 3)
        tasks.document("before").delete()
        wait_until(lambda: len(local_changes(provider)) == 4)

        # Maestro writes from a sync: the listener sees them, captures nothing
        memory.store.commit_item_change(
            operation="INSERT",
            entity_name="tasks",
            item_id="m1",
            item={"id": "m1", "title": "from the back office"},
        )
        orchestrator.run("memory")
        seen = listener.snapshots
        tasks.document("marker").set({"title": "a later phone write"})
        wait_until(lambda: len(local_changes(provider)) == 5)
        assert listener.wait_for_snapshots(seen + 1)
        assert listener.errors == []

    operations = [c.operation.name for c in local_changes(provider)]
    assert operations == ["INSERT", "INSERT", "UPDATE", "DELETE", "INSERT"]
    deleted = local_changes(provider)[3]
    assert deleted.item == {"id": "before", "title": "written while nobody listened"}
    orchestrator.run("firestore")
    assert memory.store.get_item("tasks", "a") == {
        "id": "a",
        "title": "edited",
        "tags": ["x", "y"],
    }
    assert memory.store.get_item("tasks", "before") is None
    assert memory.store.get_item("tasks", "marker") is not None
    for item_id in ("a", "m1", "marker"):
        assert store.get_item("tasks", item_id) == memory.store.get_item(
            "tasks", item_id
        )
