"""What the SQLite backend adds to the kit: files that persist and belong to one
provider, and registration through the entry point."""

import pytest
from maestro_sqlite import SqliteDataStore

import maestro_core
from maestro_core.testing import assert_converged, make_orchestrator


def test_a_reopened_file_holds_what_was_committed(tmp_path):
    path = str(tmp_path / "shop.sqlite3")
    store = SqliteDataStore("shop", path)
    change = store.commit_item_change("INSERT", "product", "1", {"id": "1", "n": 2})
    store.close()
    again = SqliteDataStore("shop", path)
    assert again.get_item("product", "1") == {"id": "1", "n": 2}
    assert again.get_knowledge().to_dict() == {"shop": change.timestamp}
    assert again.read_clock_for_update() == change.timestamp
    again.close()


def test_a_file_belongs_to_one_provider(tmp_path):
    path = str(tmp_path / "shop.sqlite3")
    SqliteDataStore("shop", path).close()
    with pytest.raises(ValueError, match="holds provider 'shop'"):
        SqliteDataStore("warehouse", path)


def test_an_in_memory_database_works_for_one_process():
    store = SqliteDataStore("scratch", ":memory:")
    store.commit_item_change("INSERT", "note", "1", {"id": "1", "text": "hi"})
    assert store.get_items("note") == {"1": {"id": "1", "text": "hi"}}


def test_the_entry_point_registers_the_backend_and_it_syncs_with_memory(tmp_path):
    maestro_core.plugins.reset_plugins()
    backend = maestro_core.get_backend("sqlite")
    assert backend.distribution == "maestro-sqlite"
    sqlite = backend.provider_factory(
        provider_id="laptop", path=str(tmp_path / "laptop.sqlite3")
    )
    memory = maestro_core.get_backend("memory").provider_factory(provider_id="phone")
    sqlite.store.commit_item_change("INSERT", "note", "1", {"id": "1", "v": 1.5})
    memory.store.commit_item_change("INSERT", "note", "2", {"id": "2", "v": [1]})
    lock = backend.lock_factory(path=str(tmp_path / "lock.sqlite3"))
    orchestrator = make_orchestrator([sqlite, memory], sync_lock=lock)
    sessions = orchestrator.run("laptop")
    assert sessions and all(s.status.value == "SUCCEEDED" for s in sessions)
    assert_converged([sqlite.store, memory.store], [("note", "1"), ("note", "2")])
    sqlite.store.close()


def _open_locks_at_once(path: str, count: int) -> tuple[list, list]:
    """Open *count* locks on *path* from as many threads, all at one moment."""
    import threading

    from maestro_sqlite import SqliteSyncLock

    barrier = threading.Barrier(count, timeout=30)
    opened: list = []
    errors: list = []

    def open_lock() -> None:
        try:
            barrier.wait()
            opened.append(SqliteSyncLock(path))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=open_lock) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return opened, errors


def test_many_connections_can_open_a_new_file_at_once(tmp_path):
    """Switching a new file to write-ahead logging waits for the others."""
    for attempt in range(20):
        opened, errors = _open_locks_at_once(str(tmp_path / f"{attempt}.db"), 6)
        for lock in opened:
            lock.close()
        assert errors == []
        assert len(opened) == 6
