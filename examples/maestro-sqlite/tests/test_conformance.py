"""The SQLite backend passes the whole conformance kit."""

import pytest
from maestro_sqlite import SqliteSyncLock, create_sqlite_provider

from maestro_core.testing import BackendConformance, SyncLockConformance


class TestSqliteBackend(BackendConformance):
    @pytest.fixture
    def provider_factory(self, tmp_path):
        made = []

        def make(provider_id, *, wall_clock=None, max_changes_per_session=50):
            # a fresh file for every provider: a file belongs to one provider
            path = tmp_path / f"{provider_id}-{len(made)}.sqlite3"
            provider = create_sqlite_provider(
                provider_id,
                str(path),
                wall_clock=wall_clock,
                max_changes_per_session=max_changes_per_session,
            )
            made.append(provider)
            return provider

        yield make
        for provider in made:
            provider.store.close()


class TestSqliteSyncLock(SyncLockConformance):
    @pytest.fixture
    def lock_factory(self, tmp_path):
        handles = []

        def make():
            # each call opens its own connection, as another process would
            handles.append(SqliteSyncLock(str(tmp_path / "lock.sqlite3")))
            return handles[-1]

        yield make
        for handle in handles:
            handle.close()
