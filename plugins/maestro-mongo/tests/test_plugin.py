"""The backend as the command line finds it: registration and file options."""

from __future__ import annotations

import pytest
from maestro_mongo import MongoDataStore, MongoSyncLock

from maestro_core import Operation, get_backend


def test_the_backend_registers_a_provider_and_a_lock(
    secantus_uri, new_database_name, mongo_plugin_only
):
    backend = get_backend("mongo")
    assert backend.distribution == "maestro-mongo"
    options = {
        "uri": secantus_uri,
        "database_name": new_database_name(),
        "collection_prefix": "cfg_",
    }
    provider = backend.provider_factory(
        provider_id="from-file", max_changes_per_session=7, **options
    )
    assert provider.provider_id == "from-file"
    assert provider.max_changes_per_session == 7
    store = provider.store
    assert isinstance(store, MongoDataStore) and store.transactional
    store.commit_item_change(
        operation=Operation.INSERT,
        entity_name="tasks",
        item_id="1",
        item={"id": "1", "collection_name": "tasks"},
    )
    assert "cfg_changes" in store.database.list_collection_names()

    lock = backend.lock_factory(**options, name="nightly")
    assert isinstance(lock, MongoSyncLock)
    assert lock.collection.name == "cfg_locks"
    assert lock.acquire("me", 30) and lock.owner == "me"
    other = backend.lock_factory(**options, name="nightly")
    assert not other.acquire("someone else", 30)
    lock.release("me")
    for opened in (lock, other):
        opened.close()
    store.close()


@pytest.mark.parametrize(
    "uri",
    ["postgres://user:s3cret@host/db", "mongodb://user:s3cret@host:notaport/", 42],
    ids=["other-scheme", "bad-port", "not-a-string"],
)
def test_a_bad_uri_is_refused_without_showing_it(uri, mongo_plugin_only):
    backend = get_backend("mongo")
    with pytest.raises(ValueError, match="option 'uri'") as caught:
        backend.provider_factory(provider_id="p", uri=uri, database_name="db")
    assert "s3cret" not in str(caught.value)
    with pytest.raises(ValueError, match="option 'uri'") as caught:
        backend.lock_factory(uri=uri, database_name="db")
    assert "s3cret" not in str(caught.value)


def test_a_missing_option_is_named(mongo_plugin_only):
    backend = get_backend("mongo")
    with pytest.raises(TypeError, match="database_name"):
        backend.provider_factory(provider_id="p", uri="mongodb://127.0.0.1:1/")


def test_the_documented_import_paths_are_aliases():
    import maestro.backends
    import maestro.backends.mongo as alias
    import maestro_mongo
    from maestro.backends.mongo.contrib.factory import (
        create_mongo_lock,
        create_mongo_provider,
        create_mongo_store,
    )

    import maestro

    assert create_mongo_store is maestro_mongo.create_mongo_store
    assert create_mongo_provider is maestro_mongo.create_mongo_provider
    assert create_mongo_lock is maestro_mongo.create_mongo_lock
    assert alias.__all__ == maestro_mongo.__all__ == sorted(maestro_mongo.__all__)
    assert all(
        getattr(alias, name) is getattr(maestro_mongo, name) for name in alias.__all__
    )
    # several distributions add to these packages: they stay namespaces
    assert getattr(maestro, "__file__", None) is None
    assert getattr(maestro.backends, "__file__", None) is None
