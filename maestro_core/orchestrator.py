"""The orchestrator: runs sync sessions between providers under a lock."""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pluggy
from attrs import evolve

from .engine import ApplyCounts, ChangeApplier, ChangeFeed, PolicySet, count_steps
from .exceptions import (
    ConfigurationError,
    SyncLockedError,
    SyncTimeoutError,
    UnknownProviderError,
)
from .lock import SyncLock
from .model import SessionStatus, SyncSession, VectorClock, new_id
from .plugins import coerce_policy, get_plugin_manager
from .provider import SyncProvider

__all__ = ["SyncOrchestrator"]

logger = logging.getLogger(__name__)

LEASE_MARGIN_SECONDS = 30.0
"""How long a lease outlives the time limit, so a slow last batch keeps it."""


class SyncOrchestrator:
    """Runs sync sessions between two or more providers.

    ``conflict_policies`` maps entity names to policies (a registered name, a
    ``ConflictPolicy``, an import path, or ``{"name": ..., "args": [...]}``);
    the rest use ``default_conflict_policy``. Policies that providers ask for
    are merged in; two providers asking for different policies for one entity
    is an error unless ``conflict_policies`` settles it, since both directions
    of a pair must decide alike.
    """

    def __init__(
        self,
        sync_lock: SyncLock,
        providers: Sequence[SyncProvider],
        maximum_duration_seconds: float = 10 * 60,
        *,
        conflict_policies: Mapping[str, Any] | None = None,
        default_conflict_policy: Any = "default",
        plugin_manager: pluggy.PluginManager | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        providers = list(providers)
        if len(providers) < 2:
            raise ConfigurationError(
                f"an orchestrator got {len(providers)} provider(s) "
                f"{[p.provider_id for p in providers]!r}; expected at least two"
            )
        seen: set[str] = set()
        for provider in providers:
            if not isinstance(provider, SyncProvider):
                raise ConfigurationError(
                    f"provider {provider!r} is a {type(provider).__name__}; "
                    "expected a maestro_core.SyncProvider"
                )
            if provider.provider_id in seen:
                raise ConfigurationError(
                    f"provider id {provider.provider_id!r} is used twice; expected "
                    "each provider to have its own id"
                )
            seen.add(provider.provider_id)
        if not maximum_duration_seconds or maximum_duration_seconds <= 0:
            raise ConfigurationError(
                f"maximum_duration_seconds {maximum_duration_seconds!r} is not "
                "valid; expected a positive number of seconds"
            )
        self.sync_lock = sync_lock
        self.providers = {p.provider_id: p for p in providers}
        self.maximum_duration_seconds = float(maximum_duration_seconds)
        self.policies = self._policy_set(
            conflict_policies or {}, default_conflict_policy
        )
        self._pm = plugin_manager
        self._monotonic = monotonic
        self._owner: str | None = None
        self._deadline: float | None = None

    def _policy_set(self, configured: Mapping[str, Any], default: Any) -> PolicySet:
        requested: dict[str, tuple[str, Any]] = {}
        for provider in self.providers.values():
            for entity, spec in provider.conflict_policies.items():
                if entity in configured:
                    continue
                if entity in requested and requested[entity][1] != spec:
                    other = requested[entity][0]
                    raise ConfigurationError(
                        f"providers {other!r} and {provider.provider_id!r} ask for "
                        f"different conflict policies for {entity!r} "
                        f"({requested[entity][1]!r} and {spec!r}); expected one "
                        "policy per entity"
                    )
                requested[entity] = (provider.provider_id, spec)
        specs = {entity: spec for entity, (_, spec) in requested.items()}
        specs.update(configured)
        return PolicySet(
            default=coerce_policy(default),
            per_entity={entity: coerce_policy(spec) for entity, spec in specs.items()},
        )

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        if self._pm is None:
            self._pm = get_plugin_manager()
        return self._pm

    def _provider(self, provider_id: str) -> SyncProvider:
        try:
            return self.providers[provider_id]
        except KeyError:
            raise UnknownProviderError(provider_id, list(self.providers)) from None

    def _lease(self) -> float:
        return self.maximum_duration_seconds + LEASE_MARGIN_SECONDS

    # -- running --------------------------------------------------------------

    def run(
        self, initial_source_provider_id: str | None = None
    ) -> list[SyncSession] | None:
        """Sync every provider with the initial one, both ways, until all agree.

        The initial provider first sends to and receives from each other one;
        then it sends again to those that came before the last, so everything
        collected reaches everyone. Returns the sessions, or ``None`` at once
        when another orchestrator holds the lock.
        """
        initial = initial_source_provider_id or next(iter(self.providers))
        self._provider(initial)
        owner = f"orchestrator-{uuid.uuid4()}"
        if not self.sync_lock.acquire(owner, self._lease()):
            logger.info("sync lock is held elsewhere; skipping this run")
            return None
        self._owner = owner
        self._deadline = self._monotonic() + self.maximum_duration_seconds
        try:
            others = [p for p in self.providers if p != initial]
            sessions = []
            for other in others:
                sessions.append(self._session(initial, other))
                sessions.append(self._session(other, initial))
            for other in others[:-1]:
                sessions.append(self._session(initial, other))
            return sessions
        finally:
            self._owner = self._deadline = None
            self.sync_lock.release(owner)

    def synchronize_providers(
        self, source_provider_id: str, target_provider_id: str
    ) -> SyncSession:
        """Send the target every change of the source it lacks (one direction).

        Raises SyncLockedError when another orchestrator holds the lock, and
        SyncTimeoutError when the time limit runs out (what was applied stays).
        """
        self._provider(source_provider_id)
        self._provider(target_provider_id)
        if source_provider_id == target_provider_id:
            raise ConfigurationError(
                f"cannot sync provider {source_provider_id!r} with itself; expected "
                "two different providers"
            )
        if self._owner is not None:
            return self._session(source_provider_id, target_provider_id)
        owner = f"orchestrator-{uuid.uuid4()}"
        if not self.sync_lock.acquire(owner, self._lease()):
            raise SyncLockedError(
                "the sync lock is held by another orchestrator; try again later"
            )
        self._owner = owner
        self._deadline = self._monotonic() + self.maximum_duration_seconds
        try:
            return self._session(source_provider_id, target_provider_id)
        finally:
            self._owner = self._deadline = None
            self.sync_lock.release(owner)

    # -- one session ----------------------------------------------------------

    def _session(self, source_id: str, target_id: str) -> SyncSession:
        source, target = self.providers[source_id], self.providers[target_id]
        hook = self.plugin_manager.hook
        session = SyncSession(
            id=new_id(),
            source_provider_id=source_id,
            target_provider_id=target_id,
            status=SessionStatus.IN_PROGRESS,
            started_at=target.store.now(),
        )
        _record(target, session)
        logger.info("session %s: %s -> %s started", session.id, source_id, target_id)
        counts = ApplyCounts()
        sent = 0
        try:
            hook.maestro_session_started(session=session)
            applier = ChangeApplier(target.store, self.policies, hook)
            count_steps(applier.retry_deferred(), counts)
            feed = ChangeFeed(
                source.store,
                VectorClock(applier.knowledge),
                source.max_changes_per_session,
            )
            while True:
                self._check_time(session, counts, sent)
                batch = feed.next_batch()
                if batch.changes:
                    sent += len(batch)
                    count_steps(applier.apply_batch(batch.changes), counts)
                    hook.maestro_batch_applied(
                        session=_so_far(session, counts, sent), batch=batch
                    )
                if batch.is_last_batch:
                    break
        except SyncTimeoutError:
            raise
        except BaseException as error:
            self._finish(session, counts, sent, SessionStatus.FAILED, _describe(error))
            raise
        return self._finish(session, counts, sent, SessionStatus.SUCCEEDED, None)

    def _check_time(self, session: SyncSession, counts: ApplyCounts, sent: int) -> None:
        assert self._deadline is not None and self._owner is not None
        if self._monotonic() < self._deadline:
            self.sync_lock.renew(self._owner, self._lease())
            return
        message = (
            f"session {session.id} ({session.source_provider_id} -> "
            f"{session.target_provider_id}) ran past the time limit of "
            f"{self.maximum_duration_seconds:g} s; what it applied is kept and a "
            "later run resumes"
        )
        self._finish(session, counts, sent, SessionStatus.FAILED, message)
        raise SyncTimeoutError(
            message, session_id=session.id, limit_seconds=self.maximum_duration_seconds
        )

    def _finish(
        self,
        session: SyncSession,
        counts: ApplyCounts,
        sent: int,
        status: SessionStatus,
        error: str | None,
    ) -> SyncSession:
        target = self.providers[session.target_provider_id]
        session = evolve(
            session,
            status=status,
            ended_at=target.store.now(),
            sent=sent,
            applied=counts.applied,
            conflicts=counts.conflicts,
            deferred=counts.deferred,
            error=error,
        )
        try:
            _record(target, session)
        except Exception:
            logger.error("could not record session %s", session.id, exc_info=True)
        log = logger.info if status is SessionStatus.SUCCEEDED else logger.error
        log(
            "session %s: %s -> %s %s: sent %d, applied %d, conflicts %d, deferred %d",
            session.id,
            session.source_provider_id,
            session.target_provider_id,
            status.value,
            sent,
            counts.applied,
            counts.conflicts,
            counts.deferred,
        )
        self.plugin_manager.hook.maestro_session_finished(session=session)
        return session


def _so_far(session: SyncSession, counts: ApplyCounts, sent: int) -> SyncSession:
    """*session*, still IN_PROGRESS, with the counts of what it did so far."""
    return evolve(
        session,
        sent=sent,
        applied=counts.applied,
        conflicts=counts.conflicts,
        deferred=counts.deferred,
    )


def _record(provider: SyncProvider, session: SyncSession) -> None:
    """Save *session* on *provider*, in a transaction as every store write is."""
    store = provider.store
    store.run_in_transaction(lambda: store.save_session(session))


def _describe(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(error)).strip()
