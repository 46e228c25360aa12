"""Every field type Django ships survives a sync out and back unchanged.

A row of each synced model is sent to an in-memory provider; the Django
side is then emptied (rows and Maestro's records) and receives everything
back. The rows must read exactly as before, ``auto_now`` fields included.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
import zoneinfo

import pytest
from django.db import models
from maestro.backends.django.contrib.factory import create_django_provider
from maestro_django import applying_remote_changes
from maestro_django.models import Change, Clock, ItemVersionEntry, Knowledge
from maestro_django_testproject.shop.models import Author, Everything, Tag

from maestro_core.testing import held_change_ids

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


@pytest.fixture(
    params=["default", "postgres", "mariadb"], ids=["sqlite", "postgresql", "mariadb"]
)
def alias(request, settings):
    if request.param not in settings.DATABASES:
        pytest.skip(f"the {request.param!r} database server is not reachable")
    settings.MAESTRO = {**settings.MAESTRO, "DATABASE": request.param}
    return request.param


def _value(field: models.Field, value):
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(field, models.FileField):
        return value.name
    return value


def _snapshot(alias: str) -> dict:
    rows = {}
    for model in (Author, Tag, Everything):
        for row in model.objects.using(alias).order_by("pk"):
            values = {
                f.attname: _value(f, getattr(row, f.attname))
                for f in model._meta.concrete_fields
            }
            for f in model._meta.many_to_many:
                values[f.name] = sorted(getattr(row, f.name).values_list("pk", flat=1))
            rows[(model.__name__, row.pk)] = values
    return rows


def _forget_everything(alias: str) -> None:
    with applying_remote_changes():
        for model in (Everything, Tag, Author):
            model.objects.using(alias).all().delete()
    for model in (Change, ItemVersionEntry, Knowledge, Clock):
        model.objects.using(alias).all().delete()


def _make_rows(alias: str) -> Everything:
    rows = Everything.objects.using(alias)
    author = Author.objects.using(alias).create(name="Ada")
    passport = Author.objects.using(alias).create(name="Passport holder")
    tags = [Tag.objects.using(alias).create(label=label) for label in "xyz"]
    thing = rows.create(
        big=2**62 + 1,
        small=-32768,
        integer=-7,
        positive=2**31 - 1,
        positive_small=32767,
        positive_big=2**63 - 1,
        flag=True,
        maybe=None,
        char="ünïcødé ✓",
        text="line one\nline two\x01",
        slug="a-slug_1",
        email="ada@example.org",
        url="https://example.org/a?b=c#d",
        ip="2001:db8::1",
        price=decimal.Decimal("12345678.90"),
        ratio=0.1 + 0.2,
        day=dt.date(1815, 12, 10),
        moment=dt.datetime(2024, 3, 10, 1, 59, 59, 999999, tzinfo=NEW_YORK),
        at=dt.time(23, 59, 59, 1),
        span=dt.timedelta(days=-1, seconds=5, microseconds=7),
        token=uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
        blob=b"\x00\xff binary \x80",
        data={"list": [1, 2.5, None, True], "nested": {"é": "ü"}, "empty": {}},
        path="/tmp/report.txt",
        upload="uploads/report.pdf",
        picture="photos/portrait.png",  # no such file: only the name travels
        picture_width=640,
        picture_height=480,
        author=author,
        passport=passport,
    )
    thing.tags.set(tags[:2])
    # auto_now and auto_now_add fields far from the time of the sync
    long_ago = dt.datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    rows.filter(pk=thing.pk).update(created=long_ago, updated=long_ago)
    thing.refresh_from_db(fields=["created", "updated"])
    thing.save(update_fields=["char"])  # recorded: created long ago, updated now
    return thing


def test_every_field_type_round_trips_unchanged(alias, memory, sync):
    thing = _make_rows(alias)
    recorded = Change.objects.using(alias).filter(entity_name="shop.everything")
    assert recorded.count() == 3  # insert, the tags, the update
    before = _snapshot(alias)
    local = create_django_provider()
    item = local.store.get_item("shop.everything", str(thing.pk))

    assert sync(local, memory).deferred == 0
    assert memory.store.get_item("shop.everything", str(thing.pk)) == item

    _forget_everything(alias)
    local = create_django_provider()
    session = sync(memory, local)

    assert session.deferred == 0, local.store.get_conflict_logs()
    after = _snapshot(alias)
    for key, values in before.items():
        differing = {
            name: (value, after[key].get(name))
            for name, value in values.items()
            if after[key].get(name) != value
        }
        assert not differing, key
    assert after == before
    assert after[("Everything", thing.pk)]["created"].year == 2001
    assert local.store.get_item("shop.everything", str(thing.pk)) == item
    # what came back was applied, not captured again as new changes
    assert held_change_ids(local.store) == held_change_ids(memory.store)
