"""The configuration file: each mistake gets one message naming file and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from maestro_sqlite import SqliteSyncLock

from maestro_core import InMemorySyncLock, SyncOrchestrator
from maestro_core.cli import (
    Config,
    ConfigFileError,
    close_orchestrator,
    find_config,
    load_config,
    main,
    parse_config,
)


def _write(directory: Path, text: str, name: str = "maestro.toml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def _two_sqlite(
    directory: Path, head: str = "", first: str = "", second: str = ""
) -> str:
    return textwrap.dedent(head) + textwrap.dedent(
        f"""
            [[providers]]
            id = "a"
            backend = "sqlite"
            {first}
            [providers.options]
            path = "{directory / "a.sqlite3"}"

            [[providers]]
            id = "b"
            backend = "sqlite"
            {second}
            [providers.options]
            path = "{directory / "b.sqlite3"}"
            """
    )


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# Each case: a file's text (``{dir}`` is the test's folder) and the message
# expected after "maestro: <file>: ".
MISTAKES = {
    "toml syntax": (
        "[sync\nlock = 'a'\n",
        "not valid TOML: ",
    ),
    "unknown top-level key": (
        '[sinc]\nlock = "a"\n' + "{providers}",
        "sinc: unknown key; expected one of ['policies', 'providers', 'sync']",
    ),
    "no providers": (
        "[sync]\n",
        "providers: missing; expected at least two [[providers]] tables",
    ),
    "providers not tables": (
        'providers = "a, b"\n',
        "providers: 'a, b' is not valid; expected [[providers]] tables",
    ),
    "one provider": (
        '[[providers]]\nid = "a"\nbackend = "memory"\n',
        "providers: 1 provider(s) ['a']; expected at least two [[providers]] tables",
    ),
    "unknown backend": (
        '[[providers]]\nid = "a"\nbackend = "memory"\n'
        '[[providers]]\nid = "b"\nbackend = "mongoo"\n',
        "providers[1].backend: unknown backend 'mongoo'; expected one of [",
    ),
    "missing backend": (
        '[[providers]]\nid = "a"\nbackend = "memory"\n[[providers]]\nid = "b"\n',
        "providers[1].backend: missing; expected a backend name, a non-empty string",
    ),
    "missing id": (
        '[[providers]]\nbackend = "memory"\n[[providers]]\nid = "b"\n'
        'backend = "memory"\n',
        "providers[0].id: missing; expected the provider's id, a non-empty string",
    ),
    "id of the wrong type": (
        '[[providers]]\nid = 7\nbackend = "memory"\n[[providers]]\nid = "b"\n'
        'backend = "memory"\n',
        "providers[0].id: 7 is not valid; expected the provider's id",
    ),
    "provider id used twice": (
        '[[providers]]\nid = "a"\nbackend = "memory"\n'
        '[[providers]]\nid = "a"\nbackend = "memory"\n',
        "providers[1].id: provider id 'a' is used twice (also by providers[0]); "
        "expected each provider to have its own id",
    ),
    "unknown provider key": (
        '[[providers]]\nid = "a"\nbackend = "memory"\noptons = {}\n'
        '[[providers]]\nid = "b"\nbackend = "memory"\n',
        "providers[0].optons: unknown key; expected one of ['backend', 'id', "
        "'max_changes_per_session', 'options']",
    ),
    "batch size of the wrong type": (
        "{providers_first_batch}",
        "providers[0].max_changes_per_session: 'ten' is not valid; expected a "
        "positive integer",
    ),
    "options not a table": (
        '[[providers]]\nid = "a"\nbackend = "memory"\noptions = "path=x"\n'
        '[[providers]]\nid = "b"\nbackend = "memory"\n',
        "providers[0].options: 'path=x' is not valid; expected a table",
    ),
    "option of the wrong type": (
        '[[providers]]\nid = "a"\nbackend = "sqlite"\n[providers.options]\n'
        'path = { file = "a" }\n'
        '[[providers]]\nid = "b"\nbackend = "memory"\n',
        "providers[0].options.path: a table is not valid; expected a string, "
        "number, boolean, or an array of them",
    ),
    "missing option": (
        '[[providers]]\nid = "a"\nbackend = "sqlite"\n'
        '[[providers]]\nid = "b"\nbackend = "memory"\n',
        "providers[0].options.path: missing; backend 'sqlite' needs it",
    ),
    "unknown option": (
        '[[providers]]\nid = "a"\nbackend = "sqlite"\n[providers.options]\n'
        'paht = "a.sqlite3"\n'
        '[[providers]]\nid = "b"\nbackend = "memory"\n',
        "providers[0].options.paht: unknown option for backend 'sqlite'; expected "
        "one of ['path']",
    ),
    "option for a backend with none": (
        '[[providers]]\nid = "a"\nbackend = "memory"\n[providers.options]\n'
        'path = "a"\n[[providers]]\nid = "b"\nbackend = "memory"\n',
        "providers[0].options.path: unknown option for backend 'memory'; "
        "expected one of []",
    ),
    "option the provider table sets": (
        '[[providers]]\nid = "a"\nbackend = "memory"\n[providers.options]\n'
        "max_changes_per_session = 5\n"
        '[[providers]]\nid = "b"\nbackend = "memory"\n',
        "providers[0].options.max_changes_per_session: is set by the provider "
        "table itself",
    ),
    "factory refusing its options": (
        '[[providers]]\nid = "a"\nbackend = "sqlite"\n[providers.options]\n'
        'path = "{dir}/same.sqlite3"\n'
        '[[providers]]\nid = "b"\nbackend = "sqlite"\n[providers.options]\n'
        'path = "{dir}/same.sqlite3"\n',
        "providers[1].options: backend 'sqlite' refused the options of provider "
        "'b': the SQLite file",
    ),
    "unknown default policy": (
        '[policies]\ndefault = "coin_toss"\n{providers}',
        "policies.default: unknown conflict policy 'coin_toss'; expected one of [",
    ),
    "unknown entity policy": (
        '[policies.entities]\n"shop.order" = "coin_toss"\n{providers}',
        "policies.entities.\"shop.order\": unknown conflict policy 'coin_toss'",
    ),
    "policy arguments not an array": (
        '[policies.entities]\n"shop.order" = { name = "prefer_provider", '
        'args = "a" }\n{providers}',
        "policies.entities.\"shop.order\".args: 'a' is not valid; expected an "
        "array of arguments",
    ),
    "policy import path that fails": (
        '[policies]\ndefault = "no_such_module.Policy"\n{providers}',
        "policies.default: conflict policy 'no_such_module.Policy' cannot be imported",
    ),
    "negative time limit": (
        "[sync]\nmaximum_duration_seconds = -5\n{providers}",
        "sync.maximum_duration_seconds: -5 is not valid; expected a positive "
        "number of seconds",
    ),
    "time limit of the wrong type": (
        '[sync]\nmaximum_duration_seconds = "10 minutes"\n{providers}',
        "sync.maximum_duration_seconds: '10 minutes' is not valid",
    ),
    "unknown lock provider": (
        '[sync]\nlock = "c"\n{providers}',
        "sync.lock: unknown provider 'c'; expected one of ['a', 'b']",
    ),
    "unknown initial provider": (
        '[sync]\ninitial_provider = "c"\n{providers}',
        "sync.initial_provider: unknown provider 'c'; expected one of ['a', 'b']",
    ),
    "unknown sync key": (
        "[sync]\nmax_duration = 5\n{providers}",
        "sync.max_duration: unknown key; expected one of ['initial_provider', "
        "'lock', 'maximum_duration_seconds']",
    ),
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_each_mistake_gets_one_message_naming_file_and_key(case, tmp_path, capsys):
    text, expected = MISTAKES[case]
    providers = _two_sqlite(tmp_path)
    text = text.replace("{providers}", providers).replace("{dir}", str(tmp_path))
    text = text.replace(
        "{providers_first_batch}",
        _two_sqlite(tmp_path, first='max_changes_per_session = "ten"'),
    )
    path = _write(tmp_path, text)

    for command in (["sync"], ["status"], ["conflicts"]):
        status, out, err = _run(capsys, *command, "--config", str(path))
        assert status == 2, (command, err)
        assert out == ""
        assert err.startswith(f"maestro: {path}: "), err
        assert expected in err, err
        assert err.count("\n") == 1, err
        assert "Traceback" not in err


def test_a_missing_file_is_named(tmp_path, capsys):
    missing = tmp_path / "nowhere.toml"
    status, out, err = _run(capsys, "sync", "--config", str(missing))
    assert status == 2 and out == ""
    assert err == (
        f"maestro: {missing}: no such file; expected a TOML configuration file\n"
    )


def test_a_directory_is_not_a_config_file(tmp_path, capsys):
    status, _, err = _run(capsys, "status", "--config", str(tmp_path))
    assert status == 2
    assert err == (
        f"maestro: {tmp_path}: is a directory; expected a TOML configuration file\n"
    )


def test_toml_error_says_where(tmp_path, capsys):
    path = _write(tmp_path, '[[providers]]\nid = "a"\nbackend = \n')
    status, _, err = _run(capsys, "sync", "--config", str(path))
    assert status == 2
    assert "(at line 3, column" in err


def test_unknown_from_provider_names_the_option(tmp_path, capsys):
    path = _write(tmp_path, _two_sqlite(tmp_path))
    status, out, err = _run(capsys, "sync", "--config", str(path), "--from", "zed")
    assert status == 2 and out == ""
    assert err == (
        f"maestro: {path}: --from: unknown provider 'zed'; expected one of ['a', 'b']\n"
    )


def test_no_config_anywhere(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAESTRO_CONFIG", raising=False)
    status, _, err = _run(capsys, "status")
    assert status == 2
    assert "pass --config FILE, set MAESTRO_CONFIG, or create ./maestro.toml" in err


def test_discovery_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAESTRO_CONFIG", raising=False)
    _write(tmp_path, _two_sqlite(tmp_path))
    assert find_config() == "maestro.toml"
    monkeypatch.setenv("MAESTRO_CONFIG", "from-env.toml")
    assert find_config() == "from-env.toml"
    assert find_config("explicit.toml") == "explicit.toml"
    assert find_config(environ={}) == "maestro.toml"


def test_config_from_environment_variable_is_used(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, _two_sqlite(tmp_path), name="elsewhere.toml")
    monkeypatch.setenv("MAESTRO_CONFIG", str(path))
    status, out, _ = _run(capsys, "status")
    assert status == 0
    assert "never" in out


def test_load_config_reads_every_setting(tmp_path):
    path = _write(
        tmp_path,
        _two_sqlite(
            tmp_path,
            head="""
            [sync]
            maximum_duration_seconds = 30
            initial_provider = "b"
            lock = "a"

            [policies]
            default = "last_writer_wins"
            [policies.entities]
            "shop.customer" = "merge_fields"
            "shop.order" = { name = "prefer_provider", args = ["a"] }
            """,
            first="max_changes_per_session = 7",
        ),
    )
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.path == str(path)
    assert config.provider_ids == ["a", "b"]
    assert config.initial_provider == "b"
    assert config.sync.maximum_duration_seconds == 30.0
    assert config.sync.lock == "a"
    assert config.policies.default == "last_writer_wins"
    assert config.policies.entities["shop.order"] == {
        "name": "prefer_provider",
        "args": ["a"],
    }
    assert config.providers[0].max_changes_per_session == 7
    assert config.providers[1].max_changes_per_session is None
    assert config.providers[1].location == "providers[1]"

    orchestrator = config.build_orchestrator()
    try:
        assert isinstance(orchestrator, SyncOrchestrator)
        assert list(orchestrator.providers) == ["a", "b"]
        assert orchestrator.providers["a"].max_changes_per_session == 7
        assert orchestrator.maximum_duration_seconds == 30.0
        assert isinstance(orchestrator.sync_lock, SqliteSyncLock)
        assert orchestrator.sync_lock.path == str(tmp_path / "a.sqlite3")
        policy = orchestrator.policies.for_entity("shop.order")
        assert type(policy).__name__ == "PreferProviderPolicy"
        assert type(orchestrator.policies.default).__name__ == "LastWriterWinsPolicy"
        sessions = orchestrator.run(config.initial_provider)
        assert [s.source_provider_id for s in sessions] == ["b", "a"]
    finally:
        close_orchestrator(orchestrator)


def test_default_lock_is_the_initial_providers_backend_lock(tmp_path):
    config = parse_config(
        {
            "sync": {"initial_provider": "b"},
            "providers": [
                {"id": "a", "backend": "memory"},
                {
                    "id": "b",
                    "backend": "sqlite",
                    "options": {"path": str(tmp_path / "b.sqlite3")},
                },
            ],
        },
        path="inline",
    )
    lock = config.build_lock()
    assert isinstance(lock, SqliteSyncLock)
    assert lock.path == str(tmp_path / "b.sqlite3")
    lock.close()
    memory_first = parse_config(
        {
            "providers": [
                {"id": "a", "backend": "memory"},
                {"id": "b", "backend": "memory"},
            ]
        }
    )
    assert isinstance(memory_first.build_lock(), InMemorySyncLock)


def test_parse_config_errors_name_the_source():
    with pytest.raises(ConfigFileError) as info:
        parse_config({"providers": []}, path="inline")
    assert str(info.value).startswith("inline: providers: 0 provider(s)")
    assert info.value.key == "providers"
    assert info.value.path == "inline"


def test_a_failed_build_closes_what_it_opened(tmp_path, monkeypatch):
    path = _write(
        tmp_path,
        '[[providers]]\nid = "a"\nbackend = "sqlite"\n[providers.options]\n'
        f'path = "{tmp_path}/a.sqlite3"\n'
        '[[providers]]\nid = "b"\nbackend = "sqlite"\n[providers.options]\n'
        f'path = "{tmp_path}/a.sqlite3"\n',
    )
    closed = []
    from maestro_sqlite import SqliteDataStore

    original = SqliteDataStore.close
    monkeypatch.setattr(
        SqliteDataStore, "close", lambda self: (closed.append(self), original(self))
    )
    with pytest.raises(ConfigFileError):
        load_config(path).build_providers()
    assert [store.provider_id for store in closed] == ["a"]
