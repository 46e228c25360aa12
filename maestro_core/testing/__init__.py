"""The conformance kit: the tests every Maestro backend must pass.

A backend author subclasses the suites and provides a factory fixture::

    import pytest
    from maestro_core.testing import BackendConformance, SyncLockConformance

    class TestMyStore(BackendConformance):
        @pytest.fixture
        def provider_factory(self):
            def make(provider_id, *, wall_clock=None, max_changes_per_session=50):
                return create_my_provider(provider_id, ...)  # fresh, empty
            return make

    class TestMyLock(SyncLockConformance):
        @pytest.fixture
        def lock_factory(self):
            return lambda: MyLock(...)  # every call: the same lock, shared

The suites need pytest and Hypothesis (the ``test`` extra).
"""

from .clocks import FakeMonotonic, FakeWallClock
from .conformance import BackendConformance, SyncLockConformance
from .helpers import (
    assert_converged,
    held_change_ids,
    make_orchestrator,
    sync_pair,
)

__all__ = [
    "BackendConformance",
    "FakeMonotonic",
    "FakeWallClock",
    "SyncLockConformance",
    "assert_converged",
    "held_change_ids",
    "make_orchestrator",
    "sync_pair",
]
