"""Choosing plugins: wheels in a fresh virtual environment.

The core's wheel and the SQLite example's are built from this tree and
installed, with the core's two dependencies, into an empty virtual
environment from a local folder only (``--no-index``). With the core alone,
``maestro backends`` lists only ``memory``; with the SQLite backend added, it
lists that one too and no other; and neither importing the core nor running
the command imports any other backend's libraries.

Deselect with ``-m "not packaging"``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[1]
SQLITE_EXAMPLE = ROOT / "examples" / "maestro-sqlite"
DEPENDENCIES = ("pluggy", "attrs")
OTHER_BACKENDS = (
    "django",
    "pymongo",
    "bson",
    "google.cloud.firestore",
    "maestro_django",
    "maestro_mongo",
    "maestro_firestore",
)
TIMEOUT = 300


def _clean_environment() -> dict[str, str]:
    """The environment without anything that would reach outside the venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MAESTRO_", "PYTHON", "PIP_", "VIRTUAL_ENV"))
    }
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(*command: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_clean_environment(),
        cwd=cwd,
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} exited {result.returncode}:\n"
        f"{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def _pip(*args: str | Path) -> str:
    return _run(sys.executable, "-m", "pip", *args)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    """A folder with the core's, the SQLite example's and the dependencies' wheels."""
    folder = tmp_path_factory.mktemp("wheels")
    isolation = (
        ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []
    )
    _pip(
        "wheel", "--quiet", "--no-deps", *isolation, "-w", folder, ROOT, SQLITE_EXAMPLE
    )
    # The same versions as this environment runs, fetched once (pip's cache
    # usually has them from the install).
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in DEPENDENCIES]
    _pip("download", "--quiet", "--no-deps", "--only-binary=:all:", "-d", folder, *pins)
    return folder


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """An empty virtual environment, without even pip (the outer pip serves)."""
    path = tmp_path_factory.mktemp("venv") / "env"
    _run(sys.executable, "-m", "venv", "--without-pip", path)
    return path


def _install(venv: Path, wheels: Path, *names: str) -> None:
    _pip(
        "--python",
        venv / "bin" / "python",
        "install",
        "--quiet",
        "--no-index",
        "--find-links",
        wheels,
        *names,
    )


def _installed(venv: Path) -> set[str]:
    listing = _pip("--python", venv / "bin" / "python", "list", "--format=json")
    return {entry["name"].lower() for entry in json.loads(listing)}


# Run inside the fresh environment: import the core, then run the command in
# the same process, and report which modules each step brought in.
PROBE = textwrap.dedent(
    """
    import json, sys

    import maestro_core
    import maestro_core.cli

    after_import = sorted(sys.modules)
    status = maestro_core.cli.main(sys.argv[1:])
    print(json.dumps({"status": status, "after_import": after_import,
                      "after_command": sorted(sys.modules)}))
    """
)


def _probe(venv: Path, work: Path, *argv: str) -> tuple[dict, str]:
    script = work / "probe.py"
    script.write_text(PROBE)
    out = _run(venv / "bin" / "python", script, *argv, cwd=work)
    *printed, report = out.strip().splitlines()
    return json.loads(report), "\n".join(printed)


def _loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in names)]


def _backends(venv: Path) -> list[str]:
    out = _run(venv / "bin" / "maestro", "backends", "--json")
    return [backend["name"] for backend in json.loads(out)]


def test_core_alone_then_with_one_plugin(wheels, venv, tmp_path):
    # the core alone: the memory backend and nothing else
    _install(venv, wheels, "maestro-sync")
    assert _installed(venv) == {"maestro-sync", *DEPENDENCIES}
    assert _backends(venv) == ["memory"]

    report, _ = _probe(venv, tmp_path, "backends")
    assert report["status"] == 0
    core_plugins = ("maestro_sqlite", *OTHER_BACKENDS)
    assert _loaded(report["after_import"], core_plugins) == []
    assert _loaded(report["after_command"], core_plugins) == []

    memory = tmp_path / "memory.toml"
    memory.write_text(
        '[[providers]]\nid = "a"\nbackend = "memory"\n'
        '[[providers]]\nid = "b"\nbackend = "memory"\n'
    )
    out = _run(venv / "bin" / "maestro", "sync", "--json", "--config", memory)
    assert json.loads(out)["status"] == "SUCCEEDED"

    # the core and the SQLite backend: exactly those two
    _install(venv, wheels, "maestro-sqlite")
    assert _installed(venv) == {"maestro-sync", "maestro-sqlite", *DEPENDENCIES}
    assert _backends(venv) == ["memory", "sqlite"]

    config = tmp_path / "maestro.toml"
    config.write_text(
        "".join(
            f'[[providers]]\nid = "{p}"\nbackend = "sqlite"\n'
            f'[providers.options]\npath = "{tmp_path / p}.sqlite3"\n'
            for p in ("north", "south")
        )
    )
    report, printed = _probe(venv, tmp_path, "sync", "--json", "--config", str(config))
    assert report["status"] == 0, printed
    assert json.loads(printed)["status"] == "SUCCEEDED"
    assert _loaded(report["after_import"], ("maestro_sqlite", *OTHER_BACKENDS)) == []
    assert "maestro_sqlite" in report["after_command"]
    assert _loaded(report["after_command"], OTHER_BACKENDS) == []
