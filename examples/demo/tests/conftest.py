"""Servers and stores of the end-to-end tests.

Django runs the example's models on PostgreSQL (``maestro_e2e.settings``);
MongoDB is SecantusDB, in this process, on a free port; Firestore is Google's
emulator, started once for the run. Tests that need the emulator skip, saying
why, on a machine without its jar.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
SETTINGS = "maestro_e2e.settings"

if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
if os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS) != SETTINGS:
    raise RuntimeError(
        f"DJANGO_SETTINGS_MODULE is {os.environ['DJANGO_SETTINGS_MODULE']!r}; the "
        f"end-to-end tests expected to configure {SETTINGS!r} themselves (run "
        "them in a pytest process of their own: pytest examples/demo/tests)"
    )


def pytest_configure(config: pytest.Config) -> None:
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, freed at the end of connections threads left open.

    The getting-started callback syncs in threads of its own, whose
    connections Django cannot close; PostgreSQL refuses to drop a database
    that is in use.
    """
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[Any]:
    from maestro_demo.services import mongo_server

    with mongo_server() as server:
        yield server


@pytest.fixture(scope="session")
def mongo_client(mongo_server) -> Iterator[Any]:
    from pymongo import MongoClient

    client: Any = MongoClient(mongo_server.uri)
    yield client
    client.close()


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    from maestro_firestore.emulator import EmulatorError, find_jar, launch

    jar = find_jar()
    if jar is None:
        pytest.skip(
            "no Firestore emulator jar on this machine (expected "
            "google-cloud-cli-firestore-emulator, or FIRESTORE_EMULATOR_JAR)"
        )
    try:
        running = launch(jar=jar, allow_npm=False)
    except EmulatorError as error:
        pytest.skip(f"the Firestore emulator did not start: {error}")
    yield running
    running.stop()


@pytest.fixture
def clear_django(django_db_blocker):
    """Call to empty every table of the project (rows only, without signals)."""
    from django.core.management.color import no_style
    from django.db import connection

    def clear() -> None:
        tables = connection.introspection.django_table_names(
            only_existing=True, include_views=False
        )
        connection.ops.execute_sql_flush(connection.ops.sql_flush(no_style(), tables))

    return clear
