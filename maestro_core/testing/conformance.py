"""The conformance suites. See :mod:`maestro_core.testing` for how to use them.

Every test builds its providers through the backend's ``provider_factory``
(and in-memory providers as the other side), so a backend passes when it
honours the store contract of :class:`maestro_core.DataStore`.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from ..engine import ChangeApplier, PolicySet
from ..exceptions import InvalidItemError, SyncLockedError, SyncTimeoutError
from ..hookspecs import hookimpl
from ..lock import InMemorySyncLock, SyncLock
from ..memory import create_memory_provider
from ..model import (
    ConflictLog,
    ConflictStatus,
    ConflictType,
    ItemVersion,
    Operation,
    SessionStatus,
    SyncSession,
)
from ..orchestrator import SyncOrchestrator
from ..plugins import create_plugin_manager
from ..policies import (
    LastWriterWinsPolicy,
    ManualPolicy,
    MergeFieldsPolicy,
    PreferProviderPolicy,
    UpdateWinsPolicy,
)
from ..provider import SyncProvider
from .clocks import FakeMonotonic, FakeWallClock
from .helpers import all_changes, held_change_ids, make_orchestrator

__all__ = ["BackendConformance", "SyncLockConformance"]

INSERT, UPDATE, DELETE = Operation.INSERT, Operation.UPDATE, Operation.DELETE
RACE_TIMEOUT_SECONDS = 60.0
"""How long the racing-owners test waits for its threads before it fails."""
ProviderFactory = Callable[..., SyncProvider]


class Kit:
    """What a conformance test works with: providers, items and shortcuts."""

    def __init__(
        self,
        provider_factory: ProviderFactory,
        entity_name: str,
        make_item: Callable[..., dict[str, Any]],
    ):
        self.factory = provider_factory
        self.entity = entity_name
        self._make_item = make_item
        self.clock = FakeWallClock(tick=dt.timedelta(milliseconds=1))

    def provider(self, provider_id: str = "backend", **options: Any) -> SyncProvider:
        options.setdefault("wall_clock", self.clock)
        return self.factory(provider_id, **options)

    def memory(self, provider_id: str = "memory", **options: Any) -> SyncProvider:
        options.setdefault("wall_clock", self.clock)
        return create_memory_provider(provider_id, **options)

    def item(self, item_id: str, **fields: Any) -> dict[str, Any]:
        values = {"name": f"item {item_id}", "count": 0, "email": "", "phone": ""}
        values.update(fields)
        return self._make_item(item_id, **values)

    def commit(
        self, provider: SyncProvider, operation: Operation, item_id: str, **fields: Any
    ):
        item = self.item(item_id, **fields)
        if operation is DELETE:
            current = provider.store.get_item(self.entity, item_id)
            if current is not None:
                item = current
        return provider.store.commit_item_change(
            operation=operation,
            entity_name=self.entity,
            item_id=item_id,
            item=item,
        )

    def get(self, provider: SyncProvider, item_id: str) -> dict[str, Any] | None:
        return provider.store.get_item(self.entity, item_id)

    def field(self, provider: SyncProvider, item_id: str, name: str) -> Any:
        item = self.get(provider, item_id)
        return None if item is None else item.get(name)

    def assert_same(self, *providers: SyncProvider, ids: list[str]) -> None:
        for item_id in ids:
            items = [self.get(p, item_id) for p in providers]
            assert all(i == items[0] for i in items), (
                f"providers disagree on {item_id!r}: "
                f"{dict(zip([p.provider_id for p in providers], items, strict=True))!r}"
            )


def _round(orchestrator: SyncOrchestrator, initial: str) -> list[SyncSession]:
    """A full round of sessions; the kit's lock is never held elsewhere."""
    sessions = orchestrator.run(initial)
    assert sessions is not None, "the sync lock was unexpectedly held"
    return sessions


def _status(provider: SyncProvider, conflict_id: str) -> ConflictStatus | None:
    log = provider.store.get_conflict_log(conflict_id)
    return None if log is None else log.status


def _conflicts(
    provider: SyncProvider, status: ConflictStatus | None = None
) -> list[ConflictLog]:
    return [
        log
        for log in provider.store.get_conflict_logs(status=status)
        if log.conflict_type is not ConflictType.EXCEPTION_OCCURRED
    ]


def _deferred(provider: SyncProvider) -> list[ConflictLog]:
    return provider.store.get_conflict_logs(
        status=ConflictStatus.DEFERRED, conflict_type=ConflictType.EXCEPTION_OCCURRED
    )


class RejectChanges:
    """A plugin that rejects, or fails on, chosen changes while enabled."""

    def __init__(self, *, item_ids: set[str] | None = None, raise_error: bool = False):
        self.item_ids = item_ids
        self.change_ids: set[str] | None = None
        self.enabled = True
        self.raise_error = raise_error

    @hookimpl
    def maestro_validate_change(self, change, provider_id):
        if not self.enabled:
            return None
        if self.item_ids is not None and change.item_id not in self.item_ids:
            return None
        if self.change_ids is not None and change.id not in self.change_ids:
            return None
        if self.raise_error:
            raise RuntimeError(f"cannot store {change.item_id!r} yet")
        return f"item {change.item_id!r} is not accepted yet"


class InterruptAfter:
    """A plugin that stops a session after a number of committed changes."""

    def __init__(self, changes: int):
        self.remaining = changes

    @hookimpl
    def maestro_change_applied(self, change, provider_id):
        self.remaining -= 1
        if self.remaining == 0:
            raise KeyboardInterrupt("session interrupted by the test")


class KillInsideBatch:
    """A plugin that raises in the middle of a batch, before it commits."""

    def __init__(self, at_change: int):
        self.count = 0
        self.at_change = at_change

    @hookimpl
    def maestro_validate_change(self, change, provider_id):
        self.count += 1
        if self.count == self.at_change:
            raise KeyboardInterrupt("process killed by the test")


class BackendConformance:
    """The store contract and full-sync behaviour every backend must show.

    Provide ``provider_factory(provider_id, *, wall_clock=None,
    max_changes_per_session=50)``, returning a fresh, empty provider on each
    call. Override ``entity_name`` and ``make_item`` when the backend needs
    a particular entity or item shape; items have the fields ``id``, ``name``
    (str), ``count`` (int), ``email`` and ``phone`` (str).
    """

    supports_concurrent_writers = True
    """Set to False for a backend whose test setup cannot write from threads."""

    @pytest.fixture
    def entity_name(self) -> str:
        return "conformance_item"

    @pytest.fixture
    def make_item(self) -> Callable[..., dict[str, Any]]:
        return lambda item_id, **fields: {"id": item_id, **fields}

    @pytest.fixture
    def kit(self, provider_factory, entity_name, make_item) -> Kit:
        return Kit(provider_factory, entity_name, make_item)

    # -- the store contract ---------------------------------------------------

    def test_commit_writes_and_reads_back_the_item(self, kit: Kit):
        p = kit.provider()
        kit.commit(p, INSERT, "1", name="first", count=1)
        assert kit.get(p, "1") == kit.item("1", name="first", count=1)
        kit.commit(p, UPDATE, "1", name="second", count=2)
        assert kit.get(p, "1") == kit.item("1", name="second", count=2)
        kit.commit(p, DELETE, "1")
        assert kit.get(p, "1") is None
        assert kit.get(p, "never") is None

    def test_commit_records_change_version_and_knowledge(self, kit: Kit):
        p = kit.provider("alpha")
        first = kit.commit(p, INSERT, "1")
        second = kit.commit(p, UPDATE, "1", count=5)
        assert second.timestamp > first.timestamp
        assert second.parent_id == first.id
        assert second.vector.get("alpha") == second.timestamp
        assert p.store.get_knowledge().to_dict() == {"alpha": second.timestamp}
        version = p.store.get_item_version(kit.entity, "1")
        assert isinstance(version, ItemVersion)
        assert (version.change_id, version.heads) == (second.id, (second.id,))
        assert version.vector == second.vector
        held = p.store.get_changes([first.id, second.id, "missing"])
        assert held == {first.id: first, second.id: second}

    def test_execute_operation_false_records_without_writing(self, kit: Kit):
        p = kit.provider()
        change = p.store.commit_item_change(
            operation=INSERT,
            entity_name=kit.entity,
            item_id="1",
            item=kit.item("1"),
            execute_operation=False,
        )
        assert kit.get(p, "1") is None
        assert p.store.get_changes([change.id]) == {change.id: change}

    def test_select_changes_pages_in_timestamp_order(self, kit: Kit):
        p = kit.provider("alpha")
        made = [kit.commit(p, INSERT, str(n)) for n in range(7)]
        pages, cursor = [], 0
        while page := list(p.store.select_changes("alpha", cursor, 3)):
            pages.append(page)
            cursor = page[-1].timestamp
        assert [len(page) for page in pages] == [3, 3, 1]
        assert [c for page in pages for c in page] == made
        assert list(p.store.select_changes("alpha", made[3].timestamp, 10)) == made[4:]
        assert list(p.store.select_changes("nobody", 0, 10)) == []
        assert p.store.count_changes("alpha", made[1].timestamp) == 5

    def test_item_versions_are_read_in_bulk(self, kit: Kit):
        p = kit.provider()
        for n in range(4):
            kit.commit(p, INSERT, str(n))
        keys = [(kit.entity, str(n)) for n in range(6)]
        versions = p.store.get_item_versions(keys)
        assert set(versions) == set(keys[:4])

    def test_timestamps_increase_when_the_wall_clock_stands_still_or_steps_back(
        self, kit: Kit
    ):
        clock = FakeWallClock()
        p = kit.provider("alpha", wall_clock=clock)
        stamps = [kit.commit(p, INSERT, str(n)).timestamp for n in range(5)]
        clock.advance(-3600)
        stamps += [kit.commit(p, INSERT, str(n)).timestamp for n in range(5, 8)]
        assert stamps == sorted(set(stamps))

    def test_a_received_timestamp_moves_the_clock_past_it(self, kit: Kit):
        ahead = kit.memory(
            "ahead",
            wall_clock=FakeWallClock(dt.datetime(2030, 1, 1, tzinfo=dt.UTC)),
        )
        p = kit.provider("behind", wall_clock=FakeWallClock())
        remote = kit.commit(ahead, INSERT, "1")
        make_orchestrator([ahead, p]).synchronize_providers("ahead", "behind")
        local = kit.commit(p, UPDATE, "1", count=1)
        assert local.timestamp > remote.timestamp
        assert local.vector.includes(remote.vector)

    def test_a_failed_transaction_leaves_nothing(self, kit: Kit):
        p = kit.provider()
        kit.commit(p, INSERT, "1", count=1)
        before = p.store.get_knowledge()

        def write_then_fail():
            p.store.commit_item_change(
                operation=UPDATE,
                entity_name=kit.entity,
                item_id="1",
                item=kit.item("1", count=99),
            )
            raise LookupError("rolled back by the test")

        with pytest.raises(LookupError):
            p.store.run_in_transaction(write_then_fail)
        assert kit.field(p, "1", "count") == 1
        assert p.store.get_knowledge() == before

    def test_conflict_logs_and_sessions_are_saved_and_filtered(self, kit: Kit):
        p = kit.provider("alpha")
        now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        deferred = ConflictLog(
            id="c1",
            provider_id="alpha",
            conflict_type=ConflictType.EXCEPTION_OCCURRED,
            status=ConflictStatus.DEFERRED,
            entity_name=kit.entity,
            item_id="1",
            created_at=now,
            remote_change_id="x",
            description="boom",
        )
        other = ConflictLog(
            id="c2",
            provider_id="alpha",
            conflict_type=ConflictType.LOCAL_UPDATE_REMOTE_UPDATE,
            status=ConflictStatus.RESOLVED,
            entity_name=kit.entity,
            item_id="2",
            created_at=now + dt.timedelta(seconds=1),
            winner_change_id="w",
            loser_change_id="l",
            policy="default",
            resolved_at=now,
        )
        p.store.run_in_transaction(
            lambda: (
                p.store.save_conflict_log(deferred),
                p.store.save_conflict_log(other),
            )
        )
        assert p.store.get_conflict_log("c1") == deferred
        assert p.store.get_conflict_log("nope") is None
        assert p.store.get_conflict_logs() == [deferred, other]
        assert p.store.get_conflict_logs(status=ConflictStatus.DEFERRED) == [deferred]
        assert p.store.get_conflict_logs(
            conflict_type=ConflictType.LOCAL_UPDATE_REMOTE_UPDATE
        ) == [other]
        settled = deferred.resolved(winner_change_id="x", loser_change_id=None, at=now)
        p.store.run_in_transaction(lambda: p.store.save_conflict_log(settled))
        assert p.store.get_conflict_log("c1") == settled

        older = SyncSession(
            id="s1",
            source_provider_id="a",
            target_provider_id="alpha",
            status=SessionStatus.SUCCEEDED,
            started_at=now,
            ended_at=now,
            sent=3,
            applied=2,
            conflicts=1,
            deferred=0,
        )
        newer = SyncSession(
            id="s2",
            source_provider_id="a",
            target_provider_id="alpha",
            status=SessionStatus.IN_PROGRESS,
            started_at=now + dt.timedelta(seconds=5),
        )
        p.store.run_in_transaction(
            lambda: (p.store.save_session(older), p.store.save_session(newer))
        )
        assert p.store.get_sessions() == [newer, older]
        assert p.store.get_sessions(limit=1) == [newer]

    @pytest.mark.parametrize(
        ("item", "error"),
        [
            ({"name": "no id"}, "has no 'id' field"),
            ({"id": "2"}, "expected it to equal item_id"),
            ({"id": "1", "when": dt.datetime(2024, 1, 1)}, "naive datetime"),
            ({"id": "1", "blob": object()}, "cannot carry"),
            ({"id": "1", "$where": 1}, "reserves"),
            ({"id": {"$numberLong": "1"}}, "'id' .* a value in canonical form"),
            (
                {"id": "1", "due": {"$dateOnly": "2024-05-01"}},
                "decoded first, with decode_item",
            ),
        ],
        ids=[
            "missing-id",
            "mismatched-id",
            "naive-datetime",
            "unencodable",
            "dollar-key",
            "canonical-id",
            "canonical-value",
        ],
    )
    def test_bad_items_are_refused_and_nothing_is_stored(self, kit: Kit, item, error):
        p = kit.provider()
        values = {**kit.item("1"), **item}
        if "id" not in item:
            values.pop("id")
        with pytest.raises(InvalidItemError, match=error):
            p.store.commit_item_change(
                operation=INSERT, entity_name=kit.entity, item_id="1", item=values
            )
        assert kit.get(p, "1") is None
        assert len(p.store.get_knowledge()) == 0

    def test_an_unknown_operation_is_refused(self, kit: Kit):
        p = kit.provider()
        with pytest.raises(ValueError, match="unknown operation 'UPSERT'"):
            p.store.commit_item_change(
                operation="UPSERT",
                entity_name=kit.entity,
                item_id="1",
                item=kit.item("1"),
            )
        assert len(p.store.get_knowledge()) == 0

    def test_concurrent_writers_get_distinct_timestamps(self, kit: Kit):
        if not self.supports_concurrent_writers:
            pytest.skip("this backend's test setup cannot write from threads")
        p = kit.provider("alpha", wall_clock=FakeWallClock())
        errors: list[BaseException] = []

        def write(worker: int) -> None:
            try:
                for n in range(10):
                    kit.commit(p, INSERT, f"{worker}-{n}")
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, f"writers failed: {errors!r}"
        changes = all_changes(p.store)
        assert len(changes) == 40
        assert len({c.timestamp for c in changes}) == 40

    # -- sync with the reference backend ------------------------------------

    def test_items_sync_both_ways(self, kit: Kit):
        p, m = kit.provider(), kit.memory()
        kit.commit(p, INSERT, "1", name="from backend", count=1)
        kit.commit(m, INSERT, "2", name="from memory", count=2)
        kit.commit(m, INSERT, "3")
        kit.commit(m, DELETE, "3")
        sessions = _round(make_orchestrator([p, m]), p.provider_id)
        assert all(s.status is SessionStatus.SUCCEEDED for s in sessions)
        kit.assert_same(p, m, ids=["1", "2", "3"])
        assert kit.field(p, "2", "name") == "from memory"
        assert kit.get(p, "3") is None
        assert p.store.get_knowledge() == m.store.get_knowledge()

    def test_batches_follow_timestamp_order_across_origins(self, kit: Kit):
        a = kit.memory("a")
        b = kit.memory("b")
        p = kit.provider("target", max_changes_per_session=3)
        for n in range(4):
            kit.commit(a, INSERT, f"a{n}")
            kit.commit(b, INSERT, f"b{n}")
        orchestrator = make_orchestrator([a, b, p])
        orchestrator.synchronize_providers("a", "b")
        session = orchestrator.synchronize_providers("b", "target")
        assert (session.sent, session.applied) == (8, 8)
        held = sorted(all_changes(p.store), key=lambda c: c.order_key)
        assert [c.item_id for c in held] == [f"{o}{n}" for n in range(4) for o in "ab"]

    def test_a_second_session_sends_nothing_and_reapplying_has_no_effect(
        self, kit: Kit
    ):
        p, m = kit.provider(), kit.memory()
        for n in range(5):
            kit.commit(m, INSERT, str(n), count=n)
        orchestrator = make_orchestrator([m, p])
        first = orchestrator.synchronize_providers("memory", p.provider_id)
        again = orchestrator.synchronize_providers("memory", p.provider_id)
        assert (first.applied, again.sent, again.applied) == (5, 0, 0)

        changes = all_changes(m.store)
        held_before = held_change_ids(p.store)
        applier = ChangeApplier(p.store, PolicySet(), create_plugin_manager().hook)
        applier.knowledge.clear()  # as if the target had forgotten what it holds
        applier.apply_batch(changes)
        assert held_change_ids(p.store) == held_before
        kit.assert_same(p, m, ids=[str(n) for n in range(5)])

    def test_an_update_of_a_missing_item_recreates_it(self, kit: Kit):
        p, m = kit.provider(), kit.memory()
        kit.commit(m, UPDATE, "1", name="recreated")
        m.store.commit_item_change(
            operation=DELETE, entity_name=kit.entity, item_id="2", item=kit.item("2")
        )
        session = make_orchestrator([m, p]).synchronize_providers(
            "memory", p.provider_id
        )
        assert (session.applied, session.deferred) == (2, 0)
        assert kit.field(p, "1", "name") == "recreated"
        assert kit.get(p, "2") is None

    # -- conflicts under the default policy -----------------------------------

    def _diverge(self, kit: Kit, local_op, remote_op, *, remote_newer=True):
        """Backend and memory edit item 1 independently; return both providers."""
        p, m = kit.provider("local"), kit.memory("remote")
        setup = make_orchestrator([p, m])
        if local_op is not INSERT and remote_op is not INSERT:
            kit.commit(p, INSERT, "1", name="base", count=0)
            _round(setup, "local")
        edits = [(p, local_op, "local edit"), (m, remote_op, "remote edit")]
        if not remote_newer:
            edits.reverse()
        for provider, op, name in edits:
            kit.commit(provider, op, "1", name=name, count=7)
        return p, m

    @pytest.mark.parametrize(
        ("local_op", "remote_op", "conflict_type", "survivor"),
        [
            (UPDATE, UPDATE, ConflictType.LOCAL_UPDATE_REMOTE_UPDATE, "remote edit"),
            (UPDATE, DELETE, ConflictType.LOCAL_UPDATE_REMOTE_DELETE, None),
            (DELETE, UPDATE, ConflictType.LOCAL_DELETE_REMOTE_UPDATE, None),
            (DELETE, DELETE, ConflictType.LOCAL_DELETE_REMOTE_DELETE, None),
            (INSERT, UPDATE, ConflictType.LOCAL_INSERT_REMOTE_UPDATE, "remote edit"),
            (UPDATE, INSERT, ConflictType.LOCAL_UPDATE_REMOTE_INSERT, "remote edit"),
            (INSERT, INSERT, ConflictType.LOCAL_INSERT_REMOTE_INSERT, "remote edit"),
        ],
        ids=lambda v: getattr(v, "name", str(v)),
    )
    def test_each_conflict_type_under_the_default_policy(
        self, kit: Kit, local_op, remote_op, conflict_type, survivor
    ):
        p, m = self._diverge(kit, local_op, remote_op)
        if local_op is UPDATE and remote_op is INSERT:
            # the local side updates an item it never saw inserted
            pass
        orchestrator = make_orchestrator([m, p])
        session = orchestrator.synchronize_providers("remote", "local")
        assert session.conflicts == 1
        (log,) = _conflicts(p)
        assert log.conflict_type is conflict_type
        assert log.status is ConflictStatus.RESOLVED
        assert log.policy == "default"
        assert {log.winner_change_id, log.loser_change_id} == {
            log.local_change_id,
            log.remote_change_id,
        }
        orchestrator.synchronize_providers("local", "remote")
        kit.assert_same(p, m, ids=["1"])
        assert kit.field(p, "1", "name") == survivor
        again = _round(orchestrator, "local")
        assert sum(s.applied + s.conflicts for s in again) == 0

    def test_newest_wins_whichever_side_is_newer(self, kit: Kit):
        p, m = self._diverge(kit, UPDATE, UPDATE, remote_newer=False)
        _round(make_orchestrator([p, m]), "local")
        assert kit.field(p, "1", "name") == kit.field(m, "1", "name") == "local edit"

    def test_deletion_wins_over_a_newer_update(self, kit: Kit):
        p, m = self._diverge(kit, DELETE, UPDATE, remote_newer=True)
        _round(make_orchestrator([p, m]), "local")
        assert kit.get(p, "1") is None and kit.get(m, "1") is None

    # -- each built-in policy -------------------------------------------------

    def test_last_writer_wins_breaks_equal_timestamps_by_provider_id(self, kit: Kit):
        still = FakeWallClock()
        p = kit.provider("local", wall_clock=still)
        m = kit.memory("remote", wall_clock=still)
        kit.commit(p, INSERT, "1", name="local")
        kit.commit(m, INSERT, "1", name="remote")
        orchestrator = make_orchestrator(
            [p, m], default_conflict_policy=LastWriterWinsPolicy()
        )
        _round(orchestrator, "local")
        assert kit.field(p, "1", "name") == kit.field(m, "1", "name") == "remote"
        assert _conflicts(p)[0].policy == "last_writer_wins"

    def test_update_wins_over_a_newer_delete(self, kit: Kit):
        p, m = self._diverge(kit, UPDATE, DELETE, remote_newer=True)
        _round(
            make_orchestrator([p, m], default_conflict_policy=UpdateWinsPolicy()),
            "local",
        )
        assert kit.field(p, "1", "name") == kit.field(m, "1", "name") == "local edit"

    def test_deletion_wins_by_name_per_entity(self, kit: Kit):
        p, m = self._diverge(kit, DELETE, UPDATE, remote_newer=True)
        orchestrator = make_orchestrator(
            [p, m],
            default_conflict_policy="update_wins",
            conflict_policies={kit.entity: "deletion_wins"},
        )
        _round(orchestrator, "local")
        assert kit.get(p, "1") is None and kit.get(m, "1") is None

    def test_prefer_provider_keeps_that_providers_older_edit(self, kit: Kit):
        p, m = self._diverge(kit, UPDATE, UPDATE, remote_newer=True)
        orchestrator = make_orchestrator(
            [p, m], default_conflict_policy=PreferProviderPolicy("local")
        )
        _round(orchestrator, "remote")
        assert kit.field(p, "1", "name") == kit.field(m, "1", "name") == "local edit"

    def test_merge_fields_keeps_both_sides_edits_and_settles(self, kit: Kit):
        p, m = kit.provider("local"), kit.memory("remote")
        orchestrator = make_orchestrator(
            [p, m], default_conflict_policy=MergeFieldsPolicy()
        )
        kit.commit(p, INSERT, "1", name="base", email="old@x", phone="000")
        _round(orchestrator, "local")
        kit.commit(p, UPDATE, "1", name="local name", email="new@x", phone="000")
        kit.commit(m, UPDATE, "1", name="remote name", email="old@x", phone="111")
        _round(orchestrator, "local")
        kit.assert_same(p, m, ids=["1"])
        merged = kit.get(p, "1") or {}
        assert (merged["email"], merged["phone"], merged["name"]) == (
            "new@x",
            "111",
            "remote name",
        )
        assert _conflicts(p)[0].policy == "merge_fields"
        settled = _round(orchestrator, "remote")
        assert sum(s.sent for s in settled) == 0

    def test_manual_keeps_both_sides_until_resolved_and_the_choice_propagates(
        self, kit: Kit
    ):
        p, m = self._diverge(kit, UPDATE, UPDATE, remote_newer=True)
        orchestrator = make_orchestrator([p, m], default_conflict_policy=ManualPolicy())
        _round(orchestrator, "local")
        assert kit.field(p, "1", "name") == "local edit"
        assert kit.field(m, "1", "name") == "remote edit"
        (log,) = _conflicts(p, ConflictStatus.DEFERRED)
        assert log.policy == "manual"
        (other_side,) = _conflicts(m, ConflictStatus.DEFERRED)
        chosen = p.store.resolve_conflict(log.id, log.local_change_id)
        resolved = p.store.get_conflict_log(log.id)
        assert resolved.status is ConflictStatus.RESOLVED
        assert resolved.winner_change_id == log.local_change_id
        assert resolved.loser_change_id == log.remote_change_id
        assert "waiting" not in resolved.description
        assert chosen.id in resolved.description
        _round(orchestrator, "local")
        assert kit.field(p, "1", "name") == kit.field(m, "1", "name") == "local edit"
        assert sum(s.conflicts for s in _round(orchestrator, "local")) == 0
        assert _status(m, other_side.id) is ConflictStatus.RESOLVED, (
            "the choice settles it there too"
        )

    def test_a_later_edit_settles_a_waiting_conflict(self, kit: Kit):
        p, m = self._diverge(kit, UPDATE, UPDATE, remote_newer=True)
        orchestrator = make_orchestrator([p, m], default_conflict_policy=ManualPolicy())
        _round(orchestrator, "local")
        kit.commit(m, UPDATE, "1", name="edited again")
        _round(orchestrator, "remote")
        assert kit.field(p, "1", "name") == kit.field(m, "1", "name") == "edited again"
        assert _conflicts(p, ConflictStatus.DEFERRED) == []
        assert _conflicts(m, ConflictStatus.DEFERRED) == []

    def test_three_providers_converge_after_concurrent_edits(self, kit: Kit):
        p = kit.provider("backend")
        a, b = kit.memory("a"), kit.memory("b")
        orchestrator = make_orchestrator([p, a, b])
        for n in range(3):
            kit.commit(p, INSERT, str(n), name="base")
        _round(orchestrator, "backend")
        kit.commit(p, UPDATE, "0", name="p")
        kit.commit(a, UPDATE, "0", name="a")
        kit.commit(b, DELETE, "1")
        kit.commit(a, UPDATE, "1", name="a")
        kit.commit(b, UPDATE, "2", name="b")
        _round(orchestrator, "a")
        kit.assert_same(p, a, b, ids=["0", "1", "2"])
        assert kit.field(p, "0", "name") == "a"
        assert kit.get(p, "1") is None

    # -- deferred changes -----------------------------------------------------

    @pytest.mark.parametrize("raise_error", [False, True], ids=["rejected", "raised"])
    def test_a_failing_change_is_deferred_then_retried(self, kit: Kit, raise_error):
        p, m = kit.provider(), kit.memory()
        kit.commit(m, INSERT, "1", name="blocked")
        kit.commit(m, INSERT, "2", name="fine")
        gate = RejectChanges(item_ids={"1"}, raise_error=raise_error)
        orchestrator = make_orchestrator([m, p], gate)
        session = orchestrator.synchronize_providers("memory", p.provider_id)
        assert (session.applied, session.deferred) == (1, 1)
        assert kit.get(p, "1") is None and kit.field(p, "2", "name") == "fine"
        (log,) = _deferred(p)
        expected = "RuntimeError: cannot store '1' yet" if raise_error else "rejected"
        assert expected in log.description
        assert p.store.get_knowledge() == m.store.get_knowledge()

        still = orchestrator.synchronize_providers("memory", p.provider_id)
        assert (still.sent, still.deferred) == (0, 1)
        gate.enabled = False
        orchestrator.synchronize_providers("memory", p.provider_id)
        assert kit.field(p, "1", "name") == "blocked"
        assert _deferred(p) == []
        assert _status(p, log.id) is ConflictStatus.RESOLVED

    def test_a_deferred_change_superseded_by_a_later_one_is_resolved(self, kit: Kit):
        p, m = kit.provider(), kit.memory()
        first = kit.commit(m, INSERT, "1", name="first")
        gate = RejectChanges()
        gate.change_ids = {first.id}
        orchestrator = make_orchestrator([m, p], gate)
        orchestrator.synchronize_providers("memory", p.provider_id)
        kit.commit(m, UPDATE, "1", name="second")
        orchestrator.synchronize_providers("memory", p.provider_id)
        assert kit.field(p, "1", "name") == "second"
        gate.enabled = False
        orchestrator.synchronize_providers("memory", p.provider_id)
        assert _deferred(p) == []
        assert kit.field(p, "1", "name") == "second"

    # -- interruptions, time limit, lock --------------------------------------

    @pytest.mark.parametrize("stop_after", [1, 2, 3, 4])
    def test_a_session_interrupted_after_a_batch_resumes(self, kit: Kit, stop_after):
        m = kit.memory(max_changes_per_session=2)
        p = kit.provider()
        for n in range(7):
            kit.commit(m, INSERT, str(n), count=n)
        kit.commit(m, UPDATE, "0", count=100)
        interrupted = make_orchestrator([m, p], InterruptAfter(stop_after * 2))
        with pytest.raises(KeyboardInterrupt):
            interrupted.synchronize_providers("memory", p.provider_id)
        (failed,) = [
            s for s in p.store.get_sessions() if s.status is SessionStatus.FAILED
        ]
        assert "interrupted" in str(failed.error)
        assert len(held_change_ids(p.store)) == stop_after * 2
        make_orchestrator([m, p]).synchronize_providers("memory", p.provider_id)
        assert held_change_ids(p.store) == held_change_ids(m.store)
        kit.assert_same(p, m, ids=[str(n) for n in range(7)])

    @pytest.mark.parametrize("killed_at", [1, 3, 5])
    def test_a_session_killed_inside_a_batch_keeps_earlier_batches(
        self, kit, killed_at
    ):
        m = kit.memory(max_changes_per_session=2)
        p = kit.provider()
        for n in range(6):
            kit.commit(m, INSERT, str(n))
        with pytest.raises(KeyboardInterrupt):
            make_orchestrator([m, p], KillInsideBatch(killed_at)).synchronize_providers(
                "memory", p.provider_id
            )
        assert len(held_change_ids(p.store)) == (killed_at - 1) // 2 * 2
        make_orchestrator([m, p]).synchronize_providers("memory", p.provider_id)
        kit.assert_same(p, m, ids=[str(n) for n in range(6)])
        assert held_change_ids(p.store) == held_change_ids(m.store)

    def test_a_session_past_its_time_limit_fails_keeps_its_work_and_resumes(
        self, kit: Kit
    ):
        m = kit.memory(max_changes_per_session=2)
        p = kit.provider()
        for n in range(6):
            kit.commit(m, INSERT, str(n))
        clock = FakeMonotonic()

        class SlowTarget:
            @hookimpl
            def maestro_change_applied(self, change, provider_id):
                clock.advance(3)

        slow = make_orchestrator(
            [m, p], SlowTarget(), maximum_duration_seconds=10, monotonic=clock
        )
        with pytest.raises(SyncTimeoutError, match="time limit of 10 s") as caught:
            slow.synchronize_providers("memory", p.provider_id)
        (failed,) = [
            s for s in p.store.get_sessions() if s.id == caught.value.session_id
        ]
        assert failed.status is SessionStatus.FAILED
        assert failed.applied == 4
        assert len(held_change_ids(p.store)) == 4
        make_orchestrator([m, p]).synchronize_providers("memory", p.provider_id)
        kit.assert_same(p, m, ids=[str(n) for n in range(6)])

    def test_run_returns_at_once_when_the_lock_is_held_elsewhere(self, kit: Kit):
        p, m = kit.provider(), kit.memory()
        kit.commit(m, INSERT, "1")
        lock = InMemorySyncLock()
        assert lock.acquire("someone else", 60)
        orchestrator = make_orchestrator([m, p], sync_lock=lock)
        assert orchestrator.run("memory") is None
        with pytest.raises(SyncLockedError):
            orchestrator.synchronize_providers("memory", p.provider_id)
        assert kit.get(p, "1") is None
        lock.release("someone else")
        assert orchestrator.run("memory") is not None
        assert kit.get(p, "1") is not None


class SyncLockConformance:
    """The lease behaviour every sync lock must show.

    Provide ``lock_factory()``, returning on each call a handle on the same
    lock (as two processes would each have one), and optionally override
    ``short_lease`` (seconds) for a store whose clock is coarse.
    """

    short_lease = 0.3

    def test_one_owner_at_a_time(self, lock_factory):
        first, second = lock_factory(), lock_factory()
        assert first.acquire("one", 60)
        assert not second.acquire("two", 60)
        assert first.acquire("one", 60), "the holder renews its lease"
        second.release("two")  # not the holder: no effect
        assert not second.acquire("two", 60)
        first.release("one")
        assert second.acquire("two", 60)
        second.release("two")

    def test_an_expired_lease_can_be_taken_over(self, lock_factory):
        crashed, successor = lock_factory(), lock_factory()
        assert crashed.acquire("crashed", self.short_lease)
        assert not successor.acquire("successor", 60)
        time.sleep(self.short_lease + 0.2)
        assert successor.acquire("successor", 60)
        assert not crashed.renew("crashed", 60)
        successor.release("successor")

    def test_only_one_of_many_racing_owners_wins(self, lock_factory):
        winners: list[str] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(6, timeout=RACE_TIMEOUT_SECONDS)

        def race(n: int) -> None:
            try:
                lock: SyncLock = lock_factory()
                barrier.wait()
                if lock.acquire(f"owner-{n}", 60):
                    winners.append(f"owner-{n}")
            except BaseException as error:
                # A racer that fails must not leave the others at the barrier.
                barrier.abort()
                errors.append(error)

        threads = [threading.Thread(target=race, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(RACE_TIMEOUT_SECONDS)
        assert not any(t.is_alive() for t in threads), "a racer is still running"
        failures = [
            e for e in errors if not isinstance(e, threading.BrokenBarrierError)
        ]
        assert not failures, f"racers failed: {failures!r}"
        assert not errors, f"racers never met at the barrier: {errors!r}"
        assert len(winners) == 1
        lock_factory().release(winners[0])
