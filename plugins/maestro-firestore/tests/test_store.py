"""Bad input, writers in other processes, what a change costs, the rules."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest
from maestro_firestore import create_firestore_provider
from maestro_firestore.resources import indexes_path, rules_path

from maestro_core import InvalidItemError, Operation, create_memory_provider
from maestro_core.testing import make_orchestrator


@pytest.fixture
def provider(new_client):
    return create_firestore_provider(new_client(), "firestore")


def nothing_stored(provider, entity_name="tasks", item_id="1"):
    store = provider.store
    assert len(store.get_knowledge()) == 0
    valid = "/" not in item_id + entity_name and not item_id.startswith("__")
    if valid and not entity_name.startswith("maestro_"):
        assert store.get_item(entity_name, item_id) is None
    assert list(store.changes.limit(1).stream()) == []
    assert list(store.versions.limit(1).stream()) == []


@pytest.mark.parametrize(
    ("entity_name", "item_id", "item", "key", "message"),
    [
        ("tasks", "1", {"id": "1"}, "collection_name", "has no 'collection_name'"),
        (
            "tasks",
            "1",
            {"id": "1", "collection_name": "notes"},
            "collection_name",
            "'collection_name' 'notes'; expected it to equal the entity name 'tasks'",
        ),
        (
            "maestro_changes",
            "1",
            {"id": "1", "collection_name": "maestro_changes"},
            "entity_name",
            "prefix of Maestro's own collections",
        ),
        (
            "tasks/x",
            "1",
            {"id": "1", "collection_name": "tasks/x"},
            "entity_name",
            "not a Firestore collection path",
        ),
        (
            "tasks",
            "a/b",
            {"id": "a/b", "collection_name": "tasks"},
            "item_id",
            "is not a valid Firestore id",
        ),
        (
            "tasks",
            "__1__",
            {"id": "__1__", "collection_name": "tasks"},
            "item_id",
            "is not a valid Firestore id",
        ),
        (
            "tasks",
            "1",
            {"id": "1", "collection_name": "tasks", "meta": {"__name__": 1}},
            None,
            "field name '__name__' at 'meta.__name__' is reserved by Firestore",
        ),
    ],
    ids=[
        "missing-collection-name",
        "other-collection-name",
        "maestro-collection",
        "document-path",
        "slash-in-id",
        "reserved-id",
        "reserved-field",
    ],
)
def test_bad_items_are_refused_and_nothing_is_stored(
    provider, entity_name, item_id, item, key, message
):
    with pytest.raises(InvalidItemError, match=message) as caught:
        provider.store.commit_item_change(
            operation=Operation.INSERT,
            entity_name=entity_name,
            item_id=item_id,
            item=item,
        )
    if key is not None:
        assert (caught.value.key, caught.value.item_id) == (key, item_id)
    nothing_stored(provider, entity_name, item_id)


def test_a_remote_item_firestore_cannot_store_is_deferred(provider):
    memory = create_memory_provider("memory")
    memory.store.commit_item_change(
        operation="INSERT",
        entity_name="tasks",
        item_id="1",
        item={"id": "1", "__reserved__": True},
    )
    memory.store.commit_item_change(
        operation="INSERT", entity_name="tasks", item_id="2", item={"id": "2"}
    )
    session = make_orchestrator([memory, provider]).synchronize_providers(
        "memory", "firestore"
    )
    assert (session.applied, session.deferred) == (1, 1)
    assert provider.store.get_item("tasks", "1") is None
    (log,) = provider.store.get_conflict_logs()
    assert "reserved by Firestore" in log.description


def test_a_writer_in_another_process_moves_the_clock_and_nothing_is_lost(
    provider, new_client
):
    store = provider.store
    first = store.commit_item_change(
        "INSERT", "tasks", "1", {"id": "1", "collection_name": "tasks"}
    )
    # Another process (its own client, its own cache) commits meanwhile.
    other = create_firestore_provider(new_client(store.client.project), "firestore")
    other.store._slot = type(store._slot)()
    elsewhere = other.store.commit_item_change(
        "INSERT", "tasks", "2", {"id": "2", "collection_name": "tasks"}
    )
    # This process's cached clock is stale: its first attempt is refused whole,
    # the second reads the clock again.
    third = store.commit_item_change(
        "INSERT", "tasks", "3", {"id": "3", "collection_name": "tasks"}
    )
    assert first.timestamp < elsewhere.timestamp < third.timestamp
    held = store.select_changes("firestore", 0, 10)
    assert [c.item_id for c in held] == ["1", "2", "3"]


def test_reads_and_writes_per_applied_change(provider):
    memory = create_memory_provider("memory")
    for n in range(40):
        memory.store.commit_item_change(
            operation="INSERT", entity_name="tasks", item_id=str(n), item={"id": str(n)}
        )
    store = provider.store
    before = store.snapshot_counts()
    orchestrator = make_orchestrator([memory, provider])
    session = orchestrator.synchronize_providers("memory", "firestore")
    cost = store.snapshot_counts() - before
    assert session.applied == 40
    # item, change and version per change; clock once per batch of 50; the
    # session record twice
    assert cost.writes == 3 * 40 + 1 + 2
    # the versions of 40 new items: two id queries (30 + 10) finding nothing,
    # one read each; knowledge, the deferred changes and the clock once per
    # session
    assert cost.reads == 2 + 3
    assert store.get_session_cost(session.id) == cost

    for n in range(40):
        store.commit_item_change(
            "UPDATE",
            "tasks",
            str(n),
            {"id": str(n), "collection_name": "tasks", "n": n},
        )
    before = store.snapshot_counts()
    orchestrator.synchronize_providers("firestore", "memory")
    sent = store.snapshot_counts() - before
    # the 40 updates the memory provider lacks, read once each, and knowledge
    assert (sent.reads, sent.writes) == (40 + 1, 0)


def _token(project: str) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {
        "sub": "u1",
        "user_id": "u1",
        "aud": project,
        "iss": f"https://securetoken.google.com/{project}",
        "iat": 1,
        "exp": 2**32,
        "auth_time": 1,
        "firebase": {"sign_in_provider": "password"},
    }
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_the_rules_keep_clients_out_of_maestros_collections(complete_emulator):
    emulator = complete_emulator
    project = "rules-test"
    emulator.load_rules(rules_path().read_text(), project)

    def write(path: str, token: str | None) -> int:
        url = (
            f"http://{emulator.address}/v1/projects/{project}/databases/(default)"
            f"/documents/{path}"
        )
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps({"fields": {"a": {"integerValue": "1"}}}).encode()
        request = urllib.request.Request(url, body, headers, method="PATCH")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    user = _token(project)
    assert write("maestro_changes/forged", user) == 403
    assert write("maestro_meta/clock", user) == 403
    assert write("maestro_versions/x", None) == 403
    assert write("tasks/a", None) == 403
    assert write("tasks/a", user) == 200
    assert write("maestro_changes/x", "owner") == 200, "admin credentials pass"


def test_the_index_definitions_cover_change_selection():
    indexes = json.loads(indexes_path().read_text())
    (index,) = indexes["indexes"]
    assert index["collectionGroup"] == "maestro_changes"
    assert [f["fieldPath"] for f in index["fields"]] == ["origin", "timestamp"]
