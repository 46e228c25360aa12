"""The canonical encoding: exact round trips, and clear refusals."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maestro_core import CodecError, GeoPoint, ObjectIdValue, Reference
from maestro_core.codec import decode_item, decode_value, encode_item, encode_value

aware = st.datetimes(timezones=st.just(dt.UTC)) | st.datetimes(
    timezones=st.sampled_from([dt.timezone(dt.timedelta(hours=h)) for h in (-8, 0, 5)])
).filter(lambda d: dt.datetime.min.replace(tzinfo=dt.UTC) + dt.timedelta(days=1) < d)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(),
    aware,
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.uuids(),
    st.binary(),
    st.builds(GeoPoint, st.floats(-90, 90), st.floats(-180, 180)),
    st.builds(ObjectIdValue, st.binary(min_size=12, max_size=12).map(bytes.hex)),
    st.builds(
        Reference, st.sampled_from(["shop.product", "users"]), st.integers() | st.text()
    ),
)
keys = st.text(min_size=1).filter(lambda k: not k.startswith("$"))
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4)
    ),
    max_leaves=12,
)


def _same(a, b):
    if isinstance(a, dt.datetime):
        return a == b and b.tzinfo == dt.UTC
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, decimal.Decimal):
        return str(a) == str(b)
    return (a == b and type(a) is type(b)) or (isinstance(a, bytes) and a == b)


@given(st.dictionaries(keys, values, max_size=6))
def test_items_round_trip_exactly_through_json(item):
    encoded = encode_item(item)
    text = json.dumps(encoded)
    assert json.loads(text) == encoded
    decoded = decode_item(json.loads(text))
    assert _same(item, decoded)
    assert encode_item(decoded) == encoded


def test_documented_forms():
    when = dt.datetime(
        2024, 5, 1, 14, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))
    )
    assert encode_value(when) == {"$date": "2024-05-01T12:00:00.000001Z"}
    assert encode_value(dt.date(2024, 5, 1)) == {"$dateOnly": "2024-05-01"}
    assert encode_value(decimal.Decimal("1.10")) == {"$numberDecimal": "1.10"}
    assert encode_value(2**53) == 2**53
    assert encode_value(2**53 + 1) == {"$numberLong": str(2**53 + 1)}
    assert encode_value(float("-inf")) == {"$numberDouble": "-Infinity"}
    assert encode_value(b"\x00\xff") == {"$binary": {"base64": "AP8=", "subType": "00"}}
    assert encode_value(Reference("users", 7)) == {"$ref": "users", "$id": 7}
    u = uuid.UUID(int=5)
    assert encode_value(u) == {"$uuid": str(u)}
    assert encode_value((1, 2)) == [1, 2]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            dt.datetime(2024, 1, 1),
            "at 'when' is a naive datetime; expected a time-zone aware",
        ),
        (
            object(),
            "at 'when' is of type builtins.object, which the canonical encoding cannot",
        ),
        ({1: "x"}, "key 1 at 'when' is of type int; expected a string"),
        ({"$set": 1}, "key '$set' at 'when' starts with '$'"),
        ([1, {2}], "at 'when[1]' is of type builtins.set"),
        (dt.time(1, tzinfo=dt.UTC), "a time with a time zone"),
    ],
)
def test_values_it_cannot_carry_are_named(value, message):
    with pytest.raises(CodecError) as caught:
        encode_item({"when": value})
    assert message in str(caught.value)
    assert caught.value.path.startswith("when")


@pytest.mark.parametrize(
    "bad",
    [
        {"$date": "yesterday"},
        {"$date": "2024-01-01T00:00:00"},
        {"$uuid": "nope"},
        {"$binary": {"base64": "!!"}},
        {"$whatever": 1},
        {"$oid": "xyz"},
        {"$date": "2024-01-01T00:00:00Z", "$uuid": "x"},
    ],
)
def test_malformed_canonical_values_are_refused(bad):
    with pytest.raises(CodecError, match="is not valid; expected"):
        decode_value({"field": bad})


def test_item_must_be_a_mapping():
    with pytest.raises(CodecError, match=r"item \[1\] is a list; expected a mapping"):
        encode_item([1])
    with pytest.raises(ValueError, match="latitude 91"):
        GeoPoint(91, 0)
