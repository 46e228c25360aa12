"""Firestore documents to canonical items and back.

Firestore keeps timestamps, geo points, document references, bytes, 64-bit
integers, doubles (NaN and infinities included), maps and arrays natively;
those canonical values are stored as such. Canonical values Firestore has no
type for (decimals, UUIDs, dates, times, durations, object ids, integers
beyond 64 bits, references whose id is not a string) are stored as the
canonical one-key map itself, ``{"$numberDecimal": "1.10"}``: field names
starting with ``$`` never occur in a canonical item's own maps, so such a
map always reads back as the value it stands for. An array directly inside
an array, which Firestore refuses, is stored as ``{"$array": [...]}``.

A document's id is the item's ``id``. It is not stored as a field when it
equals the document id as a string; any other ``id`` value (an integer, say)
is stored in the ``id`` field so that it reads back with its type.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from google.cloud.firestore_v1 import DocumentReference, GeoPoint

from maestro_core import CodecError, InvalidItemError, decode_item
from maestro_core.codec import decode_value, encode_value

__all__ = ["FirestoreSerializer", "item_hash"]

_INT64 = 2**63
_RESERVED_NAME = re.compile(r"^__.*__$")
_NATIVE_TAGS = {"$date", "$geoPoint", "$binary", "$numberLong", "$numberDouble"}
ARRAY_TAG = "$array"


def item_hash(item: Mapping[str, Any] | None) -> str | None:
    """A digest of a canonical item, to tell whether a document changed."""
    if item is None:
        return None
    text = json.dumps(item, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _where(path: str) -> str:
    return f"at {path!r}" if path else "at the top level"


class FirestoreSerializer:
    """Converts between canonical items and Firestore document data.

    *client* builds document references; without one, references are kept in
    their canonical form (and read back identically).
    """

    def __init__(self, client: Any = None):
        self.client = client

    # -- canonical to Firestore -------------------------------------------------

    def to_document(self, item_id: str, item: Mapping[str, Any]) -> dict[str, Any]:
        """The document data that stores canonical *item* under *item_id*."""
        data = {}
        for key, value in item.items():
            if key == "id" and isinstance(value, str) and value == item_id:
                continue
            self._check_name(key, key)
            data[key] = self._to_native(value, key, in_array=False)
        return data

    def _check_name(self, name: str, path: str) -> None:
        if _RESERVED_NAME.match(name):
            raise CodecError(
                f"field name {name!r} {_where(path)} is reserved by Firestore; "
                "expected a name that does not both start and end with '__'",
                path=path,
                value=name,
            )

    def _to_native(self, value: Any, path: str, *, in_array: bool) -> Any:
        if isinstance(value, dict):
            if value and next(iter(value)).startswith("$"):
                return self._tagged_to_native(value, path)
            native = {}
            for key, member in value.items():
                self._check_name(key, f"{path}.{key}")
                native[key] = self._to_native(member, f"{path}.{key}", in_array=False)
            return native
        if isinstance(value, list):
            items = [
                self._to_native(v, f"{path}[{i}]", in_array=True)
                for i, v in enumerate(value)
            ]
            return {ARRAY_TAG: items} if in_array else items
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if value is None or isinstance(value, (str, bool, float)):
            return value
        raise CodecError(
            f"value {value!r} {_where(path)} is not canonical; expected a value "
            "of the canonical encoding",
            path=path,
            value=value,
        )

    def _tagged_to_native(self, value: dict[str, Any], path: str) -> Any:
        decoded = decode_value(value, path)  # validates the tag and its body
        tag = next(iter(value))
        if tag == "$ref":
            target = value["$id"]
            if self.client is not None and isinstance(target, str):
                try:
                    return self.client.collection(value["$ref"]).document(target)
                except ValueError:
                    return dict(value)
            return dict(value)
        if tag not in _NATIVE_TAGS:
            return dict(value)
        if tag == "$geoPoint":
            return GeoPoint(decoded.latitude, decoded.longitude)
        if tag == "$numberLong" and not -_INT64 <= decoded < _INT64:
            return dict(value)
        return decoded

    # -- Firestore to canonical -------------------------------------------------

    def from_document(
        self, item_id: str, data: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """The canonical item stored as document *item_id* with *data*."""
        item: dict[str, Any] = {"id": item_id}
        for key, value in (data or {}).items():
            item[key] = self._from_native(value, key)
        return item

    def _from_native(self, value: Any, path: str) -> Any:
        if isinstance(value, DocumentReference):
            collection, _, document_id = value.path.rpartition("/")
            return {"$ref": collection, "$id": document_id}
        if isinstance(value, GeoPoint):
            return {
                "$geoPoint": {"latitude": value.latitude, "longitude": value.longitude}
            }
        if isinstance(value, dt.datetime):
            return encode_value(value, path)
        if isinstance(value, Mapping):
            if value and next(iter(value)).startswith("$"):
                if len(value) == 1 and ARRAY_TAG in value:
                    return self._from_native(value[ARRAY_TAG], path)
                encode_value(decode_value(dict(value), path), path)
                return dict(value)
            return {k: self._from_native(v, f"{path}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self._from_native(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return encode_value(value, path)

    # -- the ItemSerializer protocol --------------------------------------------

    def serialize(self, entity_name: str, record: Any) -> dict[str, Any]:
        """The canonical item of a ``DocumentSnapshot`` (or ``(id, data)``)."""
        if isinstance(record, tuple):
            item_id, data = record
        else:
            item_id, data = record.id, record.to_dict()
        return self.from_document(item_id, data)

    def deserialize(self, entity_name: str, item: dict[str, Any]) -> dict[str, Any]:
        """The document data of canonical *item* (its ``id`` names the document)."""
        if "id" not in item:
            raise InvalidItemError(
                f"item {item!r} of {entity_name!r} has no 'id' field; expected the "
                "document id",
                key="id",
            )
        return self.to_document(str(item["id"]), item)

    def to_values(self, item_id: str, data: Mapping[str, Any] | None) -> dict[str, Any]:
        """The Python values of a document, as ``commit_item_change`` takes them."""
        return decode_item(self.from_document(item_id, data))
