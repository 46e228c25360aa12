"""The core's conformance kit against the Django backend.

On SQLite always, and on PostgreSQL and MariaDB when their servers are
reachable on this machine.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from maestro.backends.django import DjangoSyncLock
from maestro.backends.django.contrib.factory import create_django_provider

from maestro_core.testing import BackendConformance, SyncLockConformance

requires_postgres = pytest.mark.skipif(
    not settings.POSTGRES_AVAILABLE,
    reason="PostgreSQL is not reachable on 127.0.0.1:5432 (user postgres, db test)",
)


requires_mariadb = pytest.mark.skipif(
    not settings.MARIADB_AVAILABLE,
    reason="MariaDB is not reachable on 127.0.0.1:3306 (user root, no password)",
)


def _factory(alias: str):
    def make(provider_id, *, wall_clock=None, max_changes_per_session=50):
        return create_django_provider(
            provider_id,
            using=alias,
            wall_clock=wall_clock,
            max_changes_per_session=max_changes_per_session,
        )

    return make


@pytest.mark.django_db(transaction=True)
class TestSQLiteBackend(BackendConformance):
    @pytest.fixture
    def provider_factory(self):
        return _factory("default")


@pytest.mark.django_db(transaction=True)
class TestSQLiteSyncLock(SyncLockConformance):
    @pytest.fixture
    def lock_factory(self):
        return lambda: DjangoSyncLock(using="default")


@requires_postgres
@pytest.mark.django_db(transaction=True, databases=["postgres"])
class TestPostgresBackend(BackendConformance):
    @pytest.fixture
    def provider_factory(self):
        return _factory("postgres")


@requires_postgres
@pytest.mark.django_db(transaction=True, databases=["postgres"])
class TestPostgresSyncLock(SyncLockConformance):
    @pytest.fixture
    def lock_factory(self):
        return lambda: DjangoSyncLock(using="postgres")


@requires_mariadb
@pytest.mark.django_db(transaction=True, databases=["mariadb"])
class TestMariaDBBackend(BackendConformance):
    @pytest.fixture
    def provider_factory(self):
        return _factory("mariadb")


@requires_mariadb
@pytest.mark.django_db(transaction=True, databases=["mariadb"])
class TestMariaDBSyncLock(SyncLockConformance):
    @pytest.fixture
    def lock_factory(self):
        return lambda: DjangoSyncLock(using="mariadb")
