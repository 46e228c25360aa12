"""Native BSON types, both ways: MongoDB to memory and back, unchanged."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest
from bson import DBRef, Decimal128, Int64, ObjectId
from bson.binary import Binary
from maestro_mongo import create_mongo_provider

from maestro_core import (
    GeoPoint,
    ObjectIdValue,
    Operation,
    Reference,
    create_memory_provider,
    decode_item,
    encode_item,
)
from maestro_core.testing import make_orchestrator

OID = ObjectId("65f1d2c3b4a5968778695a4b")
KEY = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
PARIS = dt.timezone(dt.timedelta(hours=2))


def _document():
    """A document as pymongo hands it to an application."""
    return {
        "id": OID,
        "collection_name": "things",
        "when": dt.datetime(2024, 5, 1, 14, 30, 15, 123456, tzinfo=PARIS),
        "midnight": dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
        "price": Decimal128("10.10"),
        "exact": decimal.Decimal("-0.000000000000000000000000000000001"),
        "owner": ObjectId("000000000000000000000001"),
        "key": KEY,
        "blob": Binary(b"\x00\xffraw", 0),
        "plain_bytes": b"\x01\x02",
        "big": Int64(2**62),
        "huge": 2**53 + 1,
        "ratio": 0.1,
        "nan": float("nan"),
        "flag": True,
        "nothing": None,
        "parent": DBRef("things", OID),
        "nested": {
            "tags": [
                "a",
                {"deep": [1, 2.5, {"at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}]},
            ],
            "empty": {},
            "list": [],
        },
        "matrix": [[1, 2], [3, [4, KEY]]],
        "day": dt.date(2024, 2, 29),
        "alarm": dt.time(6, 30, 0, 250),
        "wait": dt.timedelta(days=1, microseconds=5),
        "spot": GeoPoint(48.85, 2.35),
    }


def _canonical():
    """What every provider holds: the core's form of the same values."""
    values = dict(_document())
    del values["collection_name"]
    values.update(
        id=ObjectIdValue(str(OID)),
        price=decimal.Decimal("10.10"),
        owner=ObjectIdValue("000000000000000000000001"),
        blob=b"\x00\xffraw",
        big=2**62,
        parent=Reference("things", ObjectIdValue(str(OID))),
    )
    return encode_item(values)


def test_native_types_round_trip_through_memory(any_client, new_database_name):
    mongo = create_mongo_provider(client=any_client, database_name=new_database_name())
    memory = create_memory_provider("memory")
    orchestrator = make_orchestrator([mongo, memory])
    item_id = str(OID)
    mongo.store.commit_item_change(
        operation=Operation.INSERT,
        entity_name="things",
        item_id=item_id,
        item=_document(),
    )
    orchestrator.run("mongo")
    expected = _canonical()
    received = memory.store.get_item("things", item_id)
    assert received == expected  # NaN travels as {'$numberDouble': 'NaN'}

    # stored natively: other clients of the database read ordinary BSON
    raw = mongo.store.collection("things").find_one({"_id": OID})
    assert raw["price"] == Decimal128("10.10") and isinstance(raw["price"], Decimal128)
    assert raw["owner"] == ObjectId("000000000000000000000001")
    assert _uuid(raw["key"]) == KEY
    assert bytes(raw["blob"]) == b"\x00\xffraw"
    assert raw["when"] == dt.datetime(2024, 5, 1, 12, 30, 15, 123000, tzinfo=dt.UTC)
    assert raw["parent"] == DBRef("things", OID)
    assert raw["nested"]["tags"][1]["deep"][2]["at"].year == 2020
    assert raw["spot"] == {"type": "Point", "coordinates": [2.35, 48.85]}
    assert "collection_name" not in raw and "id" not in raw

    # and back: an edit made elsewhere arrives with every value intact
    edited = {**decode_item(received), "flag": False}
    memory.store.commit_item_change(
        operation=Operation.UPDATE, entity_name="things", item_id=item_id, item=edited
    )
    orchestrator.run("memory")
    assert mongo.store.get_item("things", item_id) == {**expected, "flag": False}
    raw = mongo.store.collection("things").find_one({"_id": OID})
    assert isinstance(raw["exact"], Decimal128) and raw["flag"] is False
    assert _uuid(raw["key"]) == KEY and isinstance(raw["big"], int)


@pytest.mark.parametrize(
    "item_id, value",
    [("7", 7), (str(KEY), KEY), (str(OID), OID), ("plain", "plain")],
    ids=["integer", "uuid", "objectid", "string"],
)
def test_ids_of_each_type_are_the_document_id(
    any_client, new_database_name, item_id, value
):
    mongo = create_mongo_provider(client=any_client, database_name=new_database_name())
    memory = create_memory_provider("memory")
    mongo.store.commit_item_change(
        operation=Operation.INSERT,
        entity_name="things",
        item_id=item_id,
        item={"id": value, "collection_name": "things", "n": 1},
    )
    assert _uuid(mongo.store.collection("things").find_one()["_id"]) == value
    make_orchestrator([mongo, memory]).run("mongo")
    assert memory.store.get_item("things", item_id)["n"] == 1
    mongo.store.commit_item_change(
        operation=Operation.DELETE,
        entity_name="things",
        item_id=item_id,
        item={"id": value, "collection_name": "things"},
    )
    assert mongo.store.collection("things").count_documents({}) == 0


def _uuid(value):
    """A stored UUID: pymongo decodes subtype 4 as UUID, mongomock keeps Binary."""
    if isinstance(value, Binary) and value.subtype == 4:
        return value.as_uuid()
    return value
