"""Conflict policies decide the same way whichever side meets the conflict."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from maestro_core import (
    Conflict,
    ConflictType,
    DefaultPolicy,
    DeletionWinsPolicy,
    ItemChange,
    LastWriterWinsPolicy,
    MergeFieldsPolicy,
    Operation,
    PreferProviderPolicy,
    UpdateWinsPolicy,
    VectorClock,
    create_memory_provider,
)
from maestro_core.testing import FakeWallClock, make_orchestrator


def change(origin, ts, op=Operation.UPDATE, **item):
    return ItemChange(
        id=f"{origin}{ts}",
        operation=op,
        entity_name="e",
        item_id="1",
        item={"id": "1", **item},
        origin=origin,
        timestamp=ts,
        vector=VectorClock({origin: ts}),
    )


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (LastWriterWinsPolicy(), "b3"),
        (DeletionWinsPolicy(), "c2"),
        (DefaultPolicy(), "c2"),
        (UpdateWinsPolicy(), "b3"),
        (PreferProviderPolicy("a"), "a1"),
        (PreferProviderPolicy("x", "c"), "c2"),
    ],
)
def test_pick_one_policies_ignore_the_order_of_the_changes(policy, expected):
    changes = [change("a", 1), change("b", 3), change("c", 2, Operation.DELETE)]
    for order in itertools.permutations(changes):
        conflict = Conflict("e", "1", order, ConflictType.LOCAL_UPDATE_REMOTE_UPDATE)
        assert policy.resolve(conflict).winner.id == expected


def test_equal_timestamps_go_to_the_greater_provider_id():
    tie = [change("alpha", 5), change("beta", 5)]
    conflict = Conflict("e", "1", tie, ConflictType.LOCAL_UPDATE_REMOTE_UPDATE)
    assert LastWriterWinsPolicy().resolve(conflict).winner.origin == "beta"


def test_merge_without_a_base_takes_the_newest_value_per_field():
    a = change("a", 1, x=1, y=1)
    b = change("b", 2, x=2)
    conflict = Conflict("e", "1", [a, b], ConflictType.LOCAL_UPDATE_REMOTE_UPDATE)
    assert MergeFieldsPolicy().resolve(conflict).item == {"id": "1", "x": 2, "y": 1}


@pytest.mark.parametrize("order", list(itertools.permutations("abc")))
def test_three_way_merge_converges_whatever_the_order_of_sessions(order):
    clock = FakeWallClock(tick=dt.timedelta(milliseconds=1))
    providers = {p: create_memory_provider(p, wall_clock=clock) for p in "abc"}
    orchestrator = make_orchestrator(
        list(providers.values()), default_conflict_policy="merge_fields"
    )
    base = {"id": "1", "name": "n0", "email": "e0", "phone": "p0"}
    providers["a"].store.commit_item_change("INSERT", "contact", "1", base)
    orchestrator.run("a")
    edits = {"a": {"email": "e1"}, "b": {"phone": "p1"}, "c": {"name": "n1"}}
    for p, edit in edits.items():
        providers[p].store.commit_item_change(
            "UPDATE", "contact", "1", {**base, **edit}
        )
    first, second, third = order
    orchestrator.synchronize_providers(first, second)
    # the provider that merged first edits again on top of the merge
    merged = providers[second].store.get_item("contact", "1")
    providers[second].store.commit_item_change(
        "UPDATE", "contact", "1", {**merged, "note": "after merge"}
    )
    orchestrator.synchronize_providers(third, first)
    orchestrator.run(third)
    orchestrator.run(first)
    expected = {
        "id": "1",
        "name": "n1",
        "email": "e1",
        "phone": "p1",
        "note": "after merge",
    }
    for provider in providers.values():
        assert provider.store.get_item("contact", "1") == expected
    assert sum(s.sent for s in orchestrator.run(second)) == 0


def test_a_newcomer_receives_the_base_before_the_edits_it_merges():
    """Changes travel in causal order, so the merge base is always at hand."""
    clock = FakeWallClock(tick=dt.timedelta(milliseconds=1))
    a, b, z, fresh = (create_memory_provider(p, wall_clock=clock) for p in "abzn")
    orchestrator = make_orchestrator(
        [a, b, z, fresh], default_conflict_policy="merge_fields"
    )
    base = {"id": "1", "email": "e0", "phone": "p0"}
    z.store.commit_item_change("INSERT", "contact", "1", base)
    orchestrator.synchronize_providers("z", "a")
    orchestrator.synchronize_providers("z", "b")
    a.store.commit_item_change("UPDATE", "contact", "1", {**base, "email": "e1"})
    b.store.commit_item_change("UPDATE", "contact", "1", {**base, "phone": "p1"})
    orchestrator.synchronize_providers("b", "a")
    orchestrator.synchronize_providers("a", "n")
    expected = {"id": "1", "email": "e1", "phone": "p1"}
    assert a.store.get_item("contact", "1") == expected
    assert fresh.store.get_item("contact", "1") == expected
