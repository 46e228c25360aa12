"""The subcommands: what each one reads, does and prints.

Each command takes the parsed arguments and a :class:`Context` and returns
the exit status. Errors that end a command are raised as :class:`CommandError`
(or the configuration's own errors) and reported by ``main``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from attrs import define, field

from ..exceptions import ConflictNotFoundError, MaestroError
from ..model import ConflictLog, ConflictStatus, ConflictType, SyncSession
from ..plugins import get_backends
from ..provider import SyncProvider
from ..store import DataStore
from ._config import Config, close_lock, find_config, load_config
from ._output import (
    SessionReporter,
    Writer,
    first_line,
    format_counts,
    format_time,
    summarize,
    table,
)
from ._redact import Redactor

__all__ = [
    "EXIT_FAILURE",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandError",
    "Context",
    "backends",
    "conflicts",
    "resolve",
    "status",
    "sync",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3

SHORT_ID = 8


class CommandError(MaestroError):
    """A command cannot do what it was asked; ``exit_status`` says how it ended."""

    def __init__(self, message: str, *, exit_status: int = EXIT_FAILURE):
        super().__init__(message)
        self.exit_status = exit_status


@define
class Context:
    """What every command shares: the streams, the redactor, the config."""

    out: Writer
    err: Writer
    redactor: Redactor
    config_path: str | None = None
    _config: Config | None = field(default=None, init=False)

    def config(self) -> Config:
        """The configuration file, loaded once; its secrets join the redactor."""
        if self._config is None:
            self._config = load_config(find_config(self.config_path))
            for provider in self._config.providers:
                self.redactor.add_options(provider.options)
        return self._config

    @contextlib.contextmanager
    def providers(self) -> Iterator[list[SyncProvider]]:
        """Every configured provider, open for the block."""
        opened = self.config().build_providers()
        try:
            yield opened
        finally:
            for provider in opened:
                provider.store.close()


# -- backends -------------------------------------------------------------------


def backends(args: argparse.Namespace, ctx: Context) -> int:
    """List the registered backends and the distributions that provide them."""
    found = get_backends()
    if args.json:
        ctx.out.json(
            [
                {
                    "name": b.name,
                    "distribution": b.distribution,
                    "version": b.version,
                    "description": b.description,
                    "has_lock": b.lock_factory is not None,
                }
                for b in found.values()
            ]
        )
        return EXIT_OK
    rows = [
        [b.name, b.distribution or "-", b.version or "-", b.description]
        for b in found.values()
    ]
    for line in table(["BACKEND", "DISTRIBUTION", "VERSION", "DESCRIPTION"], rows):
        ctx.out.line(line)
    return EXIT_OK


# -- sync ---------------------------------------------------------------------------


def count_waiting(source: DataStore, target: DataStore) -> int:
    """How many changes *source* holds that *target*'s knowledge lacks."""
    knowledge = target.get_knowledge()
    return sum(
        source.count_changes(origin, knowledge.get(origin))
        for origin, newest in source.get_knowledge().items()
        if newest > knowledge.get(origin)
    )


def _waiting_decisions(providers: Sequence[SyncProvider]) -> dict[str, int]:
    conflicts = deferred = 0
    for provider in providers:
        for log in provider.store.get_conflict_logs(status=ConflictStatus.DEFERRED):
            if log.conflict_type is ConflictType.EXCEPTION_OCCURRED:
                deferred += 1
            else:
                conflicts += 1
    return {"conflicts": conflicts, "deferred_changes": deferred}


def sync(args: argparse.Namespace, ctx: Context) -> int:
    """Run a full round of sessions from the initial provider."""
    config = ctx.config()
    initial = args.source or config.initial_provider
    config.provider(initial, key="--from")
    with ctx.providers() as providers:
        orchestrator = config.build_orchestrator(providers)
        stores = {p.provider_id: p.store for p in providers}
        reporter = SessionReporter(
            ctx.out,
            live=ctx.out.is_terminal,
            quiet=args.json,
            waiting=lambda s, t: count_waiting(stores[s], stores[t]),
            id_width=max(len(i) for i in stores),
        )
        manager = orchestrator.plugin_manager
        manager.register(reporter)
        error: BaseException | None = None
        try:
            sessions: list[SyncSession] | None = orchestrator.run(initial)
        except Exception as e:
            error, sessions = e, reporter.sessions
        finally:
            reporter.end_line()
            manager.unregister(reporter)
            close_lock(orchestrator.sync_lock)
        if sessions is None:
            return _locked(args, ctx, initial)
        decisions = _waiting_decisions(providers)
    return _report_sync(args, ctx, initial, sessions, error, decisions)


def _locked(args: argparse.Namespace, ctx: Context, initial: str) -> int:
    message = (
        "the sync lock is held by another orchestrator; nothing was synced, "
        "try again later"
    )
    if args.json:
        ctx.out.json(
            {
                "config": ctx.config().path,
                "initial_provider": initial,
                "status": "LOCKED",
                "sessions": [],
                "error": message,
            }
        )
    ctx.err.line(f"maestro: {message}")
    return EXIT_LOCKED


def _report_sync(
    args: argparse.Namespace,
    ctx: Context,
    initial: str,
    sessions: Sequence[SyncSession],
    error: BaseException | None,
    decisions: dict[str, int],
) -> int:
    totals = summarize(sessions)
    failed = error is not None or totals["failed"] > 0
    if args.json:
        ctx.out.json(
            {
                "config": ctx.config().path,
                "initial_provider": initial,
                "status": "FAILED" if failed else "SUCCEEDED",
                "sessions": [s.to_dict() for s in sessions],
                "totals": totals,
                "waiting_for_decision": decisions,
                "error": None if error is None else _describe(error),
            }
        )
        return EXIT_FAILURE if failed else EXIT_OK
    outcome = (
        f"{totals['failed']} of {totals['sessions']} failed"
        if totals["failed"]
        else "all succeeded"
    )
    ctx.out.line(
        f"synced from {initial!r}: {_sessions(totals['sessions'])}, {outcome}; "
        f"sent {totals['sent']}, applied {totals['applied']}, "
        f"conflicts {totals['conflicts']}, deferred {totals['deferred']}"
    )
    if decisions["conflicts"] or decisions["deferred_changes"]:
        ctx.out.line(
            f"waiting: {decisions['conflicts']} conflict(s) for a decision, "
            f"{decisions['deferred_changes']} deferred change(s); see "
            "`maestro conflicts --status deferred`"
        )
    for session in sessions:
        if session.error:
            ctx.err.line(
                f"maestro: session {session.source_provider_id} -> "
                f"{session.target_provider_id} failed: {session.error}"
            )
    if error is not None and not any(s.error for s in sessions):
        ctx.err.line(f"maestro: sync failed: {_describe(error)}")
    return EXIT_FAILURE if failed else EXIT_OK


def _sessions(count: int) -> str:
    return f"{count} session" if count == 1 else f"{count} sessions"


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


# -- status -------------------------------------------------------------------------


def _last_session(target: DataStore, source_id: str) -> SyncSession | None:
    for session in target.get_sessions(limit=100):
        if session.source_provider_id == source_id:
            return session
    return None


@define
class _PairState:
    """One direction between two providers, as ``status`` shows it."""

    source_provider_id: str
    target_provider_id: str
    waiting: int
    last_session: SyncSession | None

    def to_dict(self) -> dict[str, Any]:
        last = self.last_session
        return {
            "source_provider_id": self.source_provider_id,
            "target_provider_id": self.target_provider_id,
            "waiting": self.waiting,
            "last_session": None if last is None else last.to_dict(),
        }


def _provider_state(provider: SyncProvider, backend: str) -> dict[str, Any]:
    logs = provider.store.get_conflict_logs(status=ConflictStatus.DEFERRED)
    deferred = sum(log.conflict_type is ConflictType.EXCEPTION_OCCURRED for log in logs)
    return {
        "provider_id": provider.provider_id,
        "backend": backend,
        "deferred_changes": deferred,
        "unresolved_conflicts": len(logs) - deferred,
    }


def status(args: argparse.Namespace, ctx: Context) -> int:
    """What waits between each ordered pair of providers, and on each one."""
    config = ctx.config()
    with ctx.providers() as providers:
        states = [
            _provider_state(provider, settings.backend)
            for provider, settings in zip(providers, config.providers, strict=True)
        ]
        pairs = [
            _PairState(
                source.provider_id,
                target.provider_id,
                waiting=count_waiting(source.store, target.store),
                last_session=_last_session(target.store, source.provider_id),
            )
            for source in providers
            for target in providers
            if source is not target
        ]
    if args.json:
        ctx.out.json(
            {
                "config": config.path,
                "providers": states,
                "pairs": [pair.to_dict() for pair in pairs],
            }
        )
        return EXIT_OK
    headers = ["PROVIDER", "BACKEND", "DEFERRED CHANGES", "UNRESOLVED CONFLICTS"]
    for line in table(headers, [list(state.values()) for state in states]):
        ctx.out.line(line)
    ctx.out.line()
    rows = [
        [
            pair.source_provider_id,
            pair.target_provider_id,
            pair.waiting,
            _describe_session(pair.last_session),
        ]
        for pair in pairs
    ]
    for line in table(["FROM", "TO", "WAITING", "LAST SESSION"], rows):
        ctx.out.line(line)
    return EXIT_OK


def _describe_session(session: SyncSession | None) -> str:
    if session is None:
        return "never"
    when = format_time(session.ended_at or session.started_at)
    return f"{session.status.value} {when}: {format_counts(session)}"


# -- conflicts and resolve ---------------------------------------------------


def _kind(log: ConflictLog) -> str:
    if log.conflict_type is ConflictType.EXCEPTION_OCCURRED:
        return "exception"
    _, local, _, remote = log.conflict_type.value.split("_")
    return f"{local.lower()}/{remote.lower()}"


def _short(change_id: str | None, origins: dict[str, str]) -> str:
    if change_id is None:
        return "-"
    origin = origins.get(change_id)
    return change_id[:SHORT_ID] + (f" ({origin})" if origin else "")


def _changes(log: ConflictLog, origins: dict[str, str]) -> str:
    if log.status is ConflictStatus.RESOLVED:
        text = f"won {_short(log.winner_change_id, origins)}"
        if log.loser_change_id:
            text += f", lost {_short(log.loser_change_id, origins)}"
        return text
    sides = [c for c in (log.local_change_id, log.remote_change_id) if c]
    return " or ".join(_short(c, origins) for c in sides)


def _collect(
    providers: Sequence[SyncProvider], wanted: ConflictStatus | None
) -> list[tuple[ConflictLog, dict[str, str]]]:
    found = []
    for provider in providers:
        logs = provider.store.get_conflict_logs(status=wanted)
        ids = {
            c
            for log in logs
            for c in (
                log.local_change_id,
                log.remote_change_id,
                log.winner_change_id,
                log.loser_change_id,
            )
            if c
        }
        held = provider.store.get_changes(ids) if ids else {}
        origins = {change_id: change.origin for change_id, change in held.items()}
        found.extend((log, origins) for log in logs)
    found.sort(key=lambda pair: (pair[0].created_at, pair[0].id))
    return found


def conflicts(args: argparse.Namespace, ctx: Context) -> int:
    """List the conflicts and deferred changes every provider recorded."""
    wanted = ConflictStatus[args.status.upper()] if args.status else None
    with ctx.providers() as providers:
        found = _collect(providers, wanted)
    if args.json:
        ctx.out.json([log.to_dict() for log, _ in found])
        return EXIT_OK
    if not found:
        ctx.out.line(f"no {args.status + ' ' if args.status else ''}conflicts")
        return EXIT_OK
    rows = [
        [
            log.id[:SHORT_ID],
            log.provider_id,
            _kind(log),
            log.status.value,
            f"{log.entity_name}/{log.item_id}",
            _changes(log, origins),
            first_line(
                ": ".join(p for p in (log.policy, first_line(log.description)) if p)
            ),
            format_time(log.created_at),
        ]
        for log, origins in found
    ]
    headers = [
        "ID",
        "PROVIDER",
        "TYPE",
        "STATUS",
        "ITEM",
        "CHANGES",
        "POLICY / DESCRIPTION",
        "CREATED",
    ]
    for line in table(headers, rows):
        ctx.out.line(line)
    if any(log.status is ConflictStatus.DEFERRED for log, _ in found):
        ctx.out.line()
        ctx.out.line(
            "settle a conflict with: maestro resolve ID --winner CHANGE "
            "(a unique prefix of either id will do)"
        )
    return EXIT_OK


def _match(prefix: str, candidates: Sequence[str], what: str) -> str:
    if prefix in candidates:
        return prefix
    matches = sorted({c for c in candidates if c.startswith(prefix)})
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ConflictNotFoundError(f"no {what} {prefix!r}")
    raise CommandError(
        f"{what} {prefix!r} is ambiguous; expected a longer prefix of one of "
        f"{matches!r}",
        exit_status=EXIT_USAGE,
    )


def resolve(args: argparse.Namespace, ctx: Context) -> int:
    """Settle a DEFERRED conflict: the chosen change wins on its provider."""
    with ctx.providers() as providers:
        logs = {
            log.id: (log, provider)
            for provider in providers
            for log in provider.store.get_conflict_logs()
        }
        try:
            conflict_id = _match(args.conflict_id, list(logs), "conflict")
        except ConflictNotFoundError:
            raise CommandError(
                f"no conflict {args.conflict_id!r} on any provider of "
                f"{ctx.config().path}; expected an id that `maestro conflicts` lists"
            ) from None
        log, provider = logs[conflict_id]
        sides = [c for c in (log.local_change_id, log.remote_change_id) if c]
        try:
            winner = _match(args.winner, sides, "change")
        except ConflictNotFoundError:
            winner = args.winner  # the store names the sides it expects
        try:
            change = provider.store.resolve_conflict(conflict_id, winner)
        except ConflictNotFoundError as e:
            raise CommandError(str(e)) from None
    if args.json:
        ctx.out.json(
            {
                "conflict_id": conflict_id,
                "provider_id": provider.provider_id,
                "winner_change_id": winner,
                "change": _change_summary(change.to_dict()),
            }
        )
        return EXIT_OK
    ctx.out.line(
        f"conflict {conflict_id} on {provider.provider_id!r} resolved: change "
        f"{winner} wins, recorded as change {change.id}; the next `maestro sync` "
        "carries it to the other providers"
    )
    return EXIT_OK


def _change_summary(change: dict[str, Any]) -> dict[str, Any]:
    return {k: change[k] for k in ("id", "operation", "entity_name", "item_id")}
