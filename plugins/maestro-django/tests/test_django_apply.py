"""Applying remote changes: values as sent, deferrals, inbound protection."""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import logging

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from maestro.backends.django.contrib.factory import create_django_provider
from maestro_django import store
from maestro_django.exceptions import UnknownEntityError
from maestro_django.models import Change
from maestro_django_testproject.shop.models import Author, Book, Everything

from maestro_core import ConflictStatus, ConflictType, decode_item
from maestro_core.testing import make_orchestrator

pytestmark = pytest.mark.django_db(transaction=True)


def _commit(memory, entity, item_id, operation="INSERT", **fields):
    memory.store.commit_item_change(
        operation, entity, str(item_id), {"id": item_id, **fields}
    )


def _deferred(provider):
    return provider.store.get_conflict_logs(
        status=ConflictStatus.DEFERRED, conflict_type=ConflictType.EXCEPTION_OCCURRED
    )


def test_remote_changes_are_not_captured_again(memory, django_provider, sync):
    _commit(memory, "shop.author", 1, name="remote")

    assert sync(memory, django_provider).applied == 1
    assert Author.objects.get(pk=1).name == "remote"
    assert list(Change.objects.values_list("origin", flat=True)) == ["memory"]


def test_a_child_before_its_parent_is_deferred_and_succeeds_on_retry(
    memory, django_provider, sync
):
    _commit(memory, "shop.book", 7, title="Early", isbn="1", author=3, pages=1)
    first = sync(memory, django_provider)

    assert (first.applied, first.deferred) == (0, 1)
    [log] = _deferred(django_provider)
    assert "MissingParentError" in log.description
    assert "shop.author 3" in log.description

    _commit(memory, "shop.author", 3, name="Late parent")
    sync(memory, django_provider)  # the parent arrives
    sync(memory, django_provider)  # the child is retried first thing

    assert Book.objects.get(pk=7).author_id == 3
    assert _deferred(django_provider) == []
    assert django_provider.store.get_conflict_log(log.id).status is (
        ConflictStatus.RESOLVED
    )


def test_unknown_fields_are_dropped_with_one_warning_per_model_and_field(
    memory, django_provider, sync, caplog
):
    for n in range(3):
        _commit(memory, "shop.author", n + 1, name=f"a{n}", nickname="x", age=n)
    _commit(
        memory,
        "shop.tag",
        "00000000-0000-0000-0000-000000000001",
        label="t",
        nickname="y",
    )

    with caplog.at_level(logging.WARNING, logger="maestro_django"):
        assert sync(memory, django_provider).applied == 4

    warnings = sorted(
        r.getMessage() for r in caplog.records if "does not have" in r.getMessage()
    )
    assert len(warnings) == 3
    assert "'shop.author' carry field 'age'" in warnings[0]
    assert "'shop.author' carry field 'nickname'" in warnings[1]
    assert "'shop.tag' carry field 'nickname'" in warnings[2]
    assert Author.objects.count() == 3


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"title": "far too long a title"}, "'title'"),
        ({"pages": "many"}, "expected an integer"),
        ({"pages": -1}, "'pages' = -1"),
        ({"isbn": None}, "not nullable"),
        ({"isbn": "taken"}, "UNIQUE"),
    ],
    ids=["too-long", "wrong-type", "out-of-range", "null", "unique-violation"],
)
def test_a_value_the_field_cannot_hold_defers_only_that_change(
    memory, django_provider, sync, fields, expected
):
    author = Author.objects.create(name="a")
    Book.objects.create(title="held", isbn="taken", author=author)
    Change.objects.all().delete()
    good = {"title": "ok", "isbn": "ok", "author": author.pk, "pages": 2}
    _commit(memory, "shop.book", 100, **{**good, "isbn": "first"})
    _commit(memory, "shop.book", 101, **{**good, **fields})
    _commit(memory, "shop.book", 102, **{**good, "isbn": "last"})

    session = sync(memory, django_provider)

    assert (session.applied, session.deferred) == (2, 1)
    assert set(Book.objects.values_list("pk", flat=True)) >= {100, 102}
    assert not Book.objects.filter(pk=101).exists()
    [log] = _deferred(django_provider)
    assert log.item_id == "101"
    assert expected.lower() in log.description.lower()


def test_read_only_fields_are_never_written_from_remote_changes(
    memory, django_provider, sync
):
    thing = Everything.objects.create(char="local")
    sync(django_provider, memory)
    item = decode_item(memory.store.get_item("shop.everything", str(thing.pk)))
    memory.store.commit_item_change(
        "UPDATE",
        "shop.everything",
        str(thing.pk),
        {**item, "char": "remote", "is_staff": True},
    )

    assert sync(memory, django_provider).applied == 1
    thing.refresh_from_db()
    assert (thing.char, thing.is_staff) == ("remote", False)


def test_an_explicit_field_list_limits_what_remote_changes_write(
    memory, sync, settings
):
    settings.MAESTRO = {
        **settings.MAESTRO,
        "MODELS": ["shop.author", {"model": "shop.book", "fields": ["title"]}],
    }
    author = Author.objects.create(name="a")
    book = Book.objects.create(title="old", isbn="1", author=author, pages=5)
    provider = create_django_provider()
    sync(provider, memory)
    _commit(
        memory,
        "shop.book",
        book.pk,
        "UPDATE",
        title="new",
        isbn="2",
        author=author.pk,
        pages=9,
    )

    assert sync(memory, provider).applied == 1
    book.refresh_from_db()
    assert (book.title, book.isbn, book.pages) == ("new", "1", 5)


def test_remote_changes_for_models_not_listed_are_refused(
    memory, django_provider, sync
):
    _commit(memory, "shop.unsynced", 1, name="x")
    _commit(memory, "auth.user", 1, username="root", is_superuser=True)

    session = sync(memory, django_provider)

    assert (session.applied, session.deferred) == (0, 2)
    assert all(
        "UnknownEntityError" in log.description for log in _deferred(django_provider)
    )
    with pytest.raises(UnknownEntityError, match=r"'auth\.user' is not synchronised"):
        django_provider.store.commit_item_change("INSERT", "auth.user", "1", {"id": 1})


def test_auto_now_fields_land_exactly_as_sent(memory, django_provider, sync):
    thing = Everything.objects.create()
    sync(django_provider, memory)
    item = decode_item(memory.store.get_item("shop.everything", str(thing.pk)))
    sent = dt.datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=dt.UTC)
    memory.store.commit_item_change(
        "UPDATE",
        "shop.everything",
        str(thing.pk),
        {**item, "updated": sent, "created": sent},
    )

    assert sync(memory, django_provider).applied == 1
    thing.refresh_from_db()
    assert (thing.created, thing.updated) == (sent, sent)


def _conflicting_book(memory, django_provider):
    """A book deleted on the memory side, then edited later in Django."""
    author = Author.objects.create(name="a")
    book = Book.objects.create(title="v1", isbn="1", author=author)
    orchestrator = make_orchestrator([django_provider, memory])
    orchestrator.run("django")
    memory.store.commit_item_change(
        "DELETE", "shop.book", str(book.pk), {"id": book.pk}
    )
    book.title = "v2"
    book.save()
    orchestrator.run("django")
    return book


def test_conflict_policies_per_model_come_from_settings(memory, django_provider):
    assert django_provider.conflict_policies == {"shop.book": "last_writer_wins"}
    book = _conflicting_book(memory, django_provider)

    # last writer wins: the later edit beats the earlier deletion
    assert Book.objects.get(pk=book.pk).title == "v2"
    assert memory.store.get_item("shop.book", str(book.pk))["title"] == "v2"


def test_without_a_policy_in_settings_the_default_lets_the_deletion_win(
    memory, settings
):
    settings.MAESTRO = {**settings.MAESTRO, "MODELS": ["shop.author", "shop.book"]}
    provider = create_django_provider()
    assert provider.conflict_policies == {}
    book = _conflicting_book(memory, provider)

    assert not Book.objects.filter(pk=book.pk).exists()
    assert memory.store.get_item("shop.book", str(book.pk)) is None


MISSING = object()
NAN = float("nan")


def _book(author, **fields):
    return {"title": "t", "isbn": "1", "author": author, "pages": 2, **fields}


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (
            {"price": decimal.Decimal("89.9")},
            "shop.everything '{pk}' field 'price': Decimal('89.9') would be stored as "
            "Decimal('89.90'); expected a decimal with 2 decimal places",
        ),
        (
            {"price": 5},
            "field 'price': 5 would be stored as Decimal('5.00')",
        ),
        (
            {"ip": "2001:0db8:0000::0001"},
            "field 'ip': '2001:0db8:0000::0001' would be stored as '2001:db8::1'",
        ),
        (
            {"token": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"},
            "would be stored as UUID('1b4e28ba-2fa1-11d2-883f-0016d3cca427')",
        ),
        (
            {"tags": ["00000000-0000-0000-0000-000000000002"]},
            "expected the sorted list of distinct related ids",
        ),
        (
            {"price": MISSING},
            "shop.everything '{pk}' lacks field 'price', which the model stores",
        ),
    ],
    ids=["decimal-places", "decimal-int", "ip", "uuid-text", "m2m", "missing"],
)
def test_a_value_stored_differently_from_how_it_was_sent_is_deferred(
    memory, django_provider, sync, bad, expected
):
    """Django would hold another value than the sender: the change waits, and
    a corrected change from the sender settles it."""
    thing = Everything.objects.create()
    sync(django_provider, memory)
    item = decode_item(memory.store.get_item("shop.everything", str(thing.pk)))
    before = Everything.objects.values().get(pk=thing.pk)
    sent = {k: v for k, v in {**item, **bad}.items() if v is not MISSING}
    memory.store.commit_item_change("UPDATE", "shop.everything", str(thing.pk), sent)

    session = sync(memory, django_provider)

    assert (session.applied, session.deferred) == (0, 1)
    [log] = _deferred(django_provider)
    assert expected.format(pk=thing.pk) in log.description
    assert Everything.objects.values().get(pk=thing.pk) == before  # nothing written

    memory.store.commit_item_change("UPDATE", "shop.everything", str(thing.pk), item)
    sync(memory, django_provider)
    sync(memory, django_provider)  # the deferred change is retried: superseded

    assert django_provider.store.get_conflict_log(log.id).status is (
        ConflictStatus.RESOLVED
    )
    assert _deferred(django_provider) == []
    assert django_provider.store.get_item("shop.everything", str(thing.pk)) == (
        memory.store.get_item("shop.everything", str(thing.pk))
    )


def test_an_inexact_insert_writes_nothing_and_a_corrected_one_lands(
    memory, django_provider, sync
):
    author = Author.objects.create(name="a")
    sync(django_provider, memory)
    _commit(memory, "shop.book", 5, title="t", isbn="1", author=author.pk)  # no pages

    assert sync(memory, django_provider).deferred == 1
    [log] = _deferred(django_provider)
    assert "shop.book '5' lacks field 'pages'" in log.description
    assert "MissingFieldError" in log.description
    assert not Book.objects.filter(pk=5).exists()

    _commit(memory, "shop.book", 5, "UPDATE", **_book(author.pk, pages=3))
    sync(memory, django_provider)
    sync(memory, django_provider)

    assert Book.objects.get(pk=5).pages == 3
    assert django_provider.store.get_conflict_log(log.id).status is (
        ConflictStatus.RESOLVED
    )


def test_fields_remote_changes_do_not_write_may_be_missing(memory, sync, settings):
    settings.MAESTRO = {
        **settings.MAESTRO,
        "MODELS": ["shop.author", {"model": "shop.book", "fields": ["title"]}],
    }
    author = Author.objects.create(name="a")
    book = Book.objects.create(title="old", isbn="1", author=author, pages=5)
    provider = create_django_provider()
    sync(provider, memory)
    _commit(memory, "shop.book", book.pk, "UPDATE", title="new")

    assert sync(memory, provider).applied == 1
    book.refresh_from_db()
    assert (book.title, book.pages) == ("new", 5)


def test_checking_exact_values_costs_no_query(
    memory, django_provider, sync, monkeypatch
):
    """A sync of values stored exactly as sent makes the queries it made
    before values were checked."""
    author = Author.objects.create(name="a")
    thing = Everything.objects.create(price=decimal.Decimal("1.50"), data={"a": [1]})
    sync(django_provider, memory)
    everything = decode_item(memory.store.get_item("shop.everything", str(thing.pk)))

    def send_updates(pages):
        for n in range(3):
            _commit(
                memory,
                "shop.book",
                n + 1,
                "INSERT" if pages == 1 else "UPDATE",
                **_book(author.pk, isbn=str(n), pages=pages),
            )
        memory.store.commit_item_change(
            "UPDATE", "shop.everything", str(thing.pk), {**everything, "big": pages}
        )

    send_updates(1)
    assert sync(memory, django_provider).applied == 4
    send_updates(2)
    with CaptureQueriesContext(connection) as checked:
        assert sync(memory, django_provider).applied == 4

    unchecked = functools.partial(store.remote_values, exact_for=None)
    monkeypatch.setattr(store, "remote_values", lambda *a, **k: unchecked(*a))
    send_updates(3)
    with CaptureQueriesContext(connection) as before:
        assert sync(memory, django_provider).applied == 4
    assert len(checked) == len(before)
    assert Book.objects.get(pk=1).pages == 3


@pytest.mark.django_db(transaction=True, databases=["default", "postgres"])
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"big": 1e16, "small": 0.5},
            "{'big': 1e+16, 'small': 0.5} would be stored as "
            "{'big': 10000000000000000, 'small': 0.5}",
        ),
        ({"list": [-2.5e300]}, "would be stored as {'list': [-25000000000"),
    ],
    ids=["whole", "in-a-list"],
)
def test_a_json_float_that_postgresql_reads_back_as_an_integer_is_deferred(
    settings, memory, sync, data, expected
):
    """jsonb keeps numbers as decimals and prints them without an exponent,
    so a float of 1e16 or more comes back as an integer."""
    if "postgres" not in settings.DATABASES:
        pytest.skip("PostgreSQL is not reachable")
    settings.MAESTRO = {**settings.MAESTRO, "DATABASE": "postgres"}
    provider = create_django_provider()
    thing = Everything.objects.using("postgres").create(data={"kept": 1.5})
    sync(provider, memory)
    item = decode_item(memory.store.get_item("shop.everything", str(thing.pk)))
    memory.store.commit_item_change(
        "UPDATE", "shop.everything", str(thing.pk), {**item, "data": data}
    )

    session = sync(memory, provider)

    assert (session.applied, session.deferred) == (0, 1)
    [log] = _deferred(provider)
    assert expected in log.description
    assert Everything.objects.using("postgres").get(pk=thing.pk).data == {"kept": 1.5}

    exact = {"big": 1e15, "tiny": 1e-300, "whole": 3.0}
    memory.store.commit_item_change(
        "UPDATE", "shop.everything", str(thing.pk), {**item, "data": exact}
    )
    sync(memory, provider)
    assert Everything.objects.using("postgres").get(pk=thing.pk).data == exact


def test_a_json_value_no_database_accepts_is_deferred(memory, django_provider, sync):
    """JSON has no NaN: the row would be refused by the database."""
    thing = Everything.objects.create(data={"kept": 1.5})
    sync(django_provider, memory)
    item = decode_item(memory.store.get_item("shop.everything", str(thing.pk)))
    memory.store.commit_item_change(
        "UPDATE", "shop.everything", str(thing.pk), {**item, "data": {"x": NAN}}
    )

    session = sync(memory, django_provider)

    assert (session.applied, session.deferred) == (0, 1)
    [log] = _deferred(django_provider)
    assert "has 'data' = {'x': nan}; expected a value the field can hold" in (
        log.description
    )
    assert Everything.objects.get(pk=thing.pk).data == {"kept": 1.5}


@pytest.mark.parametrize("operation", ["INSERT", "UPDATE"])
def test_a_remote_image_is_written_as_sent_without_opening_its_file(
    memory, django_provider, sync, operation
):
    """Only the image's name travels; its file may live elsewhere. Django
    would open the file to fill in empty dimension fields: it must not, and
    the dimensions stay what the sender holds."""
    thing = Everything.objects.create()
    sync(django_provider, memory)
    item = decode_item(memory.store.get_item("shop.everything", str(thing.pk)))
    if operation == "INSERT":
        item = {**item, "id": thing.pk + 1}
    sent = {
        **item,
        "picture": "photos/elsewhere.png",
        "picture_width": None,
        "picture_height": None,
    }
    memory.store.commit_item_change(operation, "shop.everything", str(sent["id"]), sent)

    session = sync(memory, django_provider)

    assert (session.applied, session.deferred) == (1, 0), _deferred(django_provider)
    row = Everything.objects.values("picture", "picture_width", "picture_height").get(
        pk=sent["id"]
    )
    assert row == {
        "picture": "photos/elsewhere.png",
        "picture_width": None,
        "picture_height": None,
    }
