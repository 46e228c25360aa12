"""The committed-changes callback, in requests and outside them.

The test project is configured as the user documentation says; its callback
counts calls and, when a test turns it on, syncs with an in-memory provider
in a thread.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import transaction
from maestro_django.models import Change
from maestro_django_testproject import callbacks
from maestro_django_testproject.shop.models import Author, Book

pytestmark = pytest.mark.django_db(transaction=True)


class Refused(Exception):
    pass


def _changes(entity: str = "shop.author") -> list[Change]:
    return list(Change.objects.filter(entity_name=entity).order_by("timestamp"))


def test_a_saving_request_runs_the_callback_once_after_commit(client):
    response = client.post("/authors/", {"name": "ada lovelace"})

    assert response.status_code == 201
    assert callbacks.calls == [False]
    assert [c.operation for c in _changes()] == ["INSERT", "UPDATE"]


def test_a_request_that_rolls_back_runs_nothing_and_records_nothing(client):
    response = client.post("/authors/fail/", {"name": "nobody"})

    assert response.status_code == 400
    assert callbacks.calls == []
    assert not Author.objects.exists()
    assert _changes() == []


def test_a_request_that_fails_after_a_commit_still_runs_the_callback(client):
    with pytest.raises(RuntimeError, match="after the save committed"):
        client.post("/authors/crash/", {"name": "committed"})

    assert callbacks.calls == [False]
    assert Author.objects.get().name == "committed"


def test_the_callbacks_sync_reaches_the_second_provider(client, memory):
    callbacks.sync_enabled = True

    pk = client.post("/authors/", {"name": "grace hopper"}).content.decode()
    for thread in callbacks.threads:
        thread.join(30)

    item = memory.store.get_item("shop.author", pk)
    assert item == {"id": int(pk), "name": "Grace Hopper"}


def test_a_management_command_runs_the_callback_once_after_commit():
    call_command("shop_add_author", "alan turing", stdout=open("/dev/null", "w"))

    assert callbacks.calls == [False]
    assert Author.objects.get().name == "Alan Turing"
    assert len(_changes()) == 2


def test_plain_code_in_a_transaction_runs_the_callback_once_after_commit():
    with transaction.atomic():
        author = Author.objects.create(name="a")
        Book.objects.create(title="t", isbn="1", author=author)
        with transaction.atomic():
            author.name = "b"
            author.save()
        assert callbacks.calls == []

    assert callbacks.calls == [False]
    assert len(_changes()) == 2
    assert len(_changes("shop.book")) == 1


def test_a_rolled_back_transaction_runs_nothing_and_leaves_no_change():
    with pytest.raises(Refused), transaction.atomic():
        Author.objects.create(name="a")
        raise Refused

    assert callbacks.calls == []
    assert _changes() == []


def test_a_rolled_back_savepoint_keeps_only_the_committed_changes():
    with transaction.atomic():
        Author.objects.create(name="kept")
        with pytest.raises(Refused), transaction.atomic():
            Author.objects.create(name="dropped")
            raise Refused

    assert callbacks.calls == [False]
    assert [c.item for c in _changes()] == [_changes()[0].item]
    assert '"kept"' in _changes()[0].item


def test_each_autocommit_save_runs_the_callback_once():
    author = Author.objects.create(name="a")
    author.delete()

    assert callbacks.calls == [False, False]


def test_the_ready_made_callback_syncs_in_the_background(settings, memory):
    from maestro_django import sync_in_background, wait_for_background_sync

    settings.MAESTRO = {
        **settings.MAESTRO,
        "CHANGES_COMMITTED_CALLBACK": "maestro_django.callbacks.sync_in_background",
        "SYNC_PROVIDERS": ["maestro_django_testproject.callbacks.memory"],
    }
    author = Author.objects.create(name="background")
    assert wait_for_background_sync(30)

    assert memory.store.get_item("shop.author", str(author.pk))["name"] == (
        "background"
    )
    sync_in_background()
    assert wait_for_background_sync(30)
