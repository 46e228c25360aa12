"""Every value type a backend stores natively, from each backend to each other.

One table lists the types: a value, whether the Django backend has a column
for it (the ``samples.Sample`` model), and how each backend keeps it in its
own storage. For every ordered pair of backends, an item holding every type
both can store is written on the first the way its applications write, sent
to the second by a session, and read back: the canonical values must be
equal on both sides, and each side's own storage must hold each value in the
backend's native form (a ``Decimal128`` in MongoDB, a timestamp in Firestore,
a ``DecimalField`` value in Django), not as text. The same goes for what a
mobile app writes to Firestore itself, which the backend captures.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from attrs import frozen
from maestro_e2e.support import unique_name

from maestro_core import (
    GeoPoint,
    ObjectIdValue,
    Reference,
    SyncProvider,
    encode_item,
)
from maestro_core.testing import make_orchestrator

BACKENDS = ("django", "mongo", "firestore")
PAIRS = [(w, r) for w in BACKENDS for r in BACKENDS if w != r]
ENTITY = "samples"


def is_type(*types: type) -> Callable[[Any], bool]:
    return lambda value: (
        isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    )


def is_tagged(tag: str) -> Callable[[Any], bool]:
    """Stored as the canonical one-key map (Firestore, for types it lacks)."""
    return lambda value: isinstance(value, dict) and list(value) == [tag]


def is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def is_aware_datetime(value: Any) -> bool:
    return isinstance(value, dt.datetime) and value.utcoffset() is not None


def is_binary(subtype: int) -> Callable[[Any], bool]:
    from bson.binary import Binary

    def check(value: Any) -> bool:
        if subtype == 0 and type(value) is bytes:
            return True  # pymongo reads subtype 0 back as bytes
        return isinstance(value, Binary) and value.subtype == subtype

    return check


def mongo_type(name: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        import bson

        return isinstance(value, getattr(bson, name))

    return check


def firestore_type(name: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        from google.cloud import firestore

        return isinstance(value, getattr(firestore, name))

    return check


@frozen
class ValueType:
    """One row of the table: a value and how each backend stores it."""

    name: str
    value: Any
    django: Callable[[Any], bool] | None
    mongo: Callable[[Any], bool]
    firestore: Callable[[Any], bool]

    def storable_on(self, backend: str) -> bool:
        return getattr(self, backend) is not None

    def native_on(self, backend: str) -> Callable[[Any], bool]:
        check = getattr(self, backend)
        assert check is not None
        return check


MOMENT = dt.datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=dt.UTC)

VALUE_TYPES = [
    ValueType("small", 42, is_type(int), is_type(int), is_type(int)),
    ValueType(
        "big", 2**53 + 1, is_type(int), mongo_type("Int64"), is_type(int)
    ),  # beyond what a double holds exactly
    ValueType("ratio", 3.25, is_type(float), is_type(float), is_type(float)),
    ValueType("infinite", -math.inf, is_type(float), is_type(float), is_type(float)),
    ValueType("not_a_number", math.nan, is_nan, is_nan, is_nan),
    ValueType(
        "price",
        decimal.Decimal("1234.5678"),
        is_type(decimal.Decimal),
        mongo_type("Decimal128"),
        is_tagged("$numberDecimal"),
    ),
    ValueType("flag", True, is_type(bool), is_type(bool), is_type(bool)),
    ValueType("label", "Grüße, 世界 🎉", is_type(str), is_type(str), is_type(str)),
    ValueType(
        "text", "two\nlines\tand a tab", is_type(str), is_type(str), is_type(str)
    ),
    ValueType(
        "nothing",
        None,
        lambda v: v is None,
        lambda v: v is None,
        lambda v: v is None,
    ),
    ValueType(
        "moment",
        MOMENT,
        is_aware_datetime,
        is_type(dt.datetime),  # a BSON date: milliseconds, the rest kept aside
        is_aware_datetime,
    ),
    ValueType(
        "day",
        dt.date(2024, 2, 29),
        lambda v: type(v) is dt.date,
        is_type(dt.datetime),  # midnight UTC, tagged as a date
        is_tagged("$dateOnly"),
    ),
    ValueType(
        "at",
        dt.time(13, 14, 15, 161718),
        is_type(dt.time),
        is_type(str),  # ISO text, tagged as a time
        is_tagged("$time"),
    ),
    ValueType(
        "span",
        dt.timedelta(days=3, seconds=5, microseconds=7),
        is_type(dt.timedelta),
        mongo_type("Int64"),  # microseconds, tagged as a duration
        is_tagged("$timedelta"),
    ),
    ValueType(
        "token",
        uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
        is_type(uuid.UUID),
        is_binary(4),
        is_tagged("$uuid"),
    ),
    ValueType(
        "blob",
        b"\x00\xffbytes",
        is_type(bytes, memoryview),
        is_binary(0),
        is_type(bytes),
    ),
    ValueType(
        "data",
        {"nested": {"list": [1, "two", None, True], "ratio": 0.5}},
        is_type(dict),
        is_type(dict),
        is_type(dict),
    ),
    # Types the Django backend has no column for.
    ValueType(
        "where",
        GeoPoint(51.5, -0.12),
        None,
        lambda v: isinstance(v, dict) and v.get("type") == "Point",  # GeoJSON
        firestore_type("GeoPoint"),
    ),
    ValueType(
        "oid",
        ObjectIdValue("5f1d7a2b9c8e4d3a2b1c0f9e"),
        None,
        mongo_type("ObjectId"),
        is_tagged("$oid"),
    ),
    ValueType(
        "ref",
        Reference("customers", "cus_ada"),
        None,
        mongo_type("DBRef"),
        firestore_type("DocumentReference"),
    ),
    ValueType(
        "grid",
        [[1, 2], [3]],
        None,
        lambda v: v == [[1, 2], [3]],
        # Firestore refuses an array directly in an array: each is wrapped
        lambda v: isinstance(v, list) and all(is_tagged("$array")(e) for e in v),
    ),
]


class Backends:
    """Fresh providers of each backend, and their own raw storage."""

    def __init__(self, mongo_client: Any, emulator: Any):
        self.mongo_client = mongo_client
        self.mongo_database = unique_name("types").replace("-", "_")
        self.firestore_client = emulator.client(unique_name("types"))
        self.app = emulator.client(self.firestore_client.project)
        """A plain client of the same database: the mobile app."""

    def provider(self, backend: str) -> SyncProvider:
        if backend == "django":
            from maestro.backends.django.contrib.factory import (
                create_django_provider,
            )

            return create_django_provider()
        if backend == "mongo":
            from maestro_mongo import create_mongo_provider

            return create_mongo_provider(
                client=self.mongo_client, database_name=self.mongo_database
            )
        from maestro_firestore import create_firestore_provider

        return create_firestore_provider(self.firestore_client)

    def write(self, provider: SyncProvider, item_id: str, values: dict) -> None:
        """Write as the backend's applications do."""
        if provider.provider_id == "django":
            from maestro_e2e.samples.models import Sample

            Sample.objects.create(id=item_id, **values)
            return
        item = {"id": item_id, "collection_name": ENTITY, **values}
        provider.store.commit_item_change("INSERT", ENTITY, item_id, item)

    def raw(self, backend: str, item_id: str) -> dict[str, Any]:
        """The record as the backend's own storage holds it."""
        if backend == "django":
            from maestro_e2e.samples.models import Sample

            row = Sample.objects.get(pk=item_id)
            return {f.name: getattr(row, f.attname) for f in Sample._meta.fields}
        if backend == "mongo":
            database = self.mongo_client[self.mongo_database]
            document = database[ENTITY].find_one({"_id": item_id})
            assert document is not None
            return document
        snapshot = self.firestore_client.collection(ENTITY).document(item_id).get()
        assert snapshot.exists
        return snapshot.to_dict()

    def close(self) -> None:
        self.app.close()
        self.firestore_client.close()
        self.mongo_client.drop_database(self.mongo_database)


@pytest.fixture
def backends(mongo_client, emulator) -> Iterator[Backends]:
    opened = Backends(mongo_client, emulator)
    yield opened
    opened.close()


def test_the_table_covers_every_column_of_the_sample_model():
    from maestro_e2e.samples.models import Sample

    columns = {f.name for f in Sample._meta.fields} - {"id"}
    assert columns == {row.name for row in VALUE_TYPES if row.django is not None}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("writer", "reader"), PAIRS, ids=[f"{w}-{r}" for w, r in PAIRS]
)
def test_every_native_type_reads_back_the_same_on_the_other_backend(
    backends, writer, reader
):
    rows = [r for r in VALUE_TYPES if r.storable_on(writer) and r.storable_on(reader)]
    values = {row.name: row.value for row in rows}
    item_id = f"{writer}-to-{reader}"
    source, target = backends.provider(writer), backends.provider(reader)

    backends.write(source, item_id, values)
    session = make_orchestrator([source, target]).synchronize_providers(writer, reader)
    assert (session.applied, session.deferred) == (1, 0), session

    expected = encode_item({"id": item_id, **values})
    written = source.store.get_item(ENTITY, item_id)
    read = target.store.get_item(ENTITY, item_id)
    problems = []
    for backend, item in ((writer, written), (reader, read)):
        raw = backends.raw(backend, item_id)
        for row in rows:
            if item.get(row.name) != expected[row.name]:
                problems.append(
                    f"{row.name}: {backend} gives {item.get(row.name)!r}; "
                    f"expected {expected[row.name]!r}"
                )
            if not row.native_on(backend)(raw.get(row.name)):
                problems.append(
                    f"{row.name}: {backend} stores {raw.get(row.name)!r}, which is "
                    "not its native form of the value"
                )
    assert not problems, "\n".join(problems)
    assert read == written == expected


def app_form(value: Any, client: Any) -> Any:
    """*value* as a mobile app writes it: Firestore's type, else the tagged map.

    Firestore has no decimal, date, time, duration, UUID or ObjectId; an app
    writes those as the canonical one-key map the backend documents.
    """
    from google.cloud import firestore

    if isinstance(value, Reference):
        return client.collection(value.entity_name).document(value.item_id)
    if isinstance(value, GeoPoint):
        return firestore.GeoPoint(value.latitude, value.longitude)
    encoded = encode_item({"value": value})["value"]
    if isinstance(encoded, dict) and list(encoded) in (
        ["$numberDecimal"],
        ["$dateOnly"],
        ["$time"],
        ["$timedelta"],
        ["$uuid"],
        ["$oid"],
    ):
        return encoded
    return value


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("reader", ["django", "mongo"])
def test_what_a_mobile_app_writes_reads_back_on_the_other_backends(backends, reader):
    from maestro_firestore import capture_document

    rows = [
        r
        for r in VALUE_TYPES
        if r.storable_on("firestore") and r.storable_on(reader) and r.name != "grid"
    ]
    values = {row.name: row.value for row in rows}
    item_id = f"app-to-{reader}"
    source, target = backends.provider("firestore"), backends.provider(reader)

    document = backends.app.collection(ENTITY).document(item_id)
    document.set({name: app_form(v, backends.app) for name, v in values.items()})
    change = capture_document(source.store, ENTITY, item_id, document.get().to_dict())
    assert change is not None
    session = make_orchestrator([source, target]).synchronize_providers(
        "firestore", reader
    )
    assert (session.applied, session.deferred) == (1, 0), session

    expected = encode_item({"id": item_id, **values})
    assert change.item == expected
    read = target.store.get_item(ENTITY, item_id)
    raw = backends.raw(reader, item_id)
    problems = [
        f"{row.name}: {reader} gives {read.get(row.name)!r} and stores "
        f"{raw.get(row.name)!r}; expected {expected[row.name]!r} in its native form"
        for row in rows
        if read.get(row.name) != expected[row.name]
        or not row.native_on(reader)(raw.get(row.name))
    ]
    assert not problems, "\n".join(problems)
