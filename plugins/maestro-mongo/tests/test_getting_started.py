"""The MongoDB part of getting-started.md, verbatim, against SecantusDB."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from maestro_core import (
    InMemorySyncLock,
    SyncOrchestrator,
    SyncProvider,
    create_memory_provider,
)
from maestro_core.testing import held_change_ids

CREATE = """\
from maestro.backends.mongo.contrib.factory import create_mongo_store
from pymongo import MongoClient

client = MongoClient("mongodb://host:port/")
maestro_store = create_mongo_store(
    client=client, database_name="example-db"
)
"""

_CHANGE = """\
from maestro.core.metadata import Operation

maestro_store.commit_item_change(
    operation=Operation.{operation},
    entity_name="collection_name",
    item_id="item_id",
    item={{
        "id":"item_id",
        "collection_name": "collection_name",
        "some_property": "some_property"
    }}
)
"""
INSERT, UPDATE, DELETE = (
    _CHANGE.format(operation=name) for name in ("INSERT", "UPDATE", "DELETE")
)

GUIDE = Path(__file__).resolve().parents[3].parent / "shared/docs/getting-started.md"


def _mongo_snippets(text: str) -> list[str]:
    section = text.split("## Setting up MongoDB backend", 1)[1]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.mark.skipif(not GUIDE.exists(), reason=f"{GUIDE} is not beside the checkout")
def test_the_snippets_here_are_those_of_the_guide():
    assert _mongo_snippets(GUIDE.read_text()) == [CREATE, INSERT, UPDATE, DELETE]


@pytest.fixture
def example_db(secantus_client):
    secantus_client.drop_database("example-db")
    yield secantus_client["example-db"]
    secantus_client.drop_database("example-db")


def test_the_snippets_then_a_sync_to_memory(secantus_uri, example_db):
    def run(snippet: str, namespace: dict) -> None:
        exec(snippet.replace("mongodb://host:port/", secantus_uri), namespace)

    namespace: dict = {}
    run(CREATE, namespace)
    maestro_store = namespace["maestro_store"]
    assert maestro_store.transactional, "SecantusDB runs a replica set"
    memory = create_memory_provider("memory")
    orchestrator = SyncOrchestrator(
        sync_lock=InMemorySyncLock(),
        providers=[SyncProvider(store=maestro_store), memory],
        maximum_duration_seconds=60,
    )

    run(INSERT, namespace)
    assert example_db["collection_name"].find_one() == {
        "_id": "item_id",
        "some_property": "some_property",
    }, "the document is stored as given, without the routing field"
    orchestrator.run(initial_source_provider_id="mongo")
    assert memory.store.get_item("collection_name", "item_id") == {
        "id": "item_id",
        "some_property": "some_property",
    }

    run(UPDATE, namespace)
    orchestrator.run(initial_source_provider_id="mongo")
    run(DELETE, namespace)
    sessions = orchestrator.run(initial_source_provider_id="mongo")
    assert [s.status.value for s in sessions] == ["SUCCEEDED", "SUCCEEDED"]

    assert memory.store.get_item("collection_name", "item_id") is None
    assert example_db["collection_name"].count_documents({}) == 0
    assert len(held_change_ids(memory.store)) == 3
    assert held_change_ids(memory.store) == held_change_ids(maestro_store)
    assert memory.store.get_knowledge() == maestro_store.get_knowledge()
    namespace["client"].close()
