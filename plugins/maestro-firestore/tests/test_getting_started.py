"""The Firestore part of getting-started.md, as an application runs it."""

from __future__ import annotations

import pytest

from maestro_core import Operation, SyncOrchestrator, create_memory_provider


def test_the_snippet_then_a_sync_with_memory_both_ways(
    emulator_env, firestore_plugin_only
):
    import maestro.backends.firestore
    from maestro.backends.firestore.contrib.factory import create_firestore_provider

    firestore_provider = create_firestore_provider()
    assert firestore_provider.provider_id == "firestore"
    store = firestore_provider.store
    assert store.client.project == emulator_env.project

    store.commit_item_change(
        operation=Operation.INSERT,
        entity_name="tasks",
        item_id="from-firestore",
        item={
            "id": "from-firestore",
            "collection_name": "tasks",
            "title": "written through Maestro",
        },
    )
    memory = create_memory_provider("memory")
    memory.store.commit_item_change(
        operation=Operation.INSERT,
        entity_name="tasks",
        item_id="from-memory",
        item={"id": "from-memory", "title": "written elsewhere", "done": False},
    )

    orchestrator = SyncOrchestrator(
        sync_lock=maestro.backends.firestore.create_firestore_lock(),
        providers=[firestore_provider, memory],
        maximum_duration_seconds=10 * 60,
    )
    sessions = orchestrator.run(initial_source_provider_id="firestore")
    assert [s.status.value for s in sessions] == ["SUCCEEDED", "SUCCEEDED"]

    for item_id in ("from-firestore", "from-memory"):
        assert store.get_item("tasks", item_id) == memory.store.get_item(
            "tasks", item_id
        )
    # the document is a plain one: the id is the document id, no extra fields
    document = store.client.collection("tasks").document("from-memory").get()
    assert document.to_dict() == {"title": "written elsewhere", "done": False}
    assert store.get_knowledge() == memory.store.get_knowledge()

    store.commit_item_change(
        operation=Operation.DELETE,
        entity_name="tasks",
        item_id="from-memory",
        item={"id": "from-memory", "collection_name": "tasks"},
    )
    orchestrator.run("firestore")
    assert memory.store.get_item("tasks", "from-memory") is None


def test_the_backend_is_registered_with_a_lock(emulator_env, firestore_plugin_only):
    from maestro_firestore import FirestoreSyncLock

    from maestro_core import get_backend

    backend = get_backend("firestore")
    assert backend.distribution == "maestro-firestore"
    provider = backend.provider_factory(provider_id="registered")
    assert provider.provider_id == "registered"
    lock = backend.lock_factory()
    assert isinstance(lock, FirestoreSyncLock)
    assert lock.acquire("me", 30)
    lock.release("me")


def test_the_backend_builds_from_plain_options(emulator, firestore_plugin_only):
    """What a configuration file gives: strings only, and no environment."""
    from maestro_firestore import FirestoreSyncLock

    from maestro_core import Operation, get_backend

    backend = get_backend("firestore")
    options = {"project": "options-test", "emulator_host": emulator.address}
    provider = backend.provider_factory(
        provider_id="configured", max_changes_per_session=7, **options
    )
    assert provider.max_changes_per_session == 7
    provider.store.commit_item_change(
        Operation.INSERT,
        "tasks",
        "t1",
        {"id": "t1", "collection_name": "tasks", "title": "Write"},
    )
    seen = emulator.client("options-test").collection("tasks").document("t1").get()
    assert seen.to_dict() == {"title": "Write"}
    lock = backend.lock_factory(**options, name="configured")
    assert isinstance(lock, FirestoreSyncLock)
    assert lock.acquire("me", 30)
    lock.release("me")


def test_a_client_and_options_together_are_refused():
    from maestro_firestore import firestore_client

    with pytest.raises(ValueError, match="expected either a client"):
        firestore_client(object(), project="p")
    with pytest.raises(ValueError, match="emulator_host 'nowhere'"):
        firestore_client(project="p", emulator_host="nowhere")
