"""Applying a source's changes to a target: detection, policies, deferrals.

The :class:`ChangeFeed` reads, from the source, the changes the target's
knowledge lacks and hands them out in batches, in timestamp order across
origins. That order is causal (a hybrid logical clock puts a change after
everything its provider had seen), so a target always holds what a change was
made on, and for every origin it holds a prefix of that origin's changes:
knowledge is exact, and "already held" is a comparison, not a lookup.

The :class:`ChangeApplier` applies a batch inside one transaction. When
anything in it fails, the batch is rolled back and applied again one change
per transaction, so a change that cannot be applied is deferred on its own
and the rest go in.
"""

from __future__ import annotations

import enum
import logging
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

import pluggy
from attrs import define, field

from .model import (
    ConflictLog,
    ConflictStatus,
    ConflictType,
    ItemChange,
    ItemChangeBatch,
    ItemVersion,
    VectorClock,
    new_id,
)
from .policies import Conflict, ConflictPolicy, DefaultPolicy, Resolution
from .store import DataStore, ItemKey

__all__ = ["ApplyCounts", "ChangeApplier", "ChangeFeed", "Outcome", "PolicySet"]

logger = logging.getLogger(__name__)

BASE_SEARCH_DEPTH = 1000
"""How far back along parent links a merge looks for a common base."""


class ChangeFeed:
    """The changes *store* holds beyond *after*, in batches of *batch_size*.

    Each origin is read once, in pages, through ``select_changes``; the pages
    are merged by ``(timestamp, origin)``. Memory holds at most one page per
    origin.
    """

    def __init__(self, store: DataStore, after: VectorClock, batch_size: int):
        self._store = store
        self._batch_size = batch_size
        self._cursor = {
            origin: after.get(origin)
            for origin, newest in store.get_knowledge().items()
            if newest > after.get(origin)
        }
        self._pages: dict[str, list[ItemChange]] = {o: [] for o in self._cursor}
        self._positions = dict.fromkeys(self._cursor, 0)
        self._drained: set[str] = set()

    def pending_origins(self) -> list[str]:
        """Origins the feed still has changes of (or has not looked at yet)."""
        return sorted(o for o in self._cursor if not self._exhausted(o))

    def _exhausted(self, origin: str) -> bool:
        return origin in self._drained and self._positions[origin] >= len(
            self._pages[origin]
        )

    def _head(self, origin: str) -> ItemChange | None:
        page, position = self._pages[origin], self._positions[origin]
        if position < len(page):
            return page[position]
        if origin in self._drained:
            return None
        page = list(
            self._store.select_changes(origin, self._cursor[origin], self._batch_size)
        )
        if len(page) < self._batch_size:
            self._drained.add(origin)
        if not page:
            return None
        self._cursor[origin] = page[-1].timestamp
        self._pages[origin], self._positions[origin] = page, 0
        return page[0]

    def next_batch(self) -> ItemChangeBatch:
        """The next batch; empty, with ``is_last_batch``, when nothing is left."""
        changes: list[ItemChange] = []
        origins = sorted(self._cursor)
        while len(changes) < self._batch_size:
            best: ItemChange | None = None
            for origin in origins:
                head = self._head(origin)
                if head is not None and (
                    best is None or head.order_key < best.order_key
                ):
                    best = head
            if best is None:
                break
            changes.append(best)
            self._positions[best.origin] += 1
        last = all(self._head(o) is None for o in origins)
        return ItemChangeBatch(changes, is_last_batch=last)


def _spec_name(policy: ConflictPolicy) -> str:
    return policy.name or type(policy).__name__


@define
class PolicySet:
    """The policy for each entity, with a default for the rest."""

    default: ConflictPolicy = field(factory=DefaultPolicy)
    per_entity: Mapping[str, ConflictPolicy] = field(factory=dict)

    def for_entity(self, entity_name: str) -> ConflictPolicy:
        return self.per_entity.get(entity_name, self.default)


class Outcome(enum.Enum):
    """What happened to one change handed to a target."""

    HELD = "held"  # the target already held it
    SUPERSEDED = "superseded"  # held now; the item already had a later version
    APPLIED = "applied"
    CONFLICT = "conflict"
    DEFERRED = "deferred"


@define
class ApplyCounts:
    """Counts of outcomes, added up over batches."""

    applied: int = 0
    conflicts: int = 0
    deferred: int = 0
    skipped: int = 0
    resolved_deferrals: int = 0

    def add(self, outcome: Outcome) -> None:
        if outcome is Outcome.APPLIED:
            self.applied += 1
        elif outcome is Outcome.CONFLICT:
            self.conflicts += 1
        elif outcome is Outcome.DEFERRED:
            self.deferred += 1
        else:
            self.skipped += 1


class _Rejected(Exception):
    """A validation hook refused a change."""


@define
class _Step:
    """The outcome of one change, announced to observers once it commits."""

    outcome: Outcome
    change: ItemChange
    log: ConflictLog | None = None


class ChangeApplier:
    """Applies remote changes to one target store, for one session.

    ``knowledge`` starts as the target's knowledge and follows every committed
    change, so it is read once per session. What the applier writes is kept
    at hand until its transaction ends, and no longer: memory follows the
    batch, not the session.
    """

    def __init__(
        self,
        store: DataStore,
        policies: PolicySet,
        hook: pluggy.HookRelay,
        *,
        record_session_id: str | None = None,
    ):
        self.store = store
        self.policies = policies
        self.hook = hook
        self.session_id = record_session_id
        self.knowledge: dict[str, int] = dict(store.get_knowledge().items())
        self._versions: dict[ItemKey, ItemVersion | None] = {}
        self._changes: dict[str, ItemChange] = {}
        self._validating = self._announcing = True

    def _look_at_hooks(self) -> None:
        """Note which per-change hooks have implementations, so that a change
        does not pay for calling hooks nobody implements. Looked at again for
        every batch, so plugins registered meanwhile take part from the next.
        """
        hook = self.hook
        self._validating = bool(hook.maestro_validate_change.get_hookimpls())
        self._announcing = bool(hook.maestro_change_applied.get_hookimpls())

    # -- entry points -------------------------------------------------------

    def apply_batch(self, batch: Iterable[ItemChange]) -> list[_Step]:
        """Apply *batch* (in order); return one step per change."""
        pending = []
        steps = []
        for change in batch:
            if self.knowledge.get(change.origin, 0) >= change.timestamp:
                steps.append(_Step(Outcome.HELD, change))
            else:
                pending.append(change)
        if not pending:
            return steps
        self._look_at_hooks()
        self._prefetch_versions(pending)
        try:
            done = self.store.run_in_transaction(lambda: self._apply_all(pending))
        except Exception:
            logger.debug(
                "%s: batch of %d failed; applying it one change at a time",
                self.store.provider_id,
                len(pending),
                exc_info=True,
            )
            self._forget()
            done = [self._apply_alone(change) for change in pending]
        else:
            self._committed(done)
        finally:
            self._forget()
        return steps + done

    def retry_deferred(self) -> list[_Step]:
        """Retry every deferred change, oldest first; return their steps."""
        logs = self.store.get_conflict_logs(
            status=ConflictStatus.DEFERRED,
            conflict_type=ConflictType.EXCEPTION_OCCURRED,
        )
        if not logs:
            return []
        self._look_at_hooks()
        ids = [log.remote_change_id for log in logs if log.remote_change_id]
        held = self.store.get_changes(ids)
        pairs = sorted(
            (
                (held[log.remote_change_id], log)
                for log in logs
                if log.remote_change_id in held
            ),
            key=lambda pair: pair[0].order_key,
        )
        return [self._apply_alone(change, retry=log) for change, log in pairs]

    # -- transactions -------------------------------------------------------

    def _apply_all(self, changes: list[ItemChange]) -> list[_Step]:
        steps = [self._apply_one(change) for change in changes]
        self.store.observe_timestamp(max(c.timestamp for c in changes))
        return steps

    def _apply_alone(
        self, change: ItemChange, retry: ConflictLog | None = None
    ) -> _Step:
        def apply() -> _Step:
            step = self._apply_one(change, retry=retry)
            self.store.observe_timestamp(change.timestamp)
            return step

        try:
            step = self.store.run_in_transaction(apply)
        except Exception as error:
            self._forget()
            step = self._defer(change, error, retry)
        self._committed([step])
        return step

    def _committed(self, steps: list[_Step]) -> None:
        for step in steps:
            change = step.change
            if self.knowledge.get(change.origin, 0) < change.timestamp:
                self.knowledge[change.origin] = change.timestamp
            self._announce(step)

    def _announce(self, step: _Step) -> None:
        hook, outcome = self.hook, step.outcome
        if outcome is Outcome.APPLIED:
            if not self._announcing:
                return
            hook.maestro_change_applied(
                change=step.change, provider_id=self.store.provider_id
            )
        elif outcome is Outcome.CONFLICT:
            hook.maestro_conflict_recorded(log=step.log)
        elif outcome is Outcome.DEFERRED:
            hook.maestro_change_deferred(change=step.change, log=step.log)

    def _forget(self) -> None:
        self._versions.clear()
        self._changes.clear()

    # -- reads, with what this session wrote kept at hand -------------------

    def _prefetch_versions(self, changes: list[ItemChange]) -> None:
        keys = {c.key for c in changes if c.key not in self._versions}
        if keys:
            found = self.store.get_item_versions(keys)
            for key in keys:
                self._versions[key] = found.get(key)

    def _version(self, key: ItemKey) -> ItemVersion | None:
        if key not in self._versions:
            self._versions[key] = self.store.get_item_version(*key)
        return self._versions[key]

    def _get_changes(self, ids: Iterable[str]) -> dict[str, ItemChange]:
        ids = list(ids)
        missing = [i for i in ids if i not in self._changes]
        if missing:
            self._changes.update(self.store.get_changes(missing))
        return {i: self._changes[i] for i in ids if i in self._changes}

    def _save_change(self, change: ItemChange) -> None:
        self.store.save_change(change)
        self._changes[change.id] = change

    def _save_version(self, version: ItemVersion) -> None:
        self.store.save_item_version(version)
        self._versions[version.key] = version

    # -- one change -----------------------------------------------------------

    def _apply_one(self, change: ItemChange, retry: ConflictLog | None = None) -> _Step:
        store = self.store
        if self._validating:
            reasons = [
                r
                for r in self.hook.maestro_validate_change(
                    change=change, provider_id=store.provider_id
                )
                if r
            ]
            if reasons:
                raise _Rejected("; ".join(str(r) for r in reasons))
        version = self._version(change.key)
        if retry is None:
            self._save_change(change)

        heads: list[ItemChange] = []
        vector = change.vector
        if version is not None:
            if version.vector.get(change.origin) >= change.timestamp:
                step = _Step(Outcome.SUPERSEDED, change)
                self._settle_retry(retry, step, winner=version.change_id)
                return step
            # the common case, a change made on top of all the item holds,
            # needs neither the heads nor a merged vector
            if len(version.heads) != 1 or not vector.includes(version.vector):
                heads = self._surviving_heads(change, version)
                vector = version.vector.merge(vector)
        if not heads:
            store.settle_waiting_conflicts(version, change)
            store.execute_item_change(
                change.operation, change.entity_name, change.item_id, change.item
            )
            self._save_version(
                ItemVersion(
                    entity_name=change.entity_name,
                    item_id=change.item_id,
                    change_id=change.id,
                    operation=change.operation,
                    vector=vector,
                    heads=(change.id,),
                )
            )
            step = _Step(Outcome.APPLIED, change)
            logger.debug(
                "%s applied %s %s/%s from %s",
                store.provider_id,
                change.operation.name,
                change.entity_name,
                change.item_id,
                change.origin,
            )
            self._settle_retry(retry, step, winner=change.id)
            return step
        assert version is not None
        return self._resolve(change, version, heads, retry)

    def _surviving_heads(
        self, change: ItemChange, version: ItemVersion
    ) -> list[ItemChange]:
        """The item's heads that *change* does not include (its rivals)."""
        held = self._get_changes(version.heads)
        return [
            head
            for head in (held[i] for i in version.heads if i in held)
            if change.vector.get(head.origin) < head.timestamp
        ]

    def _resolve(
        self,
        change: ItemChange,
        version: ItemVersion,
        rivals: list[ItemChange],
        retry: ConflictLog | None,
    ) -> _Step:
        store = self.store
        local = (
            self._get_changes([version.change_id]).get(version.change_id) or rivals[-1]
        )
        changes = tuple(sorted([*rivals, change], key=lambda c: c.order_key))
        conflict = Conflict(
            entity_name=change.entity_name,
            item_id=change.item_id,
            changes=changes,
            conflict_type=ConflictType.between(local.operation, change.operation),
            find_base=lambda: self._find_base(changes),
        )
        policy = self.policies.for_entity(change.entity_name)
        resolution = self.hook.maestro_resolve_conflict(
            conflict=conflict, provider_id=store.provider_id
        )
        decided_by = "hook" if resolution is not None else _spec_name(policy)
        if resolution is None:
            resolution = policy.resolve(conflict)
        if not isinstance(resolution, Resolution) or (
            not resolution.deferred and resolution.winner not in changes
        ):
            raise TypeError(
                f"conflict policy {decided_by!r} returned {resolution!r}; expected a "
                "Resolution naming one of the conflicting changes, or deferring"
            )

        vector = version.vector.merge(change.vector)
        head_ids = tuple(c.id for c in changes)
        log = ConflictLog(
            id=new_id(),
            provider_id=store.provider_id,
            conflict_type=conflict.conflict_type,
            status=ConflictStatus.DEFERRED,
            entity_name=change.entity_name,
            item_id=change.item_id,
            created_at=store.now(),
            local_change_id=local.id,
            remote_change_id=change.id,
            policy=decided_by,
        )
        if resolution.deferred:
            self._save_version(
                ItemVersion(
                    entity_name=version.entity_name,
                    item_id=version.item_id,
                    change_id=version.change_id,
                    operation=version.operation,
                    vector=vector,
                    heads=head_ids,
                )
            )
            log = ConflictLog(
                **{**_fields(log), "description": "waiting for a decision"}
            )
        else:
            winner = resolution.winner
            assert winner is not None
            item = resolution.item if resolution.item is not None else winner.item
            store.execute_item_change(
                winner.operation, change.entity_name, change.item_id, item
            )
            self._save_version(
                ItemVersion(
                    entity_name=version.entity_name,
                    item_id=version.item_id,
                    change_id=winner.id,
                    operation=winner.operation,
                    vector=vector,
                    heads=head_ids,
                )
            )
            loser = change.id if winner.id != change.id else local.id
            log = log.resolved(
                winner_change_id=winner.id,
                loser_change_id=loser,
                at=log.created_at,
                description="merged" if resolution.item is not None else "",
            )
        store.save_conflict_log(log)
        logger.warning(
            "%s: conflict %s on %s/%s between %s and %s: %s by %s",
            store.provider_id,
            log.conflict_type.value,
            log.entity_name,
            log.item_id,
            local.id,
            change.id,
            "deferred" if resolution.deferred else f"{log.winner_change_id} wins",
            decided_by,
        )
        step = _Step(Outcome.CONFLICT, change, log=log)
        self._settle_retry(retry, step, winner=log.winner_change_id)
        return step

    def _find_base(self, changes: tuple[ItemChange, ...]) -> ItemChange | None:
        """The newest change every one of *changes* descends from, if held."""
        common: dict[str, ItemChange] | None = None
        for change in changes:
            ancestors: dict[str, ItemChange] = {}
            current: ItemChange | None = change
            for _ in range(BASE_SEARCH_DEPTH):
                parent_id = current.parent_id if current is not None else None
                if parent_id is None:
                    break
                current = self._get_changes([parent_id]).get(parent_id)
                if current is None:
                    break
                ancestors[current.id] = current
            if common is None:
                common = ancestors
            else:
                common = {k: v for k, v in common.items() if k in ancestors}
        if not common:
            return None
        return max(common.values(), key=lambda c: c.order_key)

    # -- deferral -------------------------------------------------------------

    def _settle_retry(
        self, retry: ConflictLog | None, step: _Step, winner: str | None
    ) -> None:
        if retry is None:
            return
        resolved = retry.resolved(
            winner_change_id=winner,
            loser_change_id=None
            if winner == retry.remote_change_id
            else retry.remote_change_id,
            at=self.store.now(),
        )
        self.store.save_conflict_log(resolved)
        step.log = step.log or resolved
        logger.info(
            "%s: deferred change %s is settled (%s)",
            self.store.provider_id,
            step.change.id,
            step.outcome.value,
        )

    def _defer(
        self, change: ItemChange, error: Exception, retry: ConflictLog | None
    ) -> _Step:
        store = self.store
        if isinstance(error, _Rejected):
            description = f"rejected: {error}"
        else:
            description = "".join(traceback.format_exception(error))
        if retry is not None:
            log = ConflictLog(**{**_fields(retry), "description": description})
        else:
            version = self._version(change.key)
            log = ConflictLog(
                id=new_id(),
                provider_id=store.provider_id,
                conflict_type=ConflictType.EXCEPTION_OCCURRED,
                status=ConflictStatus.DEFERRED,
                entity_name=change.entity_name,
                item_id=change.item_id,
                created_at=store.now(),
                local_change_id=version.change_id if version is not None else None,
                remote_change_id=change.id,
                description=description,
            )

        def record() -> None:
            if retry is None:
                store.save_change(change)
                store.observe_timestamp(change.timestamp)
            store.save_conflict_log(log)

        store.run_in_transaction(record)
        logger.warning(
            "%s deferred change %s (%s %s/%s from %s): %s",
            store.provider_id,
            change.id,
            change.operation.name,
            change.entity_name,
            change.item_id,
            change.origin,
            error,
            exc_info=not isinstance(error, _Rejected),
        )
        step = _Step(Outcome.DEFERRED, change, log=log)
        return step


def _fields(instance: Any) -> dict[str, Any]:
    from attrs import asdict

    return asdict(instance, recurse=False)


def count_steps(
    steps: Iterable[_Step], counts: ApplyCounts | None = None
) -> ApplyCounts:
    """Add the outcomes of *steps* to *counts* (a new one by default)."""
    counts = counts or ApplyCounts()
    for step in steps:
        counts.add(step.outcome)
    return counts
