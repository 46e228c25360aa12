"""Capturing saves and deletes in the transaction of the write."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import transaction
from maestro_django import applying_remote_changes
from maestro_django.models import Change, ItemVersionEntry
from maestro_django_testproject.shop.models import Author, Book, Everything, Tag

pytestmark = pytest.mark.django_db(transaction=True)


class Refused(Exception):
    pass


def _items(entity: str) -> list[tuple[str, dict]]:
    return [
        (c.operation, json.loads(c.item))
        for c in Change.objects.filter(entity_name=entity).order_by("timestamp")
    ]


def test_a_committed_write_has_its_change_and_version():
    author = Author.objects.create(name="a")

    assert _items("shop.author") == [("INSERT", {"id": author.pk, "name": "a"})]
    version = ItemVersionEntry.objects.get(entity_name="shop.author")
    assert version.item_id == str(author.pk)
    assert version.change_id == Change.objects.get().id


def test_a_rolled_back_write_leaves_no_change():
    with pytest.raises(Refused), transaction.atomic():
        author = Author.objects.create(name="a")
        author.name = "b"
        author.save()
        raise Refused

    assert Change.objects.count() == 0
    assert ItemVersionEntry.objects.count() == 0


def test_a_deleted_item_records_its_last_state():
    author = Author.objects.create(name="a")
    book = Book.objects.create(title="t", isbn="1", author=author, pages=3)
    book_id = book.pk
    book.title = "last"
    book.save()
    book.delete()

    assert _items("shop.book")[-1] == (
        "DELETE",
        {"id": book_id, "title": "last", "isbn": "1", "author": author.pk, "pages": 3},
    )


def test_a_cascade_records_the_deletion_of_each_row():
    author = Author.objects.create(name="a")
    Book.objects.create(title="t", isbn="1", author=author)
    author.delete()

    assert [op for op, _ in _items("shop.book")] == ["INSERT", "DELETE"]
    assert [op for op, _ in _items("shop.author")] == ["INSERT", "DELETE"]


def test_many_to_many_fields_travel_as_lists_of_related_ids():
    tags = [Tag.objects.create(label=n) for n in "ab"]
    thing = Everything.objects.create()
    thing.tags.add(*tags)
    assert _items("shop.everything")[-1][1]["tags"] == [
        {"$uuid": str(pk)} for pk in sorted(t.pk for t in tags)
    ]

    tags[0].everything_set.remove(thing)
    assert [t["$uuid"] for t in _items("shop.everything")[-1][1]["tags"]] == [
        str(tags[1].pk)
    ]
    tags[1].everything_set.clear()
    assert _items("shop.everything")[-1][1]["tags"] == []


def test_writes_made_while_applying_are_not_captured_but_other_threads_are():
    seen = []

    def other_thread():
        seen.append(Author.objects.create(name="other thread").pk)

    with applying_remote_changes():
        Author.objects.create(name="applied")
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()

    assert [item["name"] for _, item in _items("shop.author")] == ["other thread"]
    assert _items("shop.author")[0][1]["id"] == seen[0]


def test_models_not_listed_are_not_captured():
    from maestro_django_testproject.shop.models import Unsynced

    Unsynced.objects.create(name="x")

    assert Change.objects.count() == 0


def test_writes_to_another_database_are_not_captured(settings):
    if "postgres" not in settings.DATABASES:
        pytest.skip("PostgreSQL is not reachable")
    Author.objects.using("postgres").create(name="elsewhere")

    assert Change.objects.count() == 0
    assert Change.objects.using("postgres").count() == 0


test_writes_to_another_database_are_not_captured = pytest.mark.django_db(
    transaction=True, databases=["default", "postgres"]
)(test_writes_to_another_database_are_not_captured)


class RecordingFailed(Exception):
    pass


def test_a_save_in_autocommit_mode_is_undone_when_its_change_cannot_be_recorded(
    monkeypatch,
):
    from maestro_django.capture import local_store

    def fail(*args, **kwargs):
        raise RecordingFailed

    Author.objects.create(name="kept")
    monkeypatch.setattr(local_store(), "commit_item_change", fail)

    with pytest.raises(RecordingFailed):
        Author.objects.create(name="never committed")
    kept = Author.objects.get()
    kept.name = "not renamed"
    with pytest.raises(RecordingFailed):
        kept.save()

    assert list(Author.objects.values_list("name", flat=True)) == ["kept"]
    assert Change.objects.count() == 1


def test_a_save_in_autocommit_mode_runs_the_callback_after_it_commits():
    from maestro_django_testproject import callbacks

    Author.objects.create(name="a")

    assert callbacks.calls == [False]


def test_saves_and_deletes_through_a_proxy_are_captured():
    from maestro_django_testproject.shop.models import AuthorProxy

    author = AuthorProxy.objects.create(name="through a proxy")
    author_id = author.pk
    author.delete()

    assert _items("shop.author") == [
        ("INSERT", {"id": author_id, "name": "through a proxy"}),
        ("DELETE", {"id": author_id, "name": "through a proxy"}),
    ]


@pytest.mark.django_db(transaction=True, databases="__all__")
@pytest.mark.parametrize("alias", ["default", "postgres"], ids=["sqlite", "postgresql"])
def test_a_local_save_settles_a_waiting_conflict(alias, settings, memory):
    """A save made on top of both sides of a manual conflict decides it, and
    its change includes both."""
    if alias not in settings.DATABASES:
        pytest.skip(f"the {alias!r} database server is not reachable")
    from maestro.backends.django.contrib.factory import create_django_provider
    from maestro_django.models import ConflictLogEntry

    from maestro_core import ConflictStatus
    from maestro_core.testing import make_orchestrator

    settings.MAESTRO = {
        **settings.MAESTRO,
        "DATABASE": alias,
        "CHANGES_COMMITTED_CALLBACK": None,
    }
    provider = create_django_provider()
    author = Author.objects.using(alias).create(name="a")
    book = Book.objects.using(alias).create(title="base", isbn="1", author=author)
    orchestrator = make_orchestrator(
        [provider, memory], conflict_policies={"shop.book": "manual"}
    )
    orchestrator.run("django")
    item = memory.store.get_item("shop.book", str(book.pk))
    remote = memory.store.commit_item_change(
        "UPDATE", "shop.book", str(book.pk), {**item, "title": "remote"}
    )
    book.title = "local"
    book.save(using=alias)
    orchestrator.synchronize_providers("memory", "django")
    log = ConflictLogEntry.objects.using(alias).get(status="DEFERRED")

    book.title = "decided"
    book.save(using=alias)

    log.refresh_from_db()
    assert log.status == ConflictStatus.RESOLVED.value
    decided = Change.objects.using(alias).order_by("-timestamp").first()
    assert log.winner_change_id == decided.id
    vector = json.loads(decided.vector)
    assert vector["memory"] == remote.timestamp
    assert vector["django"] == decided.timestamp


def _committed_counts(alias: str, table: str, entity: str) -> tuple[int, int]:
    """Rows of *table* and changes of *entity*, as another connection sees them."""
    import psycopg
    from django.db import connections

    db = connections[alias].settings_dict
    with psycopg.connect(
        dbname=db["NAME"], host=db["HOST"], port=db["PORT"], user=db["USER"]
    ) as other:
        rows = other.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        changes = other.execute(
            "SELECT count(*) FROM maestro_change WHERE entity_name = %s", [entity]
        ).fetchone()[0]
    return rows, changes


@pytest.fixture
def on_postgres(settings):
    if "postgres" not in settings.DATABASES:
        pytest.skip("PostgreSQL is not reachable")
    settings.MAESTRO = {**settings.MAESTRO, "DATABASE": "postgres"}


@pytest.mark.django_db(transaction=True, databases=["default", "postgres"])
def test_an_autocommit_save_on_postgresql_commits_with_its_change(on_postgres):
    """Later post_save receivers find the save and its change committed, as
    they would find a plain autocommit save, and their failure undoes
    neither; the callback runs once, after the save."""
    from django.db.models.signals import post_save
    from maestro_django_testproject import callbacks

    seen = []

    def later(instance, **kwargs):
        seen.append(_committed_counts("postgres", "shop_author", "shop.author"))
        raise Refused

    post_save.connect(later, sender=Author, weak=False)
    try:
        with pytest.raises(Refused):
            Author.objects.using("postgres").create(name="a")
    finally:
        post_save.disconnect(later, sender=Author)

    assert seen == [(1, 1)]
    assert Author.objects.using("postgres").count() == 1
    assert Change.objects.using("postgres").count() == 1
    assert callbacks.calls == [False]


@pytest.mark.django_db(transaction=True, databases=["default", "postgres"])
def test_a_save_made_during_another_save_does_not_commit_it(on_postgres):
    """Only the change of the save that opened the transaction commits it."""
    from django.db.models.signals import post_save, pre_save

    seen = []

    def tag_it(instance, **kwargs):
        Tag.objects.using("postgres").create(label=instance.name)

    def after_tag(instance, **kwargs):
        seen.append(_committed_counts("postgres", "shop_tag", "shop.tag"))

    pre_save.connect(tag_it, sender=Author, weak=False)
    post_save.connect(after_tag, sender=Tag, weak=False)
    try:
        Author.objects.using("postgres").create(name="a")
    finally:
        pre_save.disconnect(tag_it, sender=Author)
        post_save.disconnect(after_tag, sender=Tag)

    assert seen == [(0, 0)]
    assert _committed_counts("postgres", "shop_tag", "shop.tag") == (1, 1)
    assert _committed_counts("postgres", "shop_author", "shop.author") == (1, 1)
