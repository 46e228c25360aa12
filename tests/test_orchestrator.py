"""The orchestrator's checks, hooks and round of sessions."""

from __future__ import annotations

import datetime as dt

import pytest

from maestro_core import (
    ConfigurationError,
    InMemorySyncLock,
    Resolution,
    SessionStatus,
    SyncOrchestrator,
    SyncProvider,
    UnknownProviderError,
    create_memory_provider,
    hookimpl,
)
from maestro_core.testing import FakeWallClock, make_orchestrator


@pytest.fixture
def clock():
    return FakeWallClock(tick=dt.timedelta(milliseconds=1))


def providers(clock, *ids):
    return [create_memory_provider(i, wall_clock=clock) for i in ids]


def test_getting_started_arguments(clock):
    orchestrator = SyncOrchestrator(
        sync_lock=InMemorySyncLock(),
        providers=providers(clock, "django", "firestore"),
        maximum_duration_seconds=10 * 60,
    )
    assert orchestrator.run(initial_source_provider_id="django") is not None


def test_fewer_than_two_providers(clock):
    with pytest.raises(
        ConfigurationError, match=r"got 1 provider\(s\) \['a'\]; expected at least two"
    ):
        SyncOrchestrator(sync_lock=InMemorySyncLock(), providers=providers(clock, "a"))


def test_duplicate_provider_ids(clock):
    with pytest.raises(ConfigurationError, match="provider id 'a' is used twice"):
        SyncOrchestrator(
            sync_lock=InMemorySyncLock(), providers=providers(clock, "a", "a")
        )


def test_unknown_provider_ids_are_named(clock):
    orchestrator = make_orchestrator(providers(clock, "a", "b"))
    with pytest.raises(
        UnknownProviderError,
        match=r"unknown provider 'c'; expected one of \['a', 'b'\]",
    ):
        orchestrator.run("c")
    with pytest.raises(UnknownProviderError, match="'z'"):
        orchestrator.synchronize_providers("a", "z")
    with pytest.raises(ConfigurationError, match="with itself"):
        orchestrator.synchronize_providers("a", "a")


def test_a_bad_time_limit_is_refused(clock):
    with pytest.raises(ConfigurationError, match="maximum_duration_seconds -1"):
        make_orchestrator(providers(clock, "a", "b"), maximum_duration_seconds=-1)


def test_providers_must_agree_on_policies(clock):
    a, b = providers(clock, "a", "b")
    a = SyncProvider(store=a.store, conflict_policies={"note": "manual"})
    b = SyncProvider(store=b.store, conflict_policies={"note": "update_wins"})
    with pytest.raises(
        ConfigurationError, match="ask for different conflict policies for 'note'"
    ):
        make_orchestrator([a, b])
    assert make_orchestrator([a, b], conflict_policies={"note": "manual"})


def test_a_policy_a_provider_asks_for_applies_both_ways(clock):
    a, b = providers(clock, "a", "b")
    a = SyncProvider(store=a.store, conflict_policies={"note": "update_wins"})
    orchestrator = make_orchestrator([a, b])
    a.store.commit_item_change("INSERT", "note", "1", {"id": "1"})
    orchestrator.run("a")
    a.store.commit_item_change("UPDATE", "note", "1", {"id": "1", "v": "a"})
    b.store.commit_item_change("DELETE", "note", "1", {"id": "1"})
    orchestrator.run("b")
    assert (
        a.store.get_item("note", "1")
        == b.store.get_item("note", "1")
        == {"id": "1", "v": "a"}
    )


def test_n_providers_converge_in_one_run(clock):
    many = providers(clock, *"abcde")
    for n, provider in enumerate(many):
        provider.store.commit_item_change("INSERT", "note", str(n), {"id": str(n)})
    sessions = make_orchestrator(many).run("c")
    assert len(sessions) == 2 * 4 + 3
    for provider in many:
        assert provider.store.get_items("note").keys() == {"0", "1", "2", "3", "4"}


class Recorder:
    def __init__(self):
        self.events = []

    @hookimpl
    def maestro_session_started(self, session):
        self.events.append(("started", session.source_provider_id, session.status))

    @hookimpl
    def maestro_session_finished(self, session):
        self.events.append(("finished", session.source_provider_id, session.status))

    @hookimpl
    def maestro_change_applied(self, change, provider_id):
        self.events.append(("applied", change.item_id, provider_id))

    @hookimpl
    def maestro_conflict_recorded(self, log):
        self.events.append(("conflict", log.item_id, log.provider_id))


def test_observers_see_sessions_changes_and_conflicts(clock):
    a, b = providers(clock, "a", "b")
    recorder = Recorder()
    orchestrator = make_orchestrator([a, b], recorder)
    a.store.commit_item_change("INSERT", "note", "1", {"id": "1"})
    b.store.commit_item_change("INSERT", "note", "1", {"id": "1", "v": 2})
    orchestrator.synchronize_providers("a", "b")
    assert recorder.events == [
        ("started", "a", SessionStatus.IN_PROGRESS),
        ("conflict", "1", "b"),
        ("finished", "a", SessionStatus.SUCCEEDED),
    ]


def test_a_hook_can_decide_a_conflict_before_the_policy(clock):
    a, b = providers(clock, "a", "b")

    class KeepLongest:
        @hookimpl
        def maestro_resolve_conflict(self, conflict, provider_id):
            if conflict.entity_name != "note":
                return None
            return Resolution(
                winner=max(conflict.changes, key=lambda c: len(c.item["text"]))
            )

    orchestrator = make_orchestrator([a, b], KeepLongest())
    a.store.commit_item_change(
        "INSERT", "note", "1", {"id": "1", "text": "a long text"}
    )
    b.store.commit_item_change("INSERT", "note", "1", {"id": "1", "text": "short"})
    orchestrator.run("a")
    assert a.store.get_item("note", "1")["text"] == "a long text"
    assert b.store.get_item("note", "1")["text"] == "a long text"
    assert {log.policy for log in a.store.get_conflict_logs()} == {"hook"}


def test_a_policy_returning_nonsense_defers_the_change(clock):
    a, b = providers(clock, "a", "b")

    class Nonsense:
        @hookimpl
        def maestro_resolve_conflict(self, conflict, provider_id):
            return "the first one"

    orchestrator = make_orchestrator([a, b], Nonsense())
    a.store.commit_item_change("INSERT", "note", "1", {"id": "1"})
    b.store.commit_item_change("INSERT", "note", "1", {"id": "1", "v": 2})
    session = orchestrator.synchronize_providers("a", "b")
    assert session.deferred == 1
    (log,) = b.store.get_conflict_logs()
    assert "returned 'the first one'; expected a Resolution" in log.description


def test_a_failing_source_fails_the_session_and_records_it(clock):
    a, b = providers(clock, "a", "b")
    a.store.commit_item_change("INSERT", "note", "1", {"id": "1"})

    def broken(*args):
        raise ConnectionError("source went away")

    a.store.select_changes = broken
    with pytest.raises(ConnectionError):
        make_orchestrator([a, b]).synchronize_providers("a", "b")
    (session,) = b.store.get_sessions()
    assert session.status is SessionStatus.FAILED
    assert session.error == "ConnectionError: source went away"
