"""The servers the demo runs, and the configuration that points at them.

MongoDB is SecantusDB, a MongoDB wire-protocol server run inside this
process on a free port, in memory; Firestore is Google's emulator, a Java
process of its own. Both are stopped when their ``with`` block ends, however
it ends. The checked-in ``maestro.toml`` names the usual addresses; the demo
writes a copy with this run's addresses beside its database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from attrs import frozen

__all__ = [
    "CONFIG_TEMPLATE",
    "MongoServer",
    "dump_toml",
    "mongo_server",
    "write_run_config",
]

CONFIG_TEMPLATE = Path(__file__).resolve().parent.parent / "maestro.toml"
"""The example's configuration file, as a user would write it."""


@frozen
class MongoServer:
    """A running SecantusDB server: where it listens."""

    host: str
    port: int

    @property
    def uri(self) -> str:
        """The connection string of the server."""
        return f"mongodb://{self.host}:{self.port}/"


@contextlib.contextmanager
def mongo_server() -> Iterator[MongoServer]:
    """SecantusDB on 127.0.0.1 and a free port, in memory, for the block.

    It serves from threads of this process, so other processes (the
    ``maestro`` command) reach it for as long as the block runs.
    """
    from secantus import SecantusDBServer

    server = SecantusDBServer(host="127.0.0.1", port=0, storage_path=":memory:")
    server.start()
    try:
        host, port = server.address
        yield MongoServer(host=host, port=port)
    finally:
        server.stop()


def write_run_config(
    target: Path,
    *,
    mongo_uri: str,
    firestore_emulator_host: str | None,
    template: Path = CONFIG_TEMPLATE,
) -> dict[str, Any]:
    """Write *template* to *target* with this run's server addresses.

    The ``mongo`` provider gets *mongo_uri*; the ``firestore`` provider gets
    *firestore_emulator_host*, or is left out when that is ``None``. Returns
    the configuration written.
    """
    with template.open("rb") as file:
        config = tomllib.load(file)
    providers = []
    for provider in config["providers"]:
        options = dict(provider.get("options", {}))
        if provider["backend"] == "mongo":
            options["uri"] = mongo_uri
        elif provider["backend"] == "firestore":
            if firestore_emulator_host is None:
                continue
            options["emulator_host"] = firestore_emulator_host
        providers.append({**provider, "options": options})
    config["providers"] = providers
    header = (
        f"# {template.name} with the addresses of the demo's servers; written "
        "by the demo, run after run.\n\n"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(header + dump_toml(config), encoding="utf-8")
    return config


# -- a TOML writer for configuration files ----------------------------------


def _value(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + escaped.replace("\n", "\\n") + '"'
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v, key) for v in value) + "]"
    if isinstance(value, Mapping):
        pairs = (f"{_key(k)} = {_value(v, f'{key}.{k}')}" for k, v in value.items())
        return "{ " + ", ".join(pairs) + " }"
    raise TypeError(
        f"configuration value {value!r} at {key!r} cannot be written as TOML; "
        "expected a string, number, boolean, list or table"
    )


def _key(key: str) -> str:
    if key and all(c.isalnum() or c in "-_" for c in key):
        return key
    return _value(key, key)


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(map(_is_table, value))


def _table(table: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    for key, value in table.items():
        if not _is_table(value) and not _is_table_array(value):
            lines.append(f"{_key(key)} = {_value(value, '.'.join([*path, key]))}")
    for key, value in table.items():
        name = ".".join(_key(part) for part in [*path, key])
        if _is_table(value):
            lines.extend(["", f"[{name}]"])
            _table(value, [*path, key], lines)
        elif _is_table_array(value):
            for element in value:
                lines.extend(["", f"[[{name}]]"])
                _table(element, [*path, key], lines)


def dump_toml(document: Mapping[str, Any]) -> str:
    """*document* as TOML text that :mod:`tomllib` reads back equal."""
    lines: list[str] = []
    _table(document, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"
