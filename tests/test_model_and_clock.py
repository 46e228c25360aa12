"""Model records, vector clocks, hybrid timestamps and the documented aliases."""

from __future__ import annotations

import datetime as dt

import pytest

from maestro_core import (
    ConflictLog,
    ConflictType,
    ItemChange,
    Operation,
    SyncSession,
    Timestamp,
    VectorClock,
    create_memory_provider,
)
from maestro_core.clock import next_timestamp
from maestro_core.testing import FakeWallClock


def test_documented_import_paths_are_aliases():
    import maestro
    import maestro_core
    from maestro.core.metadata import Operation as AliasOperation
    from maestro.core.orchestrator import SyncOrchestrator

    assert AliasOperation is Operation
    assert SyncOrchestrator is maestro_core.SyncOrchestrator
    assert getattr(maestro, "__file__", None) is None, "maestro must stay a namespace"


def test_next_timestamp_follows_the_wall_clock_and_never_repeats():
    clock = FakeWallClock()
    wall = Timestamp.from_datetime(clock()).value
    assert next_timestamp(0, clock) == wall
    assert next_timestamp(wall, clock) == wall + 1
    assert next_timestamp(wall + 10, clock) == wall + 11
    with pytest.raises(ValueError, match="naive datetime"):
        next_timestamp(0, lambda: dt.datetime(2024, 1, 1))


def test_timestamps_convert_to_wall_time():
    when = dt.datetime(2024, 2, 29, 12, 0, 0, 5, tzinfo=dt.UTC)
    stamp = Timestamp.from_datetime(when)
    assert stamp.to_datetime() == when
    assert Timestamp(1) < Timestamp(2)
    with pytest.raises(ValueError, match="timestamp value -1 is not valid"):
        Timestamp(-1)


def test_vector_clock_inclusion_and_merge():
    a = VectorClock({"a": 3, "b": 1})
    b = VectorClock({"a": 2, "c": 5})
    assert not a.includes(b) and not b.includes(a)
    merged = a.merge(b)
    assert merged.to_dict() == {"a": 3, "b": 1, "c": 5}
    assert merged.includes(a) and merged.includes(b)
    assert VectorClock({"x": 0}) == VectorClock()
    assert a.advance("a", 2) is a
    with pytest.raises(ValueError, match="vector clock entry 'a': -3"):
        VectorClock({"a": -3})


def test_operations_are_named_exactly():
    assert Operation.coerce("update") is Operation.UPDATE
    with pytest.raises(
        ValueError,
        match="unknown operation 'MERGE'; expected one of INSERT, UPDATE, DELETE",
    ):
        Operation.coerce("MERGE")


def test_records_round_trip_through_dicts():
    store = create_memory_provider("p").store
    change = store.commit_item_change("INSERT", "note", "1", {"id": "1", "v": 1})
    assert ItemChange.from_dict(change.to_dict()) == change
    version = store.get_item_version("note", "1")
    assert type(version).from_dict(version.to_dict()) == version
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    log = ConflictLog(
        id="x",
        provider_id="p",
        conflict_type=ConflictType.EXCEPTION_OCCURRED,
        status="DEFERRED",
        entity_name="note",
        item_id="1",
        created_at=now,
    )
    assert ConflictLog.from_dict(log.to_dict()) == log
    session = SyncSession(
        id="s",
        source_provider_id="a",
        target_provider_id="b",
        status="SUCCEEDED",
        started_at=now,
        ended_at=now,
        sent=1,
    )
    assert SyncSession.from_dict(session.to_dict()) == session
