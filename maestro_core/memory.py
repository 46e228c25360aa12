"""The in-memory reference backend.

Complete and thread-safe: every method holds one re-entrant lock, and a
transaction keeps an undo journal that rolls its writes back when it fails.
Changes of each origin sit in a list ordered by timestamp, so selecting the
changes after a timestamp is a binary search plus the slice returned.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from .clock import WallClock
from .model import (
    ConflictLog,
    ConflictStatus,
    ConflictType,
    ItemChange,
    ItemVersion,
    Operation,
    SyncSession,
    VectorClock,
)
from .provider import SyncProvider
from .store import DataStore, ItemKey

__all__ = ["MemoryDataStore", "create_memory_provider"]

T = TypeVar("T")
_MISSING = object()
_INSERTED = object()


_CONTAINERS = (dict, list)


def _copy(value: Any) -> Any:
    """A deep copy of a canonical (JSON-shaped) value.

    Scalars are immutable and shared; only dictionaries and lists are copied,
    and a flat item costs a single comprehension.
    """
    if isinstance(value, dict):
        return {
            k: _copy(v) if isinstance(v, _CONTAINERS) else v for k, v in value.items()
        }
    if isinstance(value, list):
        return [_copy(v) if isinstance(v, _CONTAINERS) else v for v in value]
    return value


class MemoryDataStore(DataStore):
    """A store that keeps everything in Python dictionaries."""

    def __init__(self, provider_id: str, *, wall_clock: WallClock | None = None):
        super().__init__(provider_id, wall_clock=wall_clock)
        self._lock = threading.RLock()
        self._journal: list[tuple[Any, ...]] | None = None
        self._clock = 0
        self._changes: dict[str, ItemChange] = {}
        self._by_origin: dict[str, list[ItemChange]] = {}
        self._stamps: dict[str, list[int]] = {}
        self._versions: dict[ItemKey, ItemVersion] = {}
        self._items: dict[str, dict[str, dict[str, Any]]] = {}
        self._conflicts: dict[str, ConflictLog] = {}
        self._sessions: dict[str, SyncSession] = {}
        self._saved_item: dict[str, Any] | None = None

    # -- transactions ---------------------------------------------------------

    def run_in_transaction(self, fn: Callable[[], T]) -> T:
        with self._lock:
            if self._journal is not None:
                return fn()
            self._journal = []
            try:
                result = fn()
            except BaseException:
                self._roll_back(self._journal)
                raise
            finally:
                self._journal = None
            return result

    def _roll_back(self, journal: list[tuple[Any, ...]]) -> None:
        """Undo the journal, newest entry first.

        An entry is ``(mapping, key, old value)``, or ``(_INSERTED, stamps,
        changes, change)`` for a change inserted into an origin's lists.
        """
        for entry in reversed(journal):
            if entry[0] is _INSERTED:
                _, stamps, changes, change = entry
                index = changes.index(change)
                del stamps[index], changes[index]
                continue
            mapping, key, old = entry
            if old is _MISSING:
                mapping.pop(key, None)
            else:
                mapping[key] = old

    def _set(self, mapping: dict[Any, Any], key: Any, value: Any) -> None:
        """Set ``mapping[key]``, journaling the old value for a rollback."""
        if self._journal is not None:
            self._journal.append((mapping, key, mapping.get(key, _MISSING)))
        mapping[key] = value

    def _delete(self, mapping: dict[Any, Any], key: Any) -> None:
        if key not in mapping:
            return
        old = mapping.pop(key)
        if self._journal is not None:
            self._journal.append((mapping, key, old))

    def read_clock_for_update(self) -> int:
        return self._clock

    def write_clock(self, value: int) -> None:
        if self._journal is not None:
            self._journal.append((self.__dict__, "_clock", self._clock))
        self._clock = value

    # -- knowledge and changes ------------------------------------------------

    def get_knowledge(self) -> VectorClock:
        with self._lock:
            return VectorClock({o: s[-1] for o, s in self._stamps.items() if s})

    def select_changes(
        self, origin: str, after: int, limit: int
    ) -> Sequence[ItemChange]:
        with self._lock:
            stamps = self._stamps.get(origin)
            if not stamps:
                return []
            start = bisect.bisect_right(stamps, after)
            return self._by_origin[origin][start : start + limit]

    def count_changes(self, origin: str, after: int) -> int:
        with self._lock:
            stamps = self._stamps.get(origin, [])
            return len(stamps) - bisect.bisect_right(stamps, after)

    def get_changes(self, change_ids: Iterable[str]) -> dict[str, ItemChange]:
        with self._lock:
            found = (self._changes.get(i) for i in change_ids)
            return {c.id: c for c in found if c is not None}

    def save_change(self, change: ItemChange) -> None:
        with self._lock:
            if change.id in self._changes:
                return
            self._set(self._changes, change.id, change)
            stamps = self._stamps.setdefault(change.origin, [])
            changes = self._by_origin.setdefault(change.origin, [])
            at = bisect.bisect_right(stamps, change.timestamp)
            stamps.insert(at, change.timestamp)
            changes.insert(at, change)
            if self._journal is not None:
                self._journal.append((_INSERTED, stamps, changes, change))
            self._saved_item = change.item

    # -- versions and items -------------------------------------------------

    def get_item_versions(self, keys: Iterable[ItemKey]) -> dict[ItemKey, ItemVersion]:
        with self._lock:
            versions = self._versions
            return {k: versions[k] for k in keys if k in versions}

    def save_item_version(self, version: ItemVersion) -> None:
        with self._lock:
            self._set(self._versions, version.key, version)

    def execute_item_change(
        self,
        operation: Operation,
        entity_name: str,
        item_id: str,
        item: Mapping[str, Any],
    ) -> None:
        with self._lock:
            entity = self._items.setdefault(entity_name, {})
            if operation is Operation.DELETE:
                self._delete(entity, item_id)
            elif item is self._saved_item:
                # the item of the change just saved: immutable like the change
                # record that holds it, so it is kept as it is, not copied
                self._set(entity, item_id, item)
            else:
                self._set(entity, item_id, _copy(item))

    def get_item(self, entity_name: str, item_id: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(entity_name, {}).get(item_id)
            return None if item is None else _copy(item)

    def get_items(self, entity_name: str) -> dict[str, dict[str, Any]]:
        """Every stored item of *entity_name*, by id (canonical form)."""
        with self._lock:
            return _copy(self._items.get(entity_name, {}))

    def entity_names(self) -> list[str]:
        """The entities that hold at least one item."""
        with self._lock:
            return sorted(name for name, items in self._items.items() if items)

    # -- conflicts and sessions ----------------------------------------------

    def save_conflict_log(self, log: ConflictLog) -> None:
        with self._lock:
            self._set(self._conflicts, log.id, log)

    def get_conflict_logs(
        self,
        *,
        status: ConflictStatus | None = None,
        conflict_type: ConflictType | None = None,
    ) -> list[ConflictLog]:
        with self._lock:
            return [
                log
                for log in self._conflicts.values()
                if (status is None or log.status is status)
                and (conflict_type is None or log.conflict_type is conflict_type)
            ]

    def get_conflict_log(self, conflict_id: str) -> ConflictLog | None:
        with self._lock:
            return self._conflicts.get(conflict_id)

    def save_session(self, session: SyncSession) -> None:
        with self._lock:
            self._set(self._sessions, session.id, session)

    def get_sessions(self, *, limit: int = 100) -> list[SyncSession]:
        with self._lock:
            return list(reversed(self._sessions.values()))[:limit]


def create_memory_provider(
    provider_id: str,
    max_changes_per_session: int = 50,
    wall_clock: WallClock | None = None,
) -> SyncProvider:
    """A provider backed by a new, empty :class:`MemoryDataStore`."""
    return SyncProvider(
        store=MemoryDataStore(provider_id, wall_clock=wall_clock),
        max_changes_per_session=max_changes_per_session,
    )
