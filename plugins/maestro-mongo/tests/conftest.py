"""The servers the tests share, and a fresh database for every test.

SecantusDB (a MongoDB wire-protocol server with transactions) runs in this
process for the whole session; mongomock-ng stands in for a server without
transactions. Every database gets a name of its own, so tests never see each
other's documents and nothing has to be emptied.
"""

from __future__ import annotations

import itertools
import os

import mongomock_ng
import pymongo
import pytest
import secantus

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def secantus_uri():
    """The URI of an in-memory SecantusDB server, replica set ``secantus``."""
    server = secantus.SecantusDBServer(storage_path=":memory:")
    server.start()
    yield server.uri
    server.stop()


@pytest.fixture(scope="session")
def secantus_client(secantus_uri):
    client = pymongo.MongoClient(secantus_uri)
    yield client
    client.close()


@pytest.fixture(scope="session")
def mongomock_client():
    return mongomock_ng.MongoClient()


@pytest.fixture
def new_database_name():
    """Call for a database name nobody else uses."""
    return lambda: f"maestro_test_{os.getpid()}_{next(_databases)}"


@pytest.fixture(params=["secantus", "mongomock"])
def any_client(request):
    """Each test twice: on SecantusDB (transactions) and mongomock (journal)."""
    return request.getfixturevalue(f"{request.param}_client")


@pytest.fixture
def mongo_plugin_only(monkeypatch):
    """Load only this distribution's entry point, whatever else is installed."""
    from maestro_core.plugins import reset_plugins

    monkeypatch.setenv("MAESTRO_PLUGINS", "mongo")
    reset_plugins()
    yield
    reset_plugins()
