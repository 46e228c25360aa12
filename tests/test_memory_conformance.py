"""The in-memory reference backend passes the conformance kit."""

import pytest

from maestro_core import InMemorySyncLock, create_memory_provider
from maestro_core.testing import BackendConformance, SyncLockConformance


class TestMemoryBackend(BackendConformance):
    @pytest.fixture
    def provider_factory(self):
        return create_memory_provider


class TestInMemorySyncLock(SyncLockConformance):
    @pytest.fixture
    def lock_factory(self):
        lock = InMemorySyncLock()
        return lambda: lock
