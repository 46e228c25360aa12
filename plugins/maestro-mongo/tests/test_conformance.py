"""The MongoDB backend passes the core's conformance kit in both write modes."""

from __future__ import annotations

import pytest
from maestro_mongo import MongoDataStore, MongoSyncLock, create_mongo_provider

from maestro_core.testing import BackendConformance, SyncLockConformance


class RoutingStore(MongoDataStore):
    """Adds ``collection_name`` to the items the kit commits.

    The kit's items are the same for every backend; this backend also wants
    to be told the collection, as an application does. The refusal of items
    without it is tested on the store itself.
    """

    def commit_item_change(self, operation, entity_name, item_id, item, *args, **kw):
        if isinstance(item, dict) and "collection_name" not in item:
            item = {**item, "collection_name": entity_name}
        return super().commit_item_change(
            operation, entity_name, item_id, item, *args, **kw
        )


def _factory(client, new_database_name, transactions):
    def make(provider_id, *, wall_clock=None, max_changes_per_session=50):
        provider = create_mongo_provider(
            client,
            new_database_name(),
            provider_id,
            wall_clock=wall_clock,
            transactions=transactions,
            max_changes_per_session=max_changes_per_session,
        )
        assert provider.store.transactional is transactions
        provider.store.__class__ = RoutingStore
        return provider

    return make


class TestOnSecantusWithTransactions(BackendConformance):
    @pytest.fixture
    def provider_factory(self, secantus_client, new_database_name):
        return _factory(secantus_client, new_database_name, True)


class TestOnMongomockWithTheJournal(BackendConformance):
    @pytest.fixture
    def provider_factory(self, mongomock_client, new_database_name):
        return _factory(mongomock_client, new_database_name, False)


class TestLockOnSecantus(SyncLockConformance):
    @pytest.fixture
    def lock_factory(self, secantus_uri, new_database_name):
        import pymongo

        name = new_database_name()
        clients = []

        def make():
            # a client of its own, as another process would have
            client = pymongo.MongoClient(secantus_uri)
            clients.append(client)
            return MongoSyncLock(client[name])

        yield make
        for client in clients:
            client.close()


class TestLockOnMongomock(SyncLockConformance):
    @pytest.fixture
    def lock_factory(self, mongomock_client, new_database_name):
        name = new_database_name()
        return lambda: MongoSyncLock(mongomock_client[name])
