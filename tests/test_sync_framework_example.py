"""The two-replica example of Microsoft Sync Framework's documentation.

Replica A and replica B each create and update items several times. A full
sync sends each side exactly the changes its knowledge lacks; then each kind
of conflict is produced and decided the way the default policy says.
"""

from __future__ import annotations

import datetime as dt

import pytest

from maestro_core import ConflictStatus, ConflictType, Operation, create_memory_provider
from maestro_core.testing import FakeWallClock, make_orchestrator

ENTITY = "contact"
INSERT, UPDATE, DELETE = Operation.INSERT, Operation.UPDATE, Operation.DELETE


@pytest.fixture
def replicas():
    clock = FakeWallClock(tick=dt.timedelta(seconds=1))
    a = create_memory_provider("A", wall_clock=clock)
    b = create_memory_provider("B", wall_clock=clock)
    return a, b, make_orchestrator([a, b])


def edit(provider, operation, item_id, **fields):
    item = {"id": item_id, **fields}
    if operation is DELETE:
        item = provider.store.get_item(ENTITY, item_id) or item
    return provider.store.commit_item_change(operation, ENTITY, item_id, item)


def test_a_full_sync_sends_exactly_what_each_side_lacks(replicas):
    a, b, orchestrator = replicas
    # A makes five changes (A1..A5), B makes three (B1..B3).
    a1 = edit(a, INSERT, "1", name="Ann", phone="1")
    edit(a, INSERT, "2", name="Bob", phone="2")
    edit(a, UPDATE, "1", name="Ann", phone="11")
    edit(a, UPDATE, "2", name="Bob", phone="22")
    a5 = edit(a, UPDATE, "1", name="Ann", phone="111")
    edit(b, INSERT, "3", name="Cid", phone="3")
    edit(b, UPDATE, "3", name="Cid", phone="33")
    b3 = edit(b, INSERT, "4", name="Dee", phone="4")

    assert a.store.get_knowledge().to_dict() == {"A": a5.timestamp}
    assert b.store.get_knowledge().to_dict() == {"B": b3.timestamp}

    to_b = orchestrator.synchronize_providers("A", "B")
    to_a = orchestrator.synchronize_providers("B", "A")
    assert (to_b.sent, to_b.applied, to_b.conflicts) == (5, 5, 0)
    assert (to_a.sent, to_a.applied, to_a.conflicts) == (3, 3, 0)

    both = {"A": a5.timestamp, "B": b3.timestamp}
    assert a.store.get_knowledge().to_dict() == both
    assert b.store.get_knowledge().to_dict() == both
    for item_id in "1234":
        assert a.store.get_item(ENTITY, item_id) == b.store.get_item(ENTITY, item_id)
    assert b.store.get_item(ENTITY, "1")["phone"] == "111"
    assert b.store.get_item_version(ENTITY, "1").vector.to_dict() == {"A": a5.timestamp}
    assert a1.id in {c.id for c in b.store.select_changes("A", 0, 10)}

    # Nothing is lacking any more, in either direction.
    assert orchestrator.synchronize_providers("A", "B").sent == 0
    assert orchestrator.synchronize_providers("B", "A").sent == 0

    # One more change on B: only that one travels.
    edit(b, UPDATE, "2", name="Bob", phone="2222")
    session = orchestrator.synchronize_providers("B", "A")
    assert (session.sent, session.applied) == (1, 1)
    assert a.store.get_item(ENTITY, "2")["phone"] == "2222"


@pytest.mark.parametrize(
    ("a_op", "b_op", "type_seen_by_a", "type_seen_by_b", "result"),
    [
        (
            UPDATE,
            UPDATE,
            "LOCAL_UPDATE_REMOTE_UPDATE",
            "LOCAL_UPDATE_REMOTE_UPDATE",
            "B",
        ),
        (
            UPDATE,
            DELETE,
            "LOCAL_UPDATE_REMOTE_DELETE",
            "LOCAL_DELETE_REMOTE_UPDATE",
            None,
        ),
        (
            DELETE,
            UPDATE,
            "LOCAL_DELETE_REMOTE_UPDATE",
            "LOCAL_UPDATE_REMOTE_DELETE",
            None,
        ),
        (
            DELETE,
            DELETE,
            "LOCAL_DELETE_REMOTE_DELETE",
            "LOCAL_DELETE_REMOTE_DELETE",
            None,
        ),
    ],
)
def test_each_conflict_after_the_full_sync(
    replicas, a_op, b_op, type_seen_by_a, type_seen_by_b, result
):
    a, b, orchestrator = replicas
    edit(a, INSERT, "1", name="Ann", phone="1")
    edit(a, UPDATE, "1", name="Ann", phone="11")
    orchestrator.run("A")
    edit(a, a_op, "1", name="Ann", phone="from A")
    edit(b, b_op, "1", name="Ann", phone="from B")  # B's edit is the newer one
    orchestrator.run("A")

    (seen_by_b,) = b.store.get_conflict_logs()
    (seen_by_a,) = a.store.get_conflict_logs()
    assert seen_by_a.conflict_type is ConflictType[type_seen_by_a]
    assert seen_by_b.conflict_type is ConflictType[type_seen_by_b]
    for log in (seen_by_a, seen_by_b):
        assert log.status is ConflictStatus.RESOLVED
        assert log.winner_change_id == seen_by_a.winner_change_id
    item = a.store.get_item(ENTITY, "1")
    assert item == b.store.get_item(ENTITY, "1")
    assert (None if item is None else item["phone"]) == (
        None if result is None else f"from {result}"
    )


def test_insert_conflicts_with_the_same_id_created_on_both(replicas):
    a, b, orchestrator = replicas
    edit(a, INSERT, "9", name="from A")
    edit(b, INSERT, "9", name="from B")
    edit(b, UPDATE, "7", name="B updates what it never saw inserted")
    edit(a, INSERT, "7", name="A inserts it later")
    orchestrator.run("A")
    types = {
        (log.item_id, log.conflict_type.value) for log in a.store.get_conflict_logs()
    }
    assert types == {
        ("9", "LOCAL_INSERT_REMOTE_INSERT"),
        ("7", "LOCAL_INSERT_REMOTE_UPDATE"),
    }
    b_types = {log.conflict_type.value for log in b.store.get_conflict_logs()}
    assert b_types == {"LOCAL_INSERT_REMOTE_INSERT", "LOCAL_UPDATE_REMOTE_INSERT"}
    assert a.store.get_item(ENTITY, "9")["name"] == "from B"
    assert a.store.get_item(ENTITY, "7")["name"] == "A inserts it later"
    assert b.store.get_item(ENTITY, "7") == a.store.get_item(ENTITY, "7")
