"""Every hook Maestro calls, grouped by the phase in which it is called.

Hooks are always called with keyword arguments, and specs only ever gain
arguments, so an implementation written against an older spec keeps working.
Implement them in a module or class decorated with
:data:`maestro_core.hookimpl`, and list it in the ``maestro`` entry-point
group of your distribution::

    [project.entry-points.maestro]
    my_backend = "my_package.plugin"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .model import ConflictLog, ItemChange, ItemChangeBatch, SyncSession
    from .plugins import RegisterBackend, RegisterPolicy
    from .policies import Conflict, Resolution

__all__ = ["hookimpl", "hookspec"]

PROJECT_NAME = "maestro"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -- registration: called once, when the plugins are first needed ----------


@hookspec
def maestro_register_backends(register: RegisterBackend) -> None:
    """Register the backends this plugin provides.

    Called once, the first time a backend is looked up by name. Call
    ``register(Backend(name=..., provider_factory=..., ...))`` for each;
    a name already taken or not a valid identifier raises RegistrationError.
    The return value is ignored.
    """


@hookspec
def maestro_register_policies(register: RegisterPolicy) -> None:
    """Register conflict policies by name.

    Called once, the first time a policy is looked up by name. Call
    ``register(name, factory)`` for each, where ``factory(*args)`` returns a
    :class:`~maestro_core.ConflictPolicy`. The return value is ignored.
    """


# -- sync session: called by the orchestrator around each session ----------


@hookspec
def maestro_session_started(session: SyncSession) -> None:
    """A session is about to send changes.

    ``session`` is IN_PROGRESS with zero counts. The return value is ignored;
    an exception aborts the session, which is recorded FAILED.
    """


@hookspec
def maestro_batch_applied(session: SyncSession, batch: ItemChangeBatch) -> None:
    """A batch of the source's changes was applied to the target and committed.

    Called once per non-empty batch, in order, so that a progress display or
    a metrics exporter can follow a long session. ``session`` is a snapshot,
    still IN_PROGRESS, whose ``sent``, ``applied``, ``conflicts`` and
    ``deferred`` count everything the session did so far (changes retried
    from earlier deferrals included); ``batch`` holds the changes just sent.
    The return value is ignored; an exception fails the session, and what was
    committed stays.
    """


@hookspec
def maestro_session_finished(session: SyncSession) -> None:
    """A session ended, SUCCEEDED or FAILED, with its final counts.

    Called after the session record is saved. The return value is ignored.
    """


# -- per change: called by the engine for each change it handles -----------


@hookspec
def maestro_validate_change(change: ItemChange, provider_id: str) -> str | None:
    """Inspect a remote change before provider ``provider_id`` applies it.

    Return a reason (a non-empty string) to reject the change: it is then
    deferred with that reason, retried in later sessions, never silently
    applied. Return ``None`` to let it through. Every implementation is
    called; any reason rejects.
    """


@hookspec(firstresult=True)
def maestro_resolve_conflict(conflict: Conflict, provider_id: str) -> Resolution | None:
    """Decide a conflict before the configured policy does.

    Called for each conflict met while applying to ``provider_id``. The first
    implementation that returns a :class:`~maestro_core.Resolution` decides;
    return ``None`` to leave it to the next one and, last, to the policy
    configured for the entity. The decision must depend only on
    ``conflict.changes`` (and their base), or providers would diverge.
    """


@hookspec
def maestro_change_applied(change: ItemChange, provider_id: str) -> None:
    """A remote change was written to ``provider_id`` and committed.

    Not called for changes skipped as already held or superseded. The return
    value is ignored.
    """


@hookspec
def maestro_conflict_recorded(log: ConflictLog) -> None:
    """A conflict was detected and logged (RESOLVED, or DEFERRED by ``manual``).

    Called after the transaction that recorded it committed. The return value
    is ignored.
    """


@hookspec
def maestro_change_deferred(change: ItemChange, log: ConflictLog) -> None:
    """A remote change failed to apply, or was rejected, and was deferred.

    ``log`` is its ``EXCEPTION_OCCURRED`` entry, whose description holds the
    error and traceback. The return value is ignored.
    """
