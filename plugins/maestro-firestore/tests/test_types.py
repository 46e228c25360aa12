"""Every native Firestore type survives a sync both ways."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid

from google.cloud.firestore_v1 import DocumentReference
from google.cloud.firestore_v1 import GeoPoint as FirestoreGeoPoint
from maestro_firestore import capture_document, create_firestore_provider

from maestro_core import GeoPoint, Reference, create_memory_provider, encode_item
from maestro_core.testing import make_orchestrator

WHEN = dt.datetime(2024, 5, 1, 12, 30, 45, 123456, tzinfo=dt.UTC)

VALUES = {
    "id": "t1",
    "when": WHEN,
    "where": GeoPoint(48.8584, 2.2945),
    "owner": Reference("users", "u1"),
    "blob": b"\x00\xffbytes",
    "nested": {"list": [1, "two", {"three": 3.5}], "deeper": {"flag": True}},
    "matrix": [[1, 2], [3]],
    "big": 2**60 + 1,
    "bigger_than_64_bits": 2**70,
    "negative": -(2**62),
    "nothing": None,
    "price": decimal.Decimal("10.10"),
    "uid": uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
    "day": dt.date(2024, 5, 1),
    "at": dt.time(9, 15),
    "took": dt.timedelta(minutes=3),
    "nan": math.nan,
    "infinite": -math.inf,
    "numeric_ref": Reference("users", 7),
}


def test_every_type_round_trips_through_firestore(new_client, complete_emulator):
    client = new_client()
    provider = create_firestore_provider(client)
    memory = create_memory_provider("memory")
    memory.store.commit_item_change(
        operation="INSERT", entity_name="things", item_id="t1", item=VALUES
    )
    orchestrator = make_orchestrator([memory, provider])
    orchestrator.run("memory")

    expected = encode_item(VALUES)
    assert provider.store.get_item("things", "t1") == expected

    stored = client.collection("things").document("t1").get().to_dict()
    assert stored["when"] == WHEN
    assert isinstance(stored["where"], FirestoreGeoPoint)
    assert stored["where"].latitude == 48.8584
    assert isinstance(stored["owner"], DocumentReference)
    assert stored["owner"].path == "users/u1"
    assert stored["blob"] == b"\x00\xffbytes"
    assert stored["nested"] == {
        "list": [1, "two", {"three": 3.5}],
        "deeper": {"flag": True},
    }
    assert stored["big"] == 2**60 + 1 and isinstance(stored["big"], int)
    assert stored["negative"] == -(2**62)
    assert math.isnan(stored["nan"]) and stored["infinite"] == -math.inf
    assert stored["price"] == {"$numberDecimal": "10.10"}
    assert stored["bigger_than_64_bits"] == {"$numberLong": str(2**70)}
    assert "id" not in stored

    # a phone edits it with native values; the edit comes back intact
    client.collection("things").document("t1").update(
        {"when": WHEN + dt.timedelta(days=1), "blob": b"new", "big": 2**62}
    )
    data = client.collection("things").document("t1").get().to_dict()
    assert capture_document(provider.store, "things", "t1", data) is not None
    orchestrator.run("firestore")
    item = memory.store.get_item("things", "t1")
    assert item == provider.store.get_item("things", "t1")
    assert item["when"] == {"$date": "2024-05-02T12:30:45.123456Z"}
    assert item["big"] == {"$numberLong": str(2**62)}
    assert item["price"] == expected["price"]


def test_an_id_that_is_not_a_string_keeps_its_type(new_client):
    provider = create_firestore_provider(new_client())
    memory = create_memory_provider("memory")
    memory.store.commit_item_change(
        operation="INSERT", entity_name="rows", item_id="42", item={"id": 42, "n": 1}
    )
    make_orchestrator([memory, provider]).run("memory")
    assert provider.store.get_item("rows", "42") == {"id": 42, "n": 1}
