"""The canonical item encoding every backend reads and writes.

Items travel between providers as JSON-compatible dictionaries. Plain JSON
values stand for themselves; every other type is a one-key object following
MongoDB Extended JSON (relaxed form) where it has a convention, and a
``$``-prefixed extension of the same shape where it has none:

============================  ================================================
Python value                  canonical form
============================  ================================================
``datetime`` (aware)          ``{"$date": "2024-05-01T12:00:00.000001Z"}`` (UTC)
``date``                      ``{"$dateOnly": "2024-05-01"}``
``time``                      ``{"$time": "12:00:00.000001"}`` (no time zone)
``timedelta``                 ``{"$timedelta": "<microseconds>"}``
``Decimal``                   ``{"$numberDecimal": "1.10"}``
``int`` beyond ±2**53         ``{"$numberLong": "9007199254740993"}``
``float`` NaN / ±infinity     ``{"$numberDouble": "NaN"}``
``UUID``                      ``{"$uuid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}``
``bytes``                     ``{"$binary": {"base64": "...", "subType": "00"}}``
:class:`ObjectIdValue`        ``{"$oid": "5f1d..."}``
:class:`GeoPoint`             ``{"$geoPoint": {"latitude": 1.0, "longitude": 2.0}}``
:class:`Reference`            ``{"$ref": "entity_name", "$id": <encoded item id>}``
============================  ================================================

Mappings must have string keys that do not start with ``$``; tuples become
lists. Encoding and decoding are exact inverses, so the canonical form of an
item is also the form in which two providers' items are compared.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import math
import uuid
from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from .exceptions import CodecError

__all__ = [
    "GeoPoint",
    "ObjectIdValue",
    "Reference",
    "decode_item",
    "decode_value",
    "encode_item",
    "encode_value",
    "is_canonical",
]

_SAFE_INT = 2**53
_UTC = dt.UTC


def _check_latitude(instance: object, attribute: Any, value: float) -> None:
    if not -90.0 <= value <= 90.0:
        raise ValueError(f"latitude {value!r} is out of range; expected -90 to 90")


def _check_longitude(instance: object, attribute: Any, value: float) -> None:
    if not -180.0 <= value <= 180.0:
        raise ValueError(f"longitude {value!r} is out of range; expected -180 to 180")


@frozen
class GeoPoint:
    """A point on the globe, as Firestore stores it natively."""

    latitude: float = field(converter=float, validator=_check_latitude)
    longitude: float = field(converter=float, validator=_check_longitude)


def _lower(value: str) -> str:
    return str(value).lower()


def _check_oid(instance: object, attribute: Any, value: str) -> None:
    try:
        ok = len(value) == 24 and bytes.fromhex(value) is not None
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"object id {value!r} is not valid; expected 24 hex digits")


@frozen
class ObjectIdValue:
    """A MongoDB ObjectId, carried without importing bson into the core."""

    hex: str = field(converter=_lower, validator=_check_oid)

    def __str__(self) -> str:
        return self.hex


@frozen
class Reference:
    """A reference from one item to another (a foreign key, a document ref)."""

    entity_name: str
    item_id: Any


def encode_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical form of an item (a mapping of field names to values)."""
    if not isinstance(item, Mapping):
        raise CodecError(
            f"item {item!r} is a {type(item).__name__}; expected a mapping "
            "of field names to values",
            value=item,
        )
    return _encode_mapping(item, "")


def decode_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """The Python values of an item in canonical form."""
    if not isinstance(item, Mapping):
        raise CodecError(
            f"item {item!r} is a {type(item).__name__}; expected a mapping",
            value=item,
        )
    return {key: decode_value(value, key) for key, value in item.items()}


def _encode_mapping(value: Mapping[Any, Any], path: str) -> dict[str, Any]:
    encoded = {}
    for key, member in value.items():
        if not isinstance(key, str):
            raise CodecError(
                f"key {key!r} {_where(path)} is "
                f"of type {type(key).__name__}; expected a string",
                path=path,
                value=key,
            )
        if key.startswith("$"):
            raise CodecError(
                f"key {key!r} {_where(path)} starts with '$', "
                "which the canonical encoding reserves; expected a plain field name "
                "(a value already in canonical form is decoded first, with "
                "decode_item() or decode_value())",
                path=path,
                value=key,
            )
        encoded[key] = encode_value(member, f"{path}.{key}" if path else key)
    return encoded


def encode_value(value: Any, path: str = "") -> Any:
    """The canonical form of one value; *path* names it in error messages."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        if -_SAFE_INT <= value <= _SAFE_INT:
            return int(value)
        return {"$numberLong": str(int(value))}
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        text = (
            "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        )
        return {"$numberDouble": text}
    if isinstance(value, Mapping):
        return _encode_mapping(value, path)
    if isinstance(value, (list, tuple)):
        return [encode_value(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise CodecError(
                f"value {value!r} {_where(path)} is a naive "
                "datetime; expected a time-zone aware datetime",
                path=path,
                value=value,
            )
        utc = value.astimezone(_UTC).replace(tzinfo=None)
        return {"$date": utc.isoformat(timespec="microseconds") + "Z"}
    if isinstance(value, dt.date):
        return {"$dateOnly": value.isoformat()}
    if isinstance(value, dt.time):
        if value.tzinfo is not None:
            raise CodecError(
                f"value {value!r} {_where(path)} is a time with a "
                "time zone; expected a time of day without one",
                path=path,
                value=value,
            )
        return {"$time": value.isoformat(timespec="microseconds")}
    if isinstance(value, dt.timedelta):
        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        return {"$timedelta": str(micros)}
    if isinstance(value, decimal.Decimal):
        return {"$numberDecimal": str(value)}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = base64.b64encode(bytes(value)).decode("ascii")
        return {"$binary": {"base64": data, "subType": "00"}}
    if isinstance(value, ObjectIdValue):
        return {"$oid": value.hex}
    if isinstance(value, GeoPoint):
        return {"$geoPoint": {"latitude": value.latitude, "longitude": value.longitude}}
    if isinstance(value, Reference):
        return {"$ref": value.entity_name, "$id": encode_value(value.item_id, path)}
    raise CodecError(
        f"value {value!r} {_where(path)} is of type "
        f"{type(value).__module__}.{type(value).__qualname__}, which the canonical "
        "encoding cannot carry; expected JSON values, datetime, date, time, "
        "timedelta, Decimal, UUID, bytes, GeoPoint, ObjectIdValue or Reference",
        path=path,
        value=value,
    )


def _where(path: str) -> str:
    return f"at {path!r}" if path else "at the top level"


def _bad(value: Any, path: str, expected: str) -> CodecError:
    return CodecError(
        f"canonical value {value!r} {_where(path)} is not valid; expected {expected}",
        path=path,
        value=value,
    )


def _decode_tagged(tag: str, body: Any, value: Any, path: str) -> Any:
    try:
        if tag == "$date":
            if not isinstance(body, str) or not body.endswith("Z"):
                raise ValueError(body)
            return dt.datetime.fromisoformat(body[:-1]).replace(tzinfo=_UTC)
        if tag == "$dateOnly":
            return dt.date.fromisoformat(body)
        if tag == "$time":
            return dt.time.fromisoformat(body)
        if tag == "$timedelta":
            return dt.timedelta(microseconds=int(body))
        if tag == "$numberDecimal":
            return decimal.Decimal(body)
        if tag == "$numberLong":
            return int(body)
        if tag == "$numberDouble":
            return float({"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}[body])
        if tag == "$uuid":
            return uuid.UUID(body)
        if tag == "$binary":
            return base64.b64decode(body["base64"], validate=True)
        if tag == "$oid":
            return ObjectIdValue(body)
        if tag == "$geoPoint":
            return GeoPoint(body["latitude"], body["longitude"])
    except (ValueError, TypeError, KeyError, decimal.InvalidOperation, binascii.Error):
        raise _bad(value, path, f"a valid {tag} value") from None
    raise _bad(value, path, "a known '$' tag of the canonical encoding")


def _is_tagged(value: Any) -> bool:
    """Whether *value* is a tagged value: a dict whose first key starts with '$'."""
    if not isinstance(value, dict) or not value:
        return False
    first = next(iter(value))
    return isinstance(first, str) and first.startswith("$")


def decode_value(value: Any, path: str = "") -> Any:
    """The Python value of one canonical value; the inverse of encode_value."""
    if isinstance(value, dict):
        if _is_tagged(value):
            if len(value) == 2 and "$ref" in value and "$id" in value:
                return Reference(value["$ref"], decode_value(value["$id"], path))
            if len(value) != 1:
                raise _bad(value, path, "a single '$' key")
            ((tag, body),) = value.items()
            return _decode_tagged(tag, body, value, path)
        return {
            k: decode_value(v, f"{path}.{k}" if path else k) for k, v in value.items()
        }
    if isinstance(value, list):
        return [decode_value(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def is_canonical(value: Any) -> bool:
    """Whether *value* is in canonical form: it decodes and re-encodes to itself."""
    try:
        return encode_value(decode_value(value)) == value
    except CodecError:
        return False
