"""Recording rows that writes bypassing signals left without a change.

``QuerySet.update()``, ``bulk_create()`` and raw SQL send no signals, so
capture never sees them. :func:`backfill` compares every row of a synced
model with the item of its last recorded change and records the difference:
an INSERT for a row Maestro holds no version of (or whose version is a
deletion), an UPDATE for a row whose content differs, and a DELETE for a
version whose row is gone. Running it again records nothing new.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from attrs import define
from django.db import models

from maestro_core import Operation, decode_item, encode_item

from .conf import SyncedModel
from .models import ItemVersionEntry
from .serializer import item_from_instance, pk_from_item_id
from .store import DjangoDataStore

__all__ = ["BackfillCounts", "backfill"]

Entry = tuple[Operation, str, str, dict[str, Any]]


@define
class BackfillCounts:
    """What one model's backfill found and recorded."""

    rows: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    @property
    def recorded(self) -> int:
        return self.inserted + self.updated + self.deleted


def _comparable(item: dict[str, Any]) -> Any:
    """*item* as it reads back from the change log (JSON, canonical)."""
    return json.loads(json.dumps(encode_item(item)))


def _row_batches(
    synced: SyncedModel, using: str, batch_size: int
) -> Iterator[list[models.Model]]:
    rows = synced.model._base_manager.db_manager(using).order_by("pk")
    last: Any = None
    while True:
        page = rows if last is None else rows.filter(pk__gt=last)
        batch = list(page[:batch_size])
        if not batch:
            return
        yield batch
        last = batch[-1].pk


def _changed_rows(
    store: DjangoDataStore, synced: SyncedModel, rows: Sequence[models.Model]
) -> list[Entry]:
    items = {
        str(item["id"]): item
        for item in (item_from_instance(synced, row) for row in rows)
    }
    entity = synced.entity_name
    versions = store.get_item_versions((entity, item_id) for item_id in items)
    last_changes = store.get_changes(
        v.change_id for v in versions.values() if v.operation is not Operation.DELETE
    )
    entries: list[Entry] = []
    for item_id, item in items.items():
        version = versions.get((entity, item_id))
        if version is None or version.operation is Operation.DELETE:
            entries.append((Operation.INSERT, entity, item_id, item))
            continue
        last = last_changes.get(version.change_id)
        if last is None or last.item != _comparable(item):
            entries.append((Operation.UPDATE, entity, item_id, item))
    return entries


def _vanished_rows(
    store: DjangoDataStore, synced: SyncedModel, batch_size: int
) -> Iterator[list[Entry]]:
    """DELETE entries for versions whose row no longer exists."""
    entity = synced.entity_name
    versions = (
        ItemVersionEntry.objects.using(store.using)
        .filter(entity_name=entity)
        .exclude(operation=Operation.DELETE.value)
        .order_by("pk")
        .values_list("pk", "item_id", "change_id")
    )
    last = 0
    rows = synced.model._base_manager.db_manager(store.using)
    while page := list(versions.filter(pk__gt=last)[:batch_size]):
        last = page[-1][0]
        pks = {}
        for _, item_id, change_id in page:
            try:
                pks[pk_from_item_id(synced.model, item_id)] = (item_id, change_id)
            except ValueError:
                continue
        present = set(rows.filter(pk__in=list(pks)).values_list("pk", flat=True))
        gone = [pair for pk, pair in pks.items() if pk not in present]
        if not gone:
            continue
        held = store.get_changes(change_id for _, change_id in gone)
        entries: list[Entry] = []
        for item_id, change_id in gone:
            change = held.get(change_id)
            item = decode_item(change.item) if change else {"id": item_id}
            entries.append((Operation.DELETE, entity, item_id, item))
        yield entries


def backfill(
    store: DjangoDataStore,
    synced: SyncedModel,
    *,
    batch_size: int = 500,
    dry_run: bool = False,
    progress: Callable[[BackfillCounts], None] | None = None,
) -> BackfillCounts:
    """Record the rows of *synced* whose state the change log lacks.

    Works through the table in primary-key order, *batch_size* rows at a
    time, each batch recorded in one transaction. *progress* is called with
    the running counts after every batch.
    """
    counts = BackfillCounts()

    def record(entries: list[Entry]) -> None:
        for operation, *_ in entries:
            if operation is Operation.INSERT:
                counts.inserted += 1
            elif operation is Operation.UPDATE:
                counts.updated += 1
            else:
                counts.deleted += 1
        if entries and not dry_run:
            store.record_local_changes(entries)

    for rows in _row_batches(synced, store.using, batch_size):
        counts.rows += len(rows)
        record(_changed_rows(store, synced, rows))
        if progress is not None:
            progress(counts)
    for entries in _vanished_rows(store, synced, batch_size):
        record(entries)
        if progress is not None:
            progress(counts)
    return counts
