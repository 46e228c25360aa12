"""Canonical items to MongoDB documents and back, keeping native BSON types.

The canonical ``id`` becomes the document's ``_id``; every other field keeps
its name. Values MongoDB stores natively are stored natively: aware
datetimes as BSON dates, decimals as ``Decimal128``, object ids, UUIDs
(binary subtype 4), bytes (binary subtype 0), 64-bit integers, references as
``DBRef``, nested documents and arrays.

Two things BSON cannot say on its own are written down beside the data, in a
top-level ``_maestro`` array that only appears when it is needed:

* BSON dates hold milliseconds. A datetime with sub-millisecond digits is
  stored truncated to the millisecond (so queries and other clients see an
  ordinary date) and the remaining microseconds are kept in ``_maestro``, so
  the value read back is exactly the one written.
* Types without a BSON counterpart are stored in the nearest native form and
  tagged: a date as midnight UTC, a time of day as its ISO string, a
  timedelta as an integer of microseconds, a geographic point as a GeoJSON
  ``Point``.

Each entry of ``_maestro`` is ``[path, tag]`` or ``[path, "us", micros]``,
where *path* lists the keys and array indexes leading to the value.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Mapping
from typing import Any

from bson import DBRef, Decimal128, Int64, ObjectId
from bson.binary import Binary
from bson.decimal128 import create_decimal128_context

from maestro_core import (
    CodecError,
    GeoPoint,
    InvalidItemError,
    ObjectIdValue,
    Reference,
)
from maestro_core.codec import decode_value, encode_value

__all__ = [
    "RESERVED_FIELDS",
    "SIDECAR",
    "document_to_item",
    "id_candidates",
    "id_key",
    "id_text",
    "item_to_document",
    "native_id",
    "python_item",
]

SIDECAR = "_maestro"
"""The top-level field holding what BSON cannot say (see the module doc)."""

RESERVED_FIELDS = frozenset({"_id", SIDECAR})
"""Top-level item fields the backend needs for itself."""

_INT64 = (-(2**63), 2**63 - 1)
_DECIMAL128 = create_decimal128_context()
# A decimal that Decimal128 would round, clamp or shorten is refused, not
# stored as another number (or as the same number written differently).
_DECIMAL_TRAPS = (
    decimal.Inexact,
    decimal.Rounded,
    decimal.Clamped,
    decimal.Overflow,
    decimal.InvalidOperation,
)
for _trap in _DECIMAL_TRAPS:
    _DECIMAL128.traps[_trap] = True
_UTC = dt.UTC
_EPOCH_DAY = dt.time(0, 0)

Path = list[str | int]


def _where(path: Path) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return repr(text.lstrip(".")) if path else "the top level"


def native_id(value: Any, item_id: object = None) -> Any:
    """The ``_id`` for a canonical ``id``: a string, integer, UUID or ObjectId."""
    python = decode_value(value, "id")
    if isinstance(python, bool) or not isinstance(
        python, (str, int, uuid.UUID, ObjectIdValue)
    ):
        raise InvalidItemError(
            f"item {item_id!r} has 'id' {value!r}; expected a string, an integer, "
            "a UUID or an ObjectId, which MongoDB can hold as _id",
            item_id=item_id,
            key="id",
        )
    return _to_native(python, ["id"], [])


def id_key(value: Any) -> tuple[str, Any]:
    """A hashable key equal for equal ``_id`` values, and only for those.

    Python's own equality would merge ``1``, ``1.0`` and ``True``, which
    MongoDB keeps apart, and tell a UUID from the same UUID read back as
    binary.
    """
    if type(value) is str:
        return ("s", value)
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int):
        return ("i", int(value))
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, Binary) and value.subtype == 4:
        return ("u", value.as_uuid())
    if isinstance(value, uuid.UUID):
        return ("u", value)
    if isinstance(value, ObjectId):
        return ("o", value)
    return (type(value).__name__, repr(value))


def id_text(value: Any) -> str:
    """The item id an ``_id`` stands for: its string form."""
    if isinstance(value, Binary) and value.subtype == 4:
        return str(value.as_uuid())
    return str(value)


def python_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """*item* with values of pymongo's types turned into the core's types.

    Lets an application hand over a document as pymongo returned it:
    ``ObjectId``, ``Decimal128``, ``Binary``, ``DBRef`` and ``Int64`` become
    :class:`~maestro_core.ObjectIdValue`, ``Decimal``, bytes or UUID,
    :class:`~maestro_core.Reference` and ``int``. Anything else is left for
    the canonical encoding to accept or refuse.
    """
    return {key: _from_pymongo(value) for key, value in item.items()}


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _from_pymongo(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, ObjectId):
        return ObjectIdValue(str(value))
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, Int64):
        return int(value)
    if isinstance(value, DBRef):
        return Reference(value.collection, _from_pymongo(value.id))
    if isinstance(value, Binary):
        return value.as_uuid() if value.subtype == 4 else bytes(value)
    if isinstance(value, Mapping):
        return {k: _from_pymongo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_from_pymongo(v) for v in value]
    return value


def id_candidates(item_id: str) -> list[Any]:
    """Every ``_id`` whose string form is *item_id*.

    An item id travels as a string; the document may be keyed by the
    string itself, or by the integer, ObjectId or UUID it spells.
    """
    candidates: list[Any] = [item_id]
    try:
        number = int(item_id)
    except ValueError:
        pass
    else:
        if str(number) == item_id and _INT64[0] <= number <= _INT64[1]:
            candidates.append(number)
    if ObjectId.is_valid(item_id) and str(ObjectId(item_id)) == item_id:
        candidates.append(ObjectId(item_id))
    try:
        as_uuid = uuid.UUID(item_id)
    except ValueError:
        pass
    else:
        if str(as_uuid) == item_id:
            candidates.append(Binary.from_uuid(as_uuid))
    return candidates


def item_to_document(item: Mapping[str, Any], item_id: object = None) -> dict[str, Any]:
    """The MongoDB document storing a canonical *item* (``id`` becomes ``_id``)."""
    for key in RESERVED_FIELDS:
        if key in item:
            raise InvalidItemError(
                f"item {item_id!r} has a field {key!r}, which the MongoDB backend "
                "reserves; expected the primary key in 'id' and no "
                f"{SIDECAR!r} field",
                item_id=item_id,
                key=key,
            )
    if "id" not in item:
        raise InvalidItemError(
            f"item {item_id!r} has no 'id' field; expected the item's primary key",
            item_id=item_id,
            key="id",
        )
    sidecar: list[list[Any]] = []
    document: dict[str, Any] = {"_id": native_id(item["id"], item_id)}
    for key, value in item.items():
        if key != "id":
            python = decode_value(value, key)
            document[key] = _to_native(python, [key], sidecar)
    if sidecar:
        document[SIDECAR] = sidecar
    return document


def _to_native(value: Any, path: Path, sidecar: list[list[Any]]) -> Any:
    if value is None or isinstance(value, (str, bool, float)):
        return value
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise CodecError(
                f"integer {value!r} at {_where(path)} does not fit in 64 bits; "
                "expected a value MongoDB can store",
                path=".".join(map(str, path)),
                value=value,
            )
        return Int64(value) if not -(2**31) <= value < 2**31 else value
    if isinstance(value, Mapping):
        return {k: _to_native(v, [*path, k], sidecar) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_native(v, [*path, i], sidecar) for i, v in enumerate(value)]
    if isinstance(value, dt.datetime):
        utc = value.astimezone(_UTC)
        extra = utc.microsecond % 1000
        if extra:
            sidecar.append([list(path), "us", extra])
        return utc.replace(microsecond=utc.microsecond - extra)
    if isinstance(value, dt.date):
        sidecar.append([list(path), "dateOnly"])
        return dt.datetime.combine(value, _EPOCH_DAY, tzinfo=_UTC)
    if isinstance(value, dt.time):
        sidecar.append([list(path), "time"])
        return value.isoformat(timespec="microseconds")
    if isinstance(value, dt.timedelta):
        sidecar.append([list(path), "timedelta"])
        return Int64(int(encode_value(value)["$timedelta"]))
    if isinstance(value, decimal.Decimal):
        try:
            return Decimal128(_DECIMAL128.create_decimal(value))
        except _DECIMAL_TRAPS:
            raise CodecError(
                f"decimal {value!r} at {_where(path)} does not fit in Decimal128 "
                "without rounding; expected at most 34 significant digits",
                path=".".join(map(str, path)),
                value=value,
            ) from None
    if isinstance(value, uuid.UUID):
        # explicit subtype 4, whatever UUID representation the client has
        return Binary.from_uuid(value)
    if isinstance(value, (bytes, bytearray)):
        return Binary(bytes(value), 0)
    if isinstance(value, ObjectIdValue):
        return ObjectId(value.hex)
    if isinstance(value, GeoPoint):
        sidecar.append([list(path), "geoPoint"])
        return {"type": "Point", "coordinates": [value.longitude, value.latitude]}
    if isinstance(value, Reference):
        return DBRef(value.entity_name, _to_native(value.item_id, path, []))
    raise CodecError(
        f"value {value!r} at {_where(path)} has no MongoDB form; expected a "
        "value of the canonical encoding",
        path=".".join(map(str, path)),
        value=value,
    )


def document_to_item(document: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical item of a stored MongoDB *document*."""
    values = dict(document)
    sidecar = values.pop(SIDECAR, None) or []
    if "_id" not in values:
        raise CodecError(
            f"document {document!r} has no '_id'; expected a stored document",
            value=document,
        )
    python: dict[str, Any] = {"id": _to_python(values.pop("_id"), ["id"])}
    for key, value in values.items():
        python[key] = _to_python(value, [key])
    for entry in sidecar:
        _apply_sidecar(python, entry)
    return {key: encode_value(value, key) for key, value in python.items()}


def _to_python(value: Any, path: Path) -> Any:
    if value is None or isinstance(value, (str, bool, float, uuid.UUID)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=_UTC) if value.tzinfo is None else value
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, ObjectId):
        return ObjectIdValue(str(value))
    if isinstance(value, DBRef):
        return Reference(value.collection, _to_python(value.id, path))
    if isinstance(value, Binary) and value.subtype == 4:
        return value.as_uuid()
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, Mapping):
        return {k: _to_python(v, [*path, k]) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_python(v, [*path, i]) for i, v in enumerate(value)]
    raise CodecError(
        f"stored value {value!r} at {_where(path)} is a "
        f"{type(value).__module__}.{type(value).__qualname__}, which the canonical "
        "encoding cannot carry; expected a JSON value, date, Decimal128, ObjectId, "
        "UUID, binary or DBRef",
        path=".".join(map(str, path)),
        value=value,
    )


def _apply_sidecar(python: dict[str, Any], entry: list[Any]) -> None:
    path, tag = entry[0], entry[1]
    parent: Any = python
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    value = parent[last]
    if tag == "us":
        parent[last] = value + dt.timedelta(microseconds=entry[2])
    elif tag == "dateOnly":
        parent[last] = value.date()
    elif tag == "time":
        parent[last] = dt.time.fromisoformat(value)
    elif tag == "timedelta":
        parent[last] = dt.timedelta(microseconds=value)
    elif tag == "geoPoint":
        longitude, latitude = value["coordinates"]
        parent[last] = GeoPoint(latitude, longitude)
    else:
        raise CodecError(
            f"type tag {tag!r} at {_where(path)} is not known; expected one "
            "of us, dateOnly, time, timedelta, geoPoint",
            value=entry,
        )
