"""The emulator the tests share, and fresh clients for each provider.

One emulator runs for the whole session (started on a free port, stopped by
its process id). Every client gets a project of its own, so providers never
see each other's documents and nothing has to be emptied between tests.
"""

from __future__ import annotations

import itertools
import os
import time

import pytest
from maestro_firestore.emulator import EmulatorError, launch

_projects = itertools.count(1)


@pytest.fixture(scope="session")
def emulator():
    try:
        running = launch()
    except EmulatorError as error:
        pytest.skip(f"no Firestore emulator: {error}")
    yield running
    running.stop()


@pytest.fixture
def complete_emulator(emulator):
    """The emulator, for tests that the npm stand-in cannot serve (skipped)."""
    if not emulator.complete:
        pytest.skip(
            "the npm Firestore emulator stands in: it lacks transaction locking, "
            "security rules, and some value types (NaN, references), which this "
            "test needs"
        )
    return emulator


@pytest.fixture
def new_client(emulator):
    """Call for a client of a project nobody else uses."""
    clients = []

    def make(project: str | None = None):
        client = emulator.client(project or f"test-{os.getpid()}-{next(_projects)}")
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def emulator_env(emulator, monkeypatch):
    """FIRESTORE_EMULATOR_HOST and GOOGLE_CLOUD_PROJECT for this test, on an
    emptied default project."""
    for key, value in emulator.environ().items():
        monkeypatch.setenv(key, value)
    if emulator.kind == "java":
        emulator.clear()
    return emulator


def _wait_until(condition, timeout: float = 30.0) -> None:
    """Poll *condition* until it holds; fail after *timeout* seconds.

    Only for waiting on the emulator's listeners; no test asserts a duration.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition {condition!r} did not hold in time")
        time.sleep(0.05)


@pytest.fixture
def wait_until():
    return _wait_until


@pytest.fixture
def firestore_plugin_only(monkeypatch):
    """Load only this distribution's entry point, whatever else is installed."""
    from maestro_core.plugins import reset_plugins

    monkeypatch.setenv("MAESTRO_PLUGINS", "firestore")
    reset_plugins()
    yield
    reset_plugins()
