"""The Firestore backend passes the core's conformance kit on the emulator."""

from __future__ import annotations

import pytest
from maestro_firestore import FirestoreDataStore, FirestoreSyncLock
from maestro_firestore.factory import create_firestore_provider

from maestro_core.testing import BackendConformance, SyncLockConformance


class RoutingStore(FirestoreDataStore):
    """Adds ``collection_name`` to items the kit commits.

    The kit's items are the same for every backend; Firestore's
    ``commit_item_change`` also wants to be told the collection, as an
    application does. The refusal of items without it is tested on the
    store itself.
    """

    def commit_item_change(self, operation, entity_name, item_id, item, *args, **kw):
        if isinstance(item, dict) and "collection_name" not in item:
            item = {**item, "collection_name": entity_name}
        return super().commit_item_change(
            operation, entity_name, item_id, item, *args, **kw
        )


class TestFirestoreBackend(BackendConformance):
    @pytest.fixture
    def provider_factory(self, new_client):
        def make(provider_id, *, wall_clock=None, max_changes_per_session=50):
            provider = create_firestore_provider(
                new_client(),
                provider_id,
                max_changes_per_session,
                wall_clock=wall_clock,
            )
            provider.store.__class__ = RoutingStore
            return provider

        return make


class TestFirestoreSyncLock(SyncLockConformance):
    @pytest.fixture
    def lock_factory(self, new_client):
        client = new_client()
        return lambda: FirestoreSyncLock(client)

    def test_only_one_of_many_racing_owners_wins(self, lock_factory, complete_emulator):
        super().test_only_one_of_many_racing_owners_wins(lock_factory)
