"""The ``maestro`` command, end to end over providers kept in SQLite files.

Each ``main([...])`` call opens the providers afresh from the configuration
file, as separate runs of the command would, so state carries over only
through the files.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from maestro_sqlite import SqliteSyncLock, create_sqlite_provider

from maestro_core import ConflictStatus
from maestro_core.cli import EXIT_FAILURE, EXIT_LOCKED, EXIT_OK, EXIT_USAGE, main

ENTITY = "shop.customer"


class Shop:
    """Two SQLite providers and the configuration file naming them."""

    def __init__(self, directory: Path, *, batch: int = 50, policy: str = "manual"):
        self.directory = directory
        self.paths = {p: directory / f"{p}.sqlite3" for p in ("north", "south")}
        self.config = directory / "maestro.toml"
        providers = "".join(
            f"""
            [[providers]]
            id = "{provider}"
            backend = "sqlite"
            max_changes_per_session = {batch}
            [providers.options]
            path = "{path}"
            """
            for provider, path in self.paths.items()
        )
        self.config.write_text(
            textwrap.dedent(
                f"""
                [sync]
                lock = "north"

                [policies]
                default = "last_writer_wins"
                [policies.entities]
                "{ENTITY}" = "{policy}"
                """
            )
            + textwrap.dedent(providers)
        )

    def commit(self, provider: str, item_id: str, **fields) -> str:
        opened = create_sqlite_provider(provider, str(self.paths[provider]))
        try:
            change = opened.store.commit_item_change(
                "UPDATE", ENTITY, item_id, {"id": item_id, **fields}
            )
        finally:
            opened.store.close()
        return change.id

    def items(self, provider: str) -> dict[str, dict]:
        opened = create_sqlite_provider(provider, str(self.paths[provider]))
        try:
            return {
                item_id: opened.store.get_item(ENTITY, item_id)
                for item_id in ("1", "2", "3")
                if opened.store.get_item(ENTITY, item_id) is not None
            }
        finally:
            opened.store.close()


@pytest.fixture
def shop(tmp_path):
    return Shop(tmp_path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def run_json(capsys, *argv: str):
    status, out, err = run(capsys, *argv, "--json")
    return status, json.loads(out), err


# -- backends ---------------------------------------------------------------


def test_backends_lists_each_with_its_distribution(capsys):
    status, out, err = run(capsys, "backends")
    assert status == EXIT_OK and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["BACKEND", "DISTRIBUTION", "VERSION", "DESCRIPTION"]
    rows = {line.split()[0]: line.split()[1:3] for line in lines[1:]}
    for backend, distribution in (
        ("memory", "maestro-sync"),
        ("sqlite", "maestro-sqlite"),
    ):
        version = importlib.metadata.version(distribution)
        assert rows[backend] == [distribution, version]

    status, listed, _ = run_json(capsys, "backends")
    by_name = {b["name"]: b for b in listed}
    assert by_name["sqlite"]["distribution"] == "maestro-sqlite"
    assert by_name["memory"]["has_lock"] is True
    assert [b["name"] for b in listed] == sorted(by_name)


def test_backends_honours_the_plugin_switch(capsys, monkeypatch):
    from maestro_core import plugins

    monkeypatch.setenv("MAESTRO_PLUGINS", "sqlite")
    plugins.reset_plugins()
    try:
        _, listed, _ = run_json(capsys, "backends")
    finally:
        monkeypatch.delenv("MAESTRO_PLUGINS")
        plugins.reset_plugins()
    assert [b["name"] for b in listed] == ["memory", "sqlite"]


# -- a conflict, from detection to settlement -----------------------------------


def test_manual_conflict_is_listed_resolved_and_converges(shop, capsys):
    shop.commit("north", "1", name="Ada", city="Oslo")
    shop.commit("south", "2", name="Bo", city="Rome")
    north_edit = shop.commit("north", "3", name="Cy", city="Paris")
    south_edit = shop.commit("south", "3", name="Cy", city="Lyon")
    config = str(shop.config)

    # status before any sync: what waits in each direction
    status, report, _ = run_json(capsys, "status", "--config", config)
    assert status == EXIT_OK
    waiting = {
        (p["source_provider_id"], p["target_provider_id"]): p["waiting"]
        for p in report["pairs"]
    }
    assert waiting == {("north", "south"): 2, ("south", "north"): 2}
    assert all(p["last_session"] is None for p in report["pairs"])

    # the sync applies what does not conflict and leaves item 3 for a person
    status, out, err = run(capsys, "sync", "--config", config)
    assert status == EXIT_OK, err
    assert "north -> south  SUCCEEDED  sent 2, applied 1, conflicts 1" in out
    assert "south -> north  SUCCEEDED  sent 2, applied 1, conflicts 1" in out
    assert "synced from 'north': 2 sessions, all succeeded" in out
    assert "2 conflict(s) for a decision" in out

    status, out, _ = run(
        capsys, "conflicts", "--config", config, "--status", "deferred"
    )
    assert status == EXIT_OK
    header, *rows = out.strip().splitlines()[:3]
    assert header.split()[:5] == ["ID", "PROVIDER", "TYPE", "STATUS", "ITEM"]
    assert len(rows) == 2
    for row in rows:
        assert "update/update  DEFERRED  shop.customer/3" in row
        assert f"{north_edit[:8]} (north)" in row and f"{south_edit[:8]} (south)" in row
        assert "manual: waiting for a decision" in row
    assert "maestro resolve ID --winner CHANGE" in out

    _, deferred, _ = run_json(
        capsys, "conflicts", "--config", config, "--status", "deferred"
    )
    assert {c["provider_id"] for c in deferred} == {"north", "south"}
    on_south = next(c for c in deferred if c["provider_id"] == "south")
    assert on_south["status"] == "DEFERRED"
    assert {on_south["local_change_id"], on_south["remote_change_id"]} == {
        north_edit,
        south_edit,
    }

    # a person chooses north's edit, on south, by unique prefixes
    status, out, err = run(
        capsys, "resolve", on_south["id"][:10], "--winner", north_edit[:8], "-c", config
    )
    assert status == EXIT_OK, err
    assert f"conflict {on_south['id']} on 'south' resolved: change {north_edit}" in out

    status, summary, _ = run_json(capsys, "sync", "--config", config)
    assert status == EXIT_OK
    assert summary["status"] == "SUCCEEDED"
    assert summary["waiting_for_decision"] == {"conflicts": 0, "deferred_changes": 0}

    status, out, _ = run(
        capsys, "conflicts", "--config", config, "--status", "deferred"
    )
    assert out == "no deferred conflicts\n"
    _, resolved, _ = run_json(
        capsys, "conflicts", "--config", config, "--status", "resolved"
    )
    assert len(resolved) == 2
    assert all(c["status"] == ConflictStatus.RESOLVED.value for c in resolved)

    expected = {
        "1": {"id": "1", "name": "Ada", "city": "Oslo"},
        "2": {"id": "2", "name": "Bo", "city": "Rome"},
        "3": {"id": "3", "name": "Cy", "city": "Paris"},
    }
    assert shop.items("north") == shop.items("south") == expected

    _, report, _ = run_json(capsys, "status", "--config", config)
    assert all(p["waiting"] == 0 for p in report["pairs"])
    assert all(p["last_session"]["status"] == "SUCCEEDED" for p in report["pairs"])
    assert all(
        p["unresolved_conflicts"] == 0 and p["deferred_changes"] == 0
        for p in report["providers"]
    )


def test_status_as_text(shop, capsys):
    shop.commit("north", "1", name="Ada")
    config = str(shop.config)
    status, out, _ = run(capsys, "status", "--config", config)
    assert status == EXIT_OK
    lines = out.splitlines()
    assert lines[0].split() == [
        "PROVIDER",
        "BACKEND",
        "DEFERRED",
        "CHANGES",
        "UNRESOLVED",
        "CONFLICTS",
    ]
    assert lines[1].split() == ["north", "sqlite", "0", "0"]
    assert lines[4].split() == ["FROM", "TO", "WAITING", "LAST", "SESSION"]
    assert lines[5].split() == ["north", "south", "1", "never"]
    assert lines[6].split() == ["south", "north", "0", "never"]

    assert run(capsys, "sync", "--config", config)[0] == EXIT_OK
    _, out, _ = run(capsys, "status", "--config", config)
    row = out.splitlines()[5]
    assert row.startswith("north  south  0        SUCCEEDED 20")
    assert row.endswith("UTC: sent 1, applied 1, conflicts 0, deferred 0")


def test_resolve_refuses_what_it_cannot_settle(shop, capsys):
    north_edit = shop.commit("north", "3", name="Cy", city="Paris")
    shop.commit("south", "3", name="Cy", city="Lyon")
    config = str(shop.config)
    run(capsys, "sync", "--config", config)
    _, deferred, _ = run_json(capsys, "conflicts", "--config", config)
    conflict = deferred[0]["id"]

    status, out, err = run(
        capsys, "resolve", "nope", "--winner", north_edit, "-c", config
    )
    assert status == EXIT_FAILURE and out == ""
    assert err == (
        f"maestro: no conflict 'nope' on any provider of {config}; expected an id "
        "that `maestro conflicts` lists\n"
    )

    status, _, err = run(
        capsys, "resolve", conflict, "--winner", "feedface", "-c", config
    )
    assert status == EXIT_FAILURE
    assert "change 'feedface' is not a side of conflict" in err

    assert (
        run(capsys, "resolve", conflict, "--winner", north_edit, "-c", config)[0] == 0
    )
    status, _, err = run(
        capsys, "resolve", conflict, "--winner", north_edit, "-c", config
    )
    assert status == EXIT_FAILURE
    assert "is already RESOLVED; expected a DEFERRED conflict" in err


def test_resolve_needs_a_winner(shop, capsys):
    status, _, err = run(capsys, "resolve", "abc", "--config", str(shop.config))
    assert status == EXIT_USAGE
    assert "the following arguments are required: --winner" in err


def test_conflicts_when_there_are_none(shop, capsys):
    status, out, _ = run(capsys, "conflicts", "--config", str(shop.config))
    assert (status, out) == (EXIT_OK, "no conflicts\n")
    status, _, err = run(
        capsys, "conflicts", "--config", str(shop.config), "--status", "open"
    )
    assert status == EXIT_USAGE
    assert "invalid choice: 'open'" in err


def test_conflicts_resolved_by_a_policy_show_winner_and_loser(tmp_path, capsys):
    shop = Shop(tmp_path, policy="last_writer_wins")
    older = shop.commit("north", "1", name="old")
    newer = shop.commit("south", "1", name="new")
    run(capsys, "sync", "--config", str(shop.config))
    status, out, _ = run(capsys, "conflicts", "--config", str(shop.config))
    assert status == EXIT_OK
    rows = out.strip().splitlines()[1:]
    assert len(rows) == 2
    for row in rows:
        assert "RESOLVED" in row and "last_writer_wins" in row
        assert f"won {newer[:8]} (south), lost {older[:8]} (north)" in row
    assert "maestro resolve" not in out
    assert (
        shop.items("north") == shop.items("south") == {"1": {"id": "1", "name": "new"}}
    )


# -- sync: progress, the lock, failures -------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_sync_on_a_terminal_redraws_a_progress_line_per_batch(tmp_path, monkeypatch):
    shop = Shop(tmp_path, batch=2)
    opened = create_sqlite_provider("north", str(shop.paths["north"]))
    for i in range(7):
        opened.store.commit_item_change("INSERT", "shop.order", str(i), {"id": str(i)})
    opened.store.close()
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)

    assert main(["sync", "--config", str(shop.config)]) == EXIT_OK

    screen = terminal.getvalue()
    redraws = [part for part in screen.split("\r\x1b[K") if part]
    north_to_south = [r for r in redraws if r.startswith("north -> south")]
    progress = [r.split("  ", 1)[1].strip() for r in north_to_south[:-1]]
    assert progress == [
        "[--------------------] sent 0/7, applied 0, conflicts 0, deferred 0",
        "[######--------------] sent 2/7, applied 2, conflicts 0, deferred 0",
        "[###########---------] sent 4/7, applied 4, conflicts 0, deferred 0",
        "[#################---] sent 6/7, applied 6, conflicts 0, deferred 0",
        "[####################] sent 7/7, applied 7, conflicts 0, deferred 0",
    ]
    assert north_to_south[-1].startswith(
        "north -> south  SUCCEEDED  sent 7, applied 7, conflicts 0, deferred 0"
    )
    assert north_to_south[-1].endswith("s)\n")


def test_sync_off_a_terminal_writes_one_line_per_session(shop, capsys):
    shop.commit("north", "1", name="Ada")
    status, out, _ = run(
        capsys, "sync", "--config", str(shop.config), "--from", "south"
    )
    assert status == EXIT_OK
    assert "\r" not in out
    lines = out.splitlines()
    assert lines[0].startswith("south -> north  SUCCEEDED  sent 0, applied 0")
    assert lines[1].startswith("north -> south  SUCCEEDED  sent 1, applied 1")
    assert lines[2] == (
        "synced from 'south': 2 sessions, all succeeded; sent 1, applied 1, "
        "conflicts 0, deferred 0"
    )
    assert len(lines) == 3


def test_sync_json_is_one_document(shop, capsys):
    shop.commit("north", "1", name="Ada")
    status, summary, err = run_json(capsys, "sync", "--config", str(shop.config))
    assert status == EXIT_OK and err == ""
    assert summary["status"] == "SUCCEEDED"
    assert summary["config"] == str(shop.config)
    assert summary["initial_provider"] == "north"
    assert summary["totals"] == {
        "sessions": 2,
        "failed": 0,
        "sent": 1,
        "applied": 1,
        "conflicts": 0,
        "deferred": 0,
    }
    first = summary["sessions"][0]
    assert (first["source_provider_id"], first["target_provider_id"]) == (
        "north",
        "south",
    )
    assert (first["status"], first["sent"], first["applied"]) == ("SUCCEEDED", 1, 1)
    assert summary["error"] is None


def test_sync_while_the_lock_is_held_elsewhere(shop, capsys):
    shop.commit("north", "1", name="Ada")
    lock = SqliteSyncLock(str(shop.paths["north"]))
    assert lock.acquire("another-orchestrator", 60)
    try:
        status, out, err = run(capsys, "sync", "--config", str(shop.config))
        assert status == EXIT_LOCKED
        assert out == ""
        assert err == (
            "maestro: the sync lock is held by another orchestrator; nothing was "
            "synced, try again later\n"
        )
        status, summary, _ = run_json(capsys, "sync", "--config", str(shop.config))
        assert status == EXIT_LOCKED
        assert summary["status"] == "LOCKED" and summary["sessions"] == []
    finally:
        lock.release("another-orchestrator")
        lock.close()
    assert shop.items("south") == {}
    assert run(capsys, "sync", "--config", str(shop.config))[0] == EXIT_OK
    assert shop.items("south") == {"1": {"id": "1", "name": "Ada"}}


def test_python_dash_m_runs_the_command(shop):
    shop.commit("north", "1", name="Ada")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "maestro_core",
            "sync",
            "--json",
            "-c",
            str(shop.config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["applied"] == 1


def test_the_installed_script_runs(shop):
    script = Path(sys.executable).with_name("maestro")
    assert script.exists(), "the maestro console script is not installed"
    shop.commit("south", "2", name="Bo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAESTRO_")}
    env["MAESTRO_CONFIG"] = str(shop.config)
    result = subprocess.run(
        [str(script), "sync"], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "synced from 'north': 2 sessions, all succeeded" in result.stdout
    result = subprocess.run(
        [str(script), "status", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert all(p["waiting"] == 0 for p in json.loads(result.stdout)["pairs"])
    assert shop.items("north") == {"2": {"id": "2", "name": "Bo"}}


def test_usage_errors_exit_2(capsys):
    assert run(capsys)[0] == EXIT_USAGE
    status, _, err = run(capsys, "frobnicate")
    assert status == EXIT_USAGE and "invalid choice: 'frobnicate'" in err
    status, out, _ = run(capsys, "--help")
    assert status == EXIT_OK and "Exit status: 0 done" in out


# -- the per-batch hook the progress line follows -----------------------------------


def test_batch_hook_reports_running_counts_and_can_fail_the_session():
    from maestro_core import (
        InMemorySyncLock,
        SessionStatus,
        SyncOrchestrator,
        create_memory_provider,
        create_plugin_manager,
        hookimpl,
    )

    source = create_memory_provider("source", max_changes_per_session=3)
    target = create_memory_provider("target")
    for i in range(7):
        source.store.commit_item_change("INSERT", "shop.order", str(i), {"id": str(i)})

    class Watcher:
        def __init__(self, fail_at: int | None = None):
            self.seen: list[tuple[str, int, int, int]] = []
            self.fail_at = fail_at

        @hookimpl
        def maestro_batch_applied(self, session, batch):
            self.seen.append(
                (session.status.value, session.sent, session.applied, len(batch))
            )
            if session.sent == self.fail_at:
                raise RuntimeError("display gone")

    watcher = Watcher()
    orchestrator = SyncOrchestrator(
        InMemorySyncLock(),
        [source, target],
        plugin_manager=create_plugin_manager(watcher),
    )
    orchestrator.synchronize_providers("source", "target")
    assert watcher.seen == [
        ("IN_PROGRESS", 3, 3, 3),
        ("IN_PROGRESS", 6, 6, 3),
        ("IN_PROGRESS", 7, 7, 1),
    ]

    for i in range(7, 14):
        source.store.commit_item_change("INSERT", "shop.order", str(i), {"id": str(i)})
    failing = Watcher(fail_at=3)
    orchestrator = SyncOrchestrator(
        InMemorySyncLock(),
        [source, target],
        plugin_manager=create_plugin_manager(failing),
    )
    with pytest.raises(RuntimeError, match="display gone"):
        orchestrator.synchronize_providers("source", "target")
    last = target.store.get_sessions(limit=1)[0]
    assert (last.status, last.sent, last.applied) == (SessionStatus.FAILED, 3, 3)
    assert target.store.get_item("shop.order", "9") is not None  # committed stays
    assert target.store.get_item("shop.order", "10") is None
