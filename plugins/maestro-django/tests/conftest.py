"""Configures Django for this plugin's tests, and only for them.

The settings module is named here rather than in the root configuration, so
other test directories collected in the same run see no Django settings
unless they ask for them; pytest-django does nothing where none are set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SETTINGS = "maestro_django_testproject.settings"

if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
if os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS) != SETTINGS:
    raise RuntimeError(
        f"DJANGO_SETTINGS_MODULE is {os.environ['DJANGO_SETTINGS_MODULE']!r}; the "
        f"maestro-django tests expected to configure {SETTINGS!r} themselves"
    )


def pytest_configure(config: pytest.Config) -> None:
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Django's test databases, freed of connections that threads left open.

    Threads of the concurrency tests each open their own connection and
    Django cannot close them; PostgreSQL refuses to drop a database in use.
    """
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for alias in connections:
            connection = connections[alias]
            if connection.vendor != "postgresql":
                continue
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture(autouse=True)
def _fresh_state():
    """Callback counters, warning memory and the memory provider start empty."""
    from maestro_django import serializer
    from maestro_django_testproject import callbacks

    from maestro_core import create_memory_provider

    callbacks.calls.clear()
    callbacks.sync_enabled = False
    callbacks.memory_provider = create_memory_provider("memory")
    serializer._warned.clear()
    yield
    for thread in callbacks.threads:
        thread.join(30)
    callbacks.threads.clear()


@pytest.fixture
def memory():
    """The in-memory provider the test project's callback syncs with."""
    from maestro_django_testproject import callbacks

    return callbacks.memory_provider


@pytest.fixture
def sync():
    """``sync(source, target, *providers)``: one session between two providers."""
    from maestro_core.testing import make_orchestrator

    def run(source, target, **options):
        providers = {source.provider_id: source, target.provider_id: target}
        orchestrator = make_orchestrator(list(providers.values()), **options)
        return orchestrator.synchronize_providers(
            source.provider_id, target.provider_id
        )

    return run


@pytest.fixture
def django_provider():
    """The project's provider, as the callback builds it."""
    from maestro.backends.django.contrib.factory import create_django_provider

    return create_django_provider()


@pytest.fixture
def waiting_conflict(memory, django_provider):
    """A book edited on both sides under the manual policy, left DEFERRED.

    Returns the conflict log the Django provider recorded.
    """
    from maestro_django_testproject.shop.models import Author, Book

    from maestro_core import ConflictStatus
    from maestro_core.testing import make_orchestrator

    author = Author.objects.create(name="a")
    book = Book.objects.create(title="base", isbn="1", author=author)
    orchestrator = make_orchestrator(
        [django_provider, memory], conflict_policies={"shop.book": "manual"}
    )
    orchestrator.run("django")
    item = memory.store.get_item("shop.book", str(book.pk))
    memory.store.commit_item_change(
        "UPDATE", "shop.book", str(book.pk), {**item, "title": "remote"}
    )
    book.title = "local"
    book.save()
    orchestrator.synchronize_providers("memory", "django")
    [log] = django_provider.store.get_conflict_logs(status=ConflictStatus.DEFERRED)
    return log
