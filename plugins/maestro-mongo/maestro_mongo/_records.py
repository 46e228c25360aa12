"""How Maestro's records are stored as MongoDB documents, and read back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from maestro_core import ConflictLog, ItemChange, ItemVersion, SyncSession

__all__ = [
    "change_from_document",
    "change_to_document",
    "conflict_from_document",
    "knowledge_field",
    "origin_of_field",
    "session_from_document",
    "version_from_document",
    "version_id",
    "version_to_document",
]


def version_id(entity_name: str, item_id: str) -> str:
    return json.dumps([entity_name, item_id], separators=(",", ":"))


def knowledge_field(origin: str) -> str:
    """A field name for *origin* under ``knowledge`` (no ``.``, no leading ``$``)."""
    return origin.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def origin_of_field(name: str) -> str:
    return name.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


def version_to_document(version: ItemVersion) -> dict[str, Any]:
    return {
        "_id": version_id(version.entity_name, version.item_id),
        "entity_name": version.entity_name,
        "item_id": version.item_id,
        "change_id": version.change_id,
        "operation": version.operation.value,
        "vector": sorted(version.vector.items()),
        "heads": list(version.heads),
    }


def change_to_document(change: ItemChange) -> dict[str, Any]:
    return {
        "_id": change.id,
        "origin": change.origin,
        "timestamp": change.timestamp,
        "entity_name": change.entity_name,
        "item_id": change.item_id,
        "operation": change.operation.value,
        # canonical items keep '$' keys, which are not plain field names
        "item": json.dumps(change.item, separators=(",", ":")),
        "vector": sorted(change.vector.items()),
        "parent_id": change.parent_id,
    }


def change_from_document(document: Mapping[str, Any]) -> ItemChange:
    return ItemChange(
        id=document["_id"],
        operation=document["operation"],
        entity_name=document["entity_name"],
        item_id=document["item_id"],
        item=json.loads(document["item"]),
        origin=document["origin"],
        timestamp=int(document["timestamp"]),
        vector={origin: int(ts) for origin, ts in document["vector"]},
        parent_id=document.get("parent_id"),
    )


def version_from_document(document: Mapping[str, Any]) -> ItemVersion:
    return ItemVersion(
        entity_name=document["entity_name"],
        item_id=document["item_id"],
        change_id=document["change_id"],
        operation=document["operation"],
        vector={origin: int(ts) for origin, ts in document["vector"]},
        heads=tuple(document["heads"]),
    )


def conflict_from_document(document: Mapping[str, Any]) -> ConflictLog:
    values = {k: v for k, v in document.items() if k not in ("_id", "created_us")}
    return ConflictLog.from_dict({"id": document["_id"], **values})


def session_from_document(document: Mapping[str, Any]) -> SyncSession:
    values = {k: v for k, v in document.items() if k not in ("_id", "started_us")}
    return SyncSession.from_dict({"id": document["_id"], **values})
