"""Helpers shared by the conformance suites and the project's own tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..lock import InMemorySyncLock
from ..model import ItemChange, SyncSession
from ..orchestrator import SyncOrchestrator
from ..plugins import create_plugin_manager
from ..provider import SyncProvider
from ..store import DataStore

__all__ = [
    "all_changes",
    "assert_converged",
    "held_change_ids",
    "make_orchestrator",
    "sync_pair",
]


def make_orchestrator(
    providers: Sequence[SyncProvider], *plugins: object, **options: Any
) -> SyncOrchestrator:
    """An orchestrator over *providers* with an in-process lock.

    *plugins* are registered on a fresh plugin manager (no entry points), so a
    test's hooks do not leak into other tests.
    """
    options.setdefault("sync_lock", InMemorySyncLock())
    options.setdefault("plugin_manager", create_plugin_manager(*plugins))
    return SyncOrchestrator(providers=providers, **options)


def sync_pair(orchestrator: SyncOrchestrator, source: str, target: str) -> SyncSession:
    """Run one session from *source* to *target*."""
    return orchestrator.synchronize_providers(source, target)


def all_changes(store: DataStore, page: int = 500) -> list[ItemChange]:
    """Every change *store* holds, by origin and timestamp."""
    changes: list[ItemChange] = []
    for origin, _ in sorted(store.get_knowledge().items()):
        cursor = 0
        while batch := list(store.select_changes(origin, cursor, page)):
            changes.extend(batch)
            cursor = batch[-1].timestamp
    return changes


def held_change_ids(store: DataStore) -> set[str]:
    """The ids of every change *store* holds."""
    return {change.id for change in all_changes(store)}


def assert_converged(
    stores: Sequence[DataStore], keys: Iterable[tuple[str, str]]
) -> None:
    """Assert every store holds the same item (or none) for each key."""
    for entity_name, item_id in keys:
        items = {s.provider_id: s.get_item(entity_name, item_id) for s in stores}
        first = next(iter(items.values()))
        assert all(item == first for item in items.values()), (
            f"providers disagree on {entity_name}/{item_id}: {items!r}"
        )
