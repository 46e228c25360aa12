"""The management commands: maestro_backfill, maestro_sync, maestro_conflicts."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from maestro_django.models import Change, ItemVersionEntry
from maestro_django_testproject import callbacks
from maestro_django_testproject.shop.models import Author, Book, Everything, Tag

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def _last_items(entity: str) -> dict[str, dict]:
    items = {}
    for change in Change.objects.filter(entity_name=entity).order_by("timestamp"):
        items[change.item_id] = (change.operation, json.loads(change.item))
    return items


# -- maestro_backfill --------------------------------------------------------


def test_backfill_records_rows_that_bypassed_signals():
    Author.objects.bulk_create([Author(name=f"bulk {n}") for n in range(5)])
    kept = Author.objects.create(name="captured")
    Author.objects.filter(name="bulk 0").update(name="renamed by update")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM shop_author WHERE name = 'captured'")
    assert Change.objects.count() == 1
    callbacks.calls.clear()

    out = run("maestro_backfill", "shop.author", batch_size=2)

    assert "shop.author: 5 rows read; recorded 5 inserts, 0 updates, 1 deletes" in out
    items = _last_items("shop.author")
    assert items[str(kept.pk)] == ("DELETE", {"id": kept.pk, "name": "captured"})
    names = sorted(item["name"] for op, item in items.values() if op == "INSERT")
    assert names == ["bulk 1", "bulk 2", "bulk 3", "bulk 4", "renamed by update"]
    assert ItemVersionEntry.objects.count() == 6
    assert callbacks.calls == [False]


def test_backfill_records_content_that_differs_from_the_last_change():
    author = Author.objects.create(name="before")
    other = Author.objects.create(name="unchanged")
    Author.objects.filter(pk=author.pk).update(name="after")

    out = run("maestro_backfill", "shop.author")

    assert "recorded 0 inserts, 1 updates, 0 deletes" in out
    operation, item = _last_items("shop.author")[str(author.pk)]
    assert (operation, item["name"]) == ("UPDATE", "after")
    assert _last_items("shop.author")[str(other.pk)][0] == "INSERT"


def test_backfill_is_idempotent():
    Tag.objects.bulk_create([Tag(label=str(n)) for n in range(3)])
    thing = Everything.objects.create()
    thing.tags.set(Tag.objects.all())
    run("maestro_backfill", "shop.tag", "shop.everything")
    count = Change.objects.count()

    out = run("maestro_backfill", "shop.tag", "shop.everything")

    assert Change.objects.count() == count
    assert "recorded 0 inserts, 0 updates, 0 deletes" in out


def test_backfilled_changes_follow_the_items_history(memory, django_provider, sync):
    author = Author.objects.create(name="first")
    Author.objects.filter(pk=author.pk).update(name="second")
    run("maestro_backfill", "shop.author", verbosity=0)

    sync(django_provider, memory)

    assert memory.store.get_item("shop.author", str(author.pk))["name"] == "second"
    version = django_provider.store.get_item_version("shop.author", str(author.pk))
    assert len(version.vector.to_dict()) == 1


def test_backfill_progress_shows_at_verbosity_two_and_nothing_at_zero():
    Author.objects.bulk_create([Author(name=str(n)) for n in range(5)])

    assert run("maestro_backfill", "shop.author", verbosity=0, dry_run=True) == ""
    out = run("maestro_backfill", "shop.author", verbosity=2, batch_size=2)
    assert out.count("rows read,") == 3
    assert "2 rows read, 2 changes so far" in out


def test_backfill_dry_run_records_nothing():
    Author.objects.bulk_create([Author(name="x")])

    out = run("maestro_backfill", "shop.author", dry_run=True)

    assert "would record 1 inserts" in out
    assert Change.objects.count() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shop.nosuch"], "model 'shop.nosuch' is not installed"),
        (["nolabel"], "model 'nolabel' is not installed"),
        (["shop.unsynced"], "model 'shop.unsynced' is not synchronised"),
        (["shop.author", "--batch-size", "0"], "--batch-size 0 is not valid"),
    ],
)
def test_backfill_refuses_bad_arguments_before_writing(args, message):
    Author.objects.bulk_create([Author(name="x")])

    with pytest.raises(CommandError, match=message):
        call_command("maestro_backfill", "shop.author", *args)
    assert Change.objects.count() == 0


# -- maestro_sync ---------------------------------------------------------------


def test_maestro_sync_runs_a_round_with_the_configured_providers(settings, memory):
    settings.MAESTRO = {
        **settings.MAESTRO,
        "SYNC_PROVIDERS": ["maestro_django_testproject.callbacks.memory"],
    }
    author = Author.objects.create(name="to memory")
    memory.store.commit_item_change(
        "INSERT",
        "shop.tag",
        "00000000-0000-0000-0000-000000000001",
        {"id": "00000000-0000-0000-0000-000000000001", "label": "from memory"},
    )

    out = run("maestro_sync")

    assert "django -> memory: succeeded, sent 1, applied 1" in out
    assert "memory -> django: succeeded, sent 1, applied 1" in out
    assert memory.store.get_item("shop.author", str(author.pk))["name"] == "to memory"
    assert Tag.objects.get().label == "from memory"


def test_maestro_sync_refuses_bad_settings_and_arguments(settings):
    with pytest.raises(CommandError, match="SYNC_PROVIDERS"):
        call_command("maestro_sync")
    settings.MAESTRO = {
        **settings.MAESTRO,
        "SYNC_PROVIDERS": ["maestro_django_testproject.callbacks.memory"],
    }
    with pytest.raises(CommandError, match="'nowhere'"):
        call_command("maestro_sync", "--from", "nowhere")


def test_maestro_sync_says_when_the_lock_is_held(settings):
    from maestro_django import DjangoSyncLock

    settings.MAESTRO = {
        **settings.MAESTRO,
        "SYNC_PROVIDERS": ["maestro_django_testproject.callbacks.memory"],
    }
    DjangoSyncLock().acquire("someone else", 60)

    with pytest.raises(CommandError, match="another sync holds the sync lock"):
        call_command("maestro_sync")


# -- maestro_conflicts --------------------------------------------------------------


def test_maestro_conflicts_lists_and_filters(waiting_conflict):
    out = run("maestro_conflicts", "list")
    assert waiting_conflict.id in out
    assert "LOCAL_UPDATE_REMOTE_UPDATE" in out
    assert "1 conflict(s)" in out

    assert "0 conflict(s)" in run("maestro_conflicts", "list", "--status", "resolved")
    assert waiting_conflict.id in run(
        "maestro_conflicts", "list", "--status", "deferred"
    )


def test_maestro_conflicts_resolves_by_choosing_the_winner(waiting_conflict):
    callbacks.calls.clear()

    out = run("maestro_conflicts", "resolve", waiting_conflict.id, "--winner", "remote")

    assert f"resolved {waiting_conflict.id}" in out
    assert Book.objects.get().title == "remote"
    assert callbacks.calls == [False]
    out = run("maestro_conflicts", "list", "--status", "resolved")
    assert f"winner={waiting_conflict.remote_change_id}" in out


def test_maestro_conflicts_resolves_by_change_id(waiting_conflict):
    run(
        "maestro_conflicts",
        "resolve",
        waiting_conflict.id,
        "--winner",
        waiting_conflict.local_change_id,
    )

    assert Book.objects.get().title == "local"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--status", "maybe"], "'maybe' is not valid"),
        (["list", "--type", "odd"], "'odd' is not valid"),
        (["resolve", "no-such-id", "--winner", "local"], "no conflict 'no-such-id'"),
        (["resolve", "{id}", "--winner", "no-such-change"], "'no-such-change'"),
    ],
)
def test_maestro_conflicts_refuses_bad_arguments(waiting_conflict, args, message):
    args = [a.format(id=waiting_conflict.id) for a in args]

    with pytest.raises(CommandError, match=message):
        call_command("maestro_conflicts", *args)
    assert Book.objects.get().title == "local"


def test_resolving_twice_is_refused(waiting_conflict):
    run("maestro_conflicts", "resolve", waiting_conflict.id, "--winner", "local")

    with pytest.raises(CommandError, match="already RESOLVED"):
        call_command(
            "maestro_conflicts", "resolve", waiting_conflict.id, "--winner", "remote"
        )


def test_maestro_sync_builds_registered_backends_from_settings(settings):
    settings.MAESTRO = {
        **settings.MAESTRO,
        "SYNC_PROVIDERS": [{"backend": "memory", "id": "phone"}],
    }
    Author.objects.create(name="to the phone")

    out = run("maestro_sync")

    assert "django -> phone: succeeded, sent 1, applied 1" in out
