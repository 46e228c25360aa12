"""Conflict policies: how concurrent edits of one item are decided.

A policy sees the concurrent changes (two, or more when several providers
edited the item independently) in the order every provider agrees on, and
never learns which of them is local. So every provider that holds the same
changes reaches the same item, whichever it saw first, and no new change is
needed to agree.

Policies that pick one change (:class:`PickOnePolicy`) compare changes by a
total order, so the winner among several does not depend on the order in
which they met. ``merge_fields`` combines the changes' items field by field
against the version they were made on.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from attrs import field, frozen

from .model import ConflictType, ItemChange, Operation

__all__ = [
    "BUILTIN_POLICIES",
    "Conflict",
    "ConflictPolicy",
    "DefaultPolicy",
    "DeletionWinsPolicy",
    "LastWriterWinsPolicy",
    "ManualPolicy",
    "MergeFieldsPolicy",
    "PickOnePolicy",
    "PreferProviderPolicy",
    "Resolution",
    "UpdateWinsPolicy",
]


def _to_changes(value: Iterable[ItemChange]) -> tuple[ItemChange, ...]:
    return tuple(value)


@frozen
class Conflict:
    """Concurrent changes of one item, as a policy sees them.

    ``changes`` are in the agreed order (timestamp, then origin). ``base`` is
    the newest change all of them descend from, when the provider holds it;
    ``find_base`` computes it on demand (policies that need it call it).
    ``conflict_type`` describes the pair as the recording provider met it; a
    policy that wants every provider to agree must not decide by it.
    """

    entity_name: str
    item_id: str
    changes: tuple[ItemChange, ...] = field(converter=_to_changes)
    conflict_type: ConflictType
    find_base: Callable[[], ItemChange | None] = field(
        default=lambda: None, repr=False, eq=False
    )


@frozen
class Resolution:
    """A policy's decision.

    ``winner`` is the change whose item the provider keeps; ``item``, when
    given, replaces the winner's item (a merge). ``deferred`` leaves the item
    as it is and the conflict DEFERRED until someone resolves it.
    """

    winner: ItemChange | None
    item: dict[str, Any] | None = None
    deferred: bool = False

    @classmethod
    def defer(cls) -> Resolution:
        return cls(winner=None, deferred=True)


class ConflictPolicy(abc.ABC):
    """A named way to decide conflicts."""

    name: str = ""

    @abc.abstractmethod
    def resolve(self, conflict: Conflict) -> Resolution:
        """Decide *conflict*; the same changes must always get the same answer."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def _newest(a: ItemChange, b: ItemChange) -> ItemChange:
    return a if a.order_key >= b.order_key else b


class PickOnePolicy(ConflictPolicy):
    """A policy that keeps one of the changes: the greatest by :meth:`rank`."""

    @abc.abstractmethod
    def rank(self, change: ItemChange) -> tuple[Any, ...]:
        """A sort key; the change with the greatest key wins. Must be total."""

    def resolve(self, conflict: Conflict) -> Resolution:
        return Resolution(winner=max(conflict.changes, key=self.rank))


class LastWriterWinsPolicy(PickOnePolicy):
    """The newest change wins; equal timestamps go to the greater provider id."""

    name = "last_writer_wins"

    def rank(self, change: ItemChange) -> tuple[Any, ...]:
        return change.order_key


class DeletionWinsPolicy(PickOnePolicy):
    """A delete beats an update; otherwise the newest change wins."""

    name = "deletion_wins"

    def rank(self, change: ItemChange) -> tuple[Any, ...]:
        return (change.operation is Operation.DELETE, *change.order_key)


class UpdateWinsPolicy(PickOnePolicy):
    """An insert or update beats a delete; otherwise the newest change wins."""

    name = "update_wins"

    def rank(self, change: ItemChange) -> tuple[Any, ...]:
        return (change.operation is not Operation.DELETE, *change.order_key)


class DefaultPolicy(DeletionWinsPolicy):
    """The framework's long-standing behaviour.

    Newest wins between updates, inserts, or deletes; a deletion wins over an
    update.
    """

    name = "default"


class PreferProviderPolicy(PickOnePolicy):
    """Changes made on the given providers win, in the order given."""

    name = "prefer_provider"

    def __init__(self, *provider_ids: str):
        if not provider_ids or not all(isinstance(p, str) and p for p in provider_ids):
            raise ValueError(
                f"prefer_provider got {provider_ids!r}; expected one or more "
                "provider ids"
            )
        self.provider_ids = provider_ids
        self._priority = {p: len(provider_ids) - i for i, p in enumerate(provider_ids)}

    def rank(self, change: ItemChange) -> tuple[Any, ...]:
        return (self._priority.get(change.origin, 0), *change.order_key)

    def __repr__(self) -> str:
        return f"<PreferProviderPolicy {list(self.provider_ids)!r}>"


class ManualPolicy(ConflictPolicy):
    """Nothing is overwritten; the conflict waits for a person to resolve it."""

    name = "manual"

    def resolve(self, conflict: Conflict) -> Resolution:
        return Resolution.defer()


_ABSENT = object()


class MergeFieldsPolicy(ConflictPolicy):
    """A three-way merge of the items against the version they were made on.

    A field changed by one side only takes that side's value; a field changed
    by several takes the newest one's. A delete among the changes is decided
    by ``fallback`` (the default policy unless given), as there is nothing to
    merge.
    """

    name = "merge_fields"

    def __init__(self, fallback: ConflictPolicy | None = None):
        self.fallback = fallback or DefaultPolicy()

    def resolve(self, conflict: Conflict) -> Resolution:
        changes = conflict.changes
        if any(c.operation is Operation.DELETE for c in changes):
            return self.fallback.resolve(conflict)
        base = conflict.find_base()
        base_item: Mapping[str, Any] = base.item if base is not None else {}
        winner = max(changes, key=lambda c: c.order_key)
        names: dict[str, None] = {}
        for change in changes:
            names.update(dict.fromkeys(change.item))
        merged: dict[str, Any] = {}
        for name in names:
            value = base_item.get(name, _ABSENT)
            newest = None
            for change in changes:
                if change.item.get(name, _ABSENT) != base_item.get(name, _ABSENT):
                    newest = change if newest is None else _newest(newest, change)
            if newest is not None:
                value = newest.item.get(name, _ABSENT)
            if value is not _ABSENT:
                merged[name] = value
        return Resolution(winner=winner, item=merged)


BUILTIN_POLICIES: dict[str, Callable[..., ConflictPolicy]] = {
    "default": DefaultPolicy,
    "last_writer_wins": LastWriterWinsPolicy,
    "deletion_wins": DeletionWinsPolicy,
    "update_wins": UpdateWinsPolicy,
    "prefer_provider": PreferProviderPolicy,
    "merge_fields": MergeFieldsPolicy,
    "manual": ManualPolicy,
}
"""The policies the core registers, by name, as factories."""
