"""Random histories across three providers converge without losing a change.

Hypothesis drives inserts, updates and deletes on a small id space, pairwise
sessions, changes that fail to apply, sessions interrupted mid-way, and wall
clocks that stand still, step back or skew. After healing and a full round,
every provider must hold the same items, and each item must be what the
default policy makes of the changes that no other change includes (computed
here independently of the engine).
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from maestro_core import (
    ConflictType,
    DefaultPolicy,
    ItemChange,
    Operation,
    PolicySet,
    create_memory_provider,
    create_plugin_manager,
)
from maestro_core.engine import ChangeApplier
from maestro_core.testing import FakeWallClock, make_orchestrator
from maestro_core.testing.conformance import InterruptAfter, RejectChanges
from maestro_core.testing.helpers import all_changes

PROVIDERS = ("a", "b", "c")
ENTITY = "note"
IDS = st.sampled_from(["1", "2", "3", "4"])
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def expected_state(changes: list[ItemChange]) -> dict[str, dict | None]:
    """The item each id should end as: the default policy over the heads."""
    by_item: dict[str, list[ItemChange]] = {}
    for change in changes:
        by_item.setdefault(change.item_id, []).append(change)
    policy = DefaultPolicy()
    state = {}
    for item_id, history in by_item.items():
        heads = [
            c
            for c in history
            if not any(
                d is not c and d.vector.get(c.origin) >= c.timestamp for d in history
            )
        ]
        winner = max(heads, key=policy.rank)
        state[item_id] = None if winner.operation is Operation.DELETE else winner.item
    return state


class Convergence(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.clocks = {
            p: FakeWallClock(START + dt.timedelta(seconds=i * 7), tick=dt.timedelta(0))
            for i, p in enumerate(PROVIDERS)
        }
        self.providers = {
            p: create_memory_provider(
                p, max_changes_per_session=3, wall_clock=self.clocks[p]
            )
            for p in PROVIDERS
        }
        self.committed: list[ItemChange] = []
        self.gate = RejectChanges(raise_error=True)
        self.gate.item_ids = set()
        self.counter = 0

    @rule(
        provider=st.sampled_from(PROVIDERS),
        item_id=IDS,
        operation=st.sampled_from(list(Operation)),
    )
    def write(self, provider, item_id, operation):
        self.counter += 1
        store = self.providers[provider].store
        item = {"id": item_id, "text": f"{provider}-{self.counter}", "n": self.counter}
        if operation is Operation.DELETE:
            item = store.get_item(ENTITY, item_id) or item
        self.committed.append(
            store.commit_item_change(operation, ENTITY, item_id, item)
        )

    @rule(
        provider=st.sampled_from(PROVIDERS),
        seconds=st.sampled_from([0, 0, 0.000001, 0.5, 30, -0.5, -3600]),
    )
    def move_clock(self, provider, seconds):
        self.clocks[provider].advance(seconds)

    @rule(item_id=IDS, failing=st.booleans())
    def set_failing(self, item_id, failing):
        (self.gate.item_ids.add if failing else self.gate.item_ids.discard)(item_id)

    @rule(
        source=st.sampled_from(PROVIDERS),
        destination=st.sampled_from(PROVIDERS),
        interrupt_after=st.one_of(st.none(), st.integers(1, 6)),
    )
    def sync(self, source, destination, interrupt_after):
        if source == destination:
            return
        plugins = [self.gate]
        if interrupt_after is not None:
            plugins.append(InterruptAfter(interrupt_after))
        orchestrator = make_orchestrator(list(self.providers.values()), *plugins)
        try:
            orchestrator.synchronize_providers(source, destination)
        except KeyboardInterrupt:
            pass

    @invariant()
    def logs_hold_each_change_once(self):
        for provider in self.providers.values():
            changes = all_changes(provider.store)
            assert len(changes) == len({c.id for c in changes})

    def teardown(self):
        self.gate.enabled = False
        orchestrator = make_orchestrator(list(self.providers.values()))
        for _ in range(2):
            orchestrator.run("a")
        stores = [p.store for p in self.providers.values()]

        # Invariant 1: everyone holds the same items.
        expected = expected_state(self.committed)
        for item_id, item in expected.items():
            for store in stores:
                assert store.get_item(ENTITY, item_id) == item, (store, item_id)

        # Invariant 2: no committed change is lost.
        for store in stores:
            held = {c.id for c in all_changes(store)}
            assert {c.id for c in self.committed} <= held
            assert not store.get_conflict_logs(
                conflict_type=ConflictType.EXCEPTION_OCCURRED,
                status=None,
            ) or all(
                log.status.value == "RESOLVED"
                for log in store.get_conflict_logs(
                    conflict_type=ConflictType.EXCEPTION_OCCURRED
                )
            )

        # Invariant 3: another round, or the same changes again, change nothing.
        again = orchestrator.run("b")
        assert sum(s.applied + s.conflicts + s.deferred for s in again) == 0
        for store in stores:
            applier = ChangeApplier(store, PolicySet(), create_plugin_manager().hook)
            applier.knowledge.clear()
            applier.apply_batch(sorted(self.committed, key=lambda c: c.order_key))
            for item_id, item in expected.items():
                assert store.get_item(ENTITY, item_id) == item


TestConvergence = Convergence.TestCase
TestConvergence.settings = settings(
    max_examples=150,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.parametrize("n", [0])
def test_expected_state_takes_the_newest_head(n):
    a = create_memory_provider("a", wall_clock=FakeWallClock(tick=dt.timedelta(1)))
    first = a.store.commit_item_change("INSERT", ENTITY, "1", {"id": "1", "v": 1})
    second = a.store.commit_item_change("UPDATE", ENTITY, "1", {"id": "1", "v": 2})
    assert expected_state([first, second]) == {"1": {"id": "1", "v": 2}}
