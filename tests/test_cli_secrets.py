"""Credentials from a config file never reach output or logs; failures exit 1.

The backends here are registered by a test plugin. They behave as a careless
backend might: they log their connection string at DEBUG and quote it in
their errors, so that only the command line's redaction stands between the
secret and the terminal.
"""

from __future__ import annotations

import json
import logging
import textwrap
from collections.abc import Iterable

import pytest

from maestro_core import (
    Backend,
    MemoryDataStore,
    SyncProvider,
    VectorClock,
    hookimpl,
    plugins,
)
from maestro_core.cli import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    ProviderConfig,
    Redactor,
    load_config,
    main,
    redact_options,
)

PASSWORD = "hunter2-s3cret"
URI = f"mongodb://admin:{PASSWORD}@db.internal.example:27017/shop?authSource=admin"
TOKEN = "tok-0123456789abcdef"
SECRETS = (PASSWORD, URI, TOKEN, "admin:hunter2")

log = logging.getLogger("maestro_test_careless_backend")


class _BrokenSource(MemoryDataStore):
    """Claims changes it cannot read, as a store whose connection dropped."""

    def __init__(self, provider_id: str, uri: str):
        super().__init__(provider_id)
        self.uri = uri

    def get_knowledge(self) -> VectorClock:
        return VectorClock({self.provider_id: 10**15})

    def select_changes(self, origin: str, after: int, limit: int) -> Iterable:
        raise ConnectionError(f"lost the connection to {self.uri}")


class _CrashingStore(MemoryDataStore):
    def __init__(self, provider_id: str, uri: str):
        super().__init__(provider_id)
        self.uri = uri

    def get_sessions(self, *, limit: int = 100):
        raise RuntimeError(f"driver bug while talking to {self.uri}")


def _careless(
    provider_id: str,
    uri: str,
    token: str = "",
    mode: str = "ok",
    max_changes_per_session: int = 50,
) -> SyncProvider:
    log.debug("connecting to %s with token %s", uri, token)
    log.info("opened %s", uri)
    if mode == "refuse":
        raise ValueError(f"{uri!r} names no replica set")
    if mode == "unreachable":
        raise OSError(f"cannot reach {uri}")
    stores = {"broken": _BrokenSource, "crash": _CrashingStore}
    store = (
        stores[mode](provider_id, uri)
        if mode in stores
        else MemoryDataStore(provider_id)
    )
    return SyncProvider(store=store, max_changes_per_session=max_changes_per_session)


class _TestPlugin:
    @hookimpl
    def maestro_register_backends(self, register):
        register(Backend(name="careless", provider_factory=_careless))


@pytest.fixture(autouse=True)
def careless_backend():
    plugins.reset_plugins()
    plugins.get_plugin_manager().register(_TestPlugin(), name="maestro-test-careless")
    yield
    plugins.reset_plugins()


def _config(tmp_path, mode: str = "ok", extra: str = "") -> str:
    path = tmp_path / "maestro.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [[providers]]
            id = "remote"
            backend = "careless"
            [providers.options]
            uri = "{URI}"
            token = "{TOKEN}"
            mode = "{mode}"
            {extra}

            [[providers]]
            id = "local"
            backend = "memory"
            """
        )
    )
    return str(path)


def _assert_clean(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into:\n{text}"


def _run(capsys, caplog, *argv: str) -> tuple[int, str, str]:
    caplog.clear()
    status = main(list(argv))
    captured = capsys.readouterr()
    _assert_clean(captured.out, captured.err, caplog.text)
    for record in caplog.records:
        _assert_clean(record.getMessage())
    return status, captured.out, captured.err


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]])
@pytest.mark.parametrize("command", [["sync"], ["sync", "--json"], ["status"]])
def test_a_working_run_prints_and_logs_no_secret(
    tmp_path, capsys, caplog, command, verbosity
):
    caplog.set_level(logging.DEBUG)
    config = _config(tmp_path)
    status, out, err = _run(capsys, caplog, *command, "-c", config, *verbosity)
    assert status == EXIT_OK, err
    assert any("connecting to" in r.getMessage() for r in caplog.records)
    if "--json" in command:
        assert json.loads(out)["status"] == "SUCCEEDED"
    if verbosity == ["-vv"]:
        assert "maestro: DEBUG maestro_test_careless_backend: connecting to " in err
        assert "connecting to *** with token ***" in err


def test_a_failed_session_exits_1_and_hides_the_uri(tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    config = _config(tmp_path, mode="broken")

    status, out, err = _run(capsys, caplog, "sync", "-c", config, "-vv")
    assert status == EXIT_FAILURE
    assert out.splitlines()[0].split()[:4] == ["remote", "->", "local", "FAILED"]
    assert "synced from 'remote': 1 session, 1 of 1 failed" in out
    assert "maestro: session remote -> local failed: ConnectionError: lost the " in err

    status, out, err = _run(capsys, caplog, "sync", "-c", config, "--json")
    assert status == EXIT_FAILURE
    summary = json.loads(out)
    assert summary["status"] == "FAILED"
    assert [s["status"] for s in summary["sessions"]] == ["FAILED"]
    assert "lost the connection to ***" in summary["sessions"][0]["error"]
    assert summary["error"].startswith("ConnectionError: lost the connection to ")


def test_a_backend_refusing_its_options_is_a_config_error(tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    config = _config(tmp_path, mode="refuse")
    status, out, err = _run(capsys, caplog, "sync", "-c", config, "--json")
    assert status == EXIT_USAGE and out == ""
    assert err == (
        f"maestro: {config}: providers[0].options: backend 'careless' refused the "
        "options of provider 'remote': '***' names no replica set\n"
    )


def test_an_unreachable_backend_exits_1(tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    config = _config(tmp_path, mode="unreachable")
    status, out, err = _run(capsys, caplog, "status", "-c", config)
    assert status == EXIT_FAILURE and out == ""
    assert err == (
        f"maestro: {config}: providers[0]: backend 'careless' could not open "
        "provider 'remote': OSError: cannot reach ***\n"
    )


def test_an_unexpected_error_is_one_line_and_its_traceback_is_redacted(
    tmp_path, capsys, caplog
):
    caplog.set_level(logging.DEBUG)
    config = _config(tmp_path, mode="crash")
    status, out, err = _run(capsys, caplog, "status", "-c", config)
    assert status == EXIT_FAILURE and out == ""
    assert err == (
        "maestro: unexpected error: RuntimeError: driver bug while talking to *** "
        "(run with -vv to log the traceback)\n"
    )
    status, _, err = _run(capsys, caplog, "status", "-c", config, "-vv")
    assert status == EXIT_FAILURE
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: driver bug while talking to ***" in err


def test_option_mistakes_never_echo_a_secret(tmp_path, capsys, caplog):
    config = _config(tmp_path, extra=f'password = {{ value = "{PASSWORD}" }}')
    status, _, err = _run(capsys, caplog, "sync", "-c", config)
    assert status == EXIT_USAGE
    assert "providers[0].options.password: *** is not valid" in err

    config = _config(tmp_path, extra=f'pasword = "{PASSWORD}"')
    status, _, err = _run(capsys, caplog, "sync", "-c", config)
    assert status == EXIT_USAGE
    assert "providers[0].options.pasword: unknown option for backend 'careless'" in err


def test_config_objects_hide_secrets_in_their_repr(tmp_path):
    config = load_config(_config(tmp_path))
    _assert_clean(repr(config), repr(config.providers[0]), str(config))
    assert "'uri': '***'" in repr(config.providers[0])
    assert "'mode': 'ok'" in repr(config.providers[0])
    assert config.providers[0].options["uri"] == URI  # the backend still gets it


def test_redaction_rules():
    assert redact_options(
        {
            "uri": "x",
            "dsn": "y",
            "api_key": "z",
            "Password": 1,
            "database_name": "shop",
            "host": "https://user:pw@example.com",
            "port": 5432,
        }
    ) == {
        "uri": "***",
        "dsn": "***",
        "api_key": "***",
        "Password": "***",
        "database_name": "shop",
        "host": "***",
        "port": 5432,
    }
    redactor = Redactor()
    redactor.add_options({"uri": URI, "secret": "ab", "database_name": "shop"})
    assert redactor(f"failed: {URI}") == "failed: ***"
    assert redactor(f"auth failed for password {PASSWORD}") == (
        "auth failed for password ***"
    )
    assert redactor("database shop") == "database shop"  # not a secret
    assert redactor("ab") == "ab"  # too short to hide without hiding everything
    # credentials in a URL nobody configured are hidden too
    assert redactor("see postgres://bob:pw@db:5432/x") == "see postgres://***@db:5432/x"


def test_provider_config_repr_is_redacted_without_a_file():
    provider = ProviderConfig(
        id="m", backend="mongo", options={"uri": URI, "database_name": "d"}
    )
    assert URI not in repr(provider)
    assert "'database_name': 'd'" in repr(provider)


def test_logging_is_left_as_it_was(tmp_path, capsys):
    root = logging.getLogger()
    before = (root.level, list(root.handlers), logging.getLogRecordFactory())
    main(["status", "-c", _config(tmp_path), "-vv"])
    capsys.readouterr()
    assert (root.level, list(root.handlers), logging.getLogRecordFactory()) == before
