"""``manage.py maestro_conflicts list|resolve``: conflicts met on this provider."""

from __future__ import annotations

import enum
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from maestro_core import ConflictNotFoundError, ConflictStatus, ConflictType

from ...capture import changes_committed, local_store


def _choice(kind: type[enum.Enum], value: str | None) -> Any:
    if value is None:
        return None
    try:
        return kind(value.upper())
    except ValueError:
        names = sorted(m.value.lower() for m in kind)
        raise CommandError(
            f"{value!r} is not valid; expected one of {names!r}"
        ) from None


class Command(BaseCommand):
    help = (
        "List the conflicts and deferred changes recorded on this project's "
        "provider, or resolve a deferred conflict by choosing the winning change: "
        "'maestro_conflicts list [--status deferred]', "
        "'maestro_conflicts resolve CONFLICT_ID --winner CHANGE_ID|local|remote'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="{list,resolve}")
        actions.required = True
        listing = actions.add_parser("list", help="List conflicts, oldest first.")
        listing.add_argument(
            "--status",
            default=None,
            help="deferred or resolved (default: both).",
        )
        listing.add_argument(
            "--type", dest="conflict_type", default=None, help="One conflict type."
        )
        resolve = actions.add_parser(
            "resolve", help="Settle a deferred conflict by choosing its winner."
        )
        resolve.add_argument("conflict_id")
        resolve.add_argument(
            "--winner",
            required=True,
            help="The id of the winning change, or 'local' / 'remote'.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            self._list(options)
        else:
            self._resolve(options["conflict_id"], options["winner"], options)

    def _list(self, options: dict[str, Any]) -> None:
        status = _choice(ConflictStatus, options["status"])
        conflict_type = _choice(ConflictType, options["conflict_type"])
        logs = local_store().get_conflict_logs(
            status=status, conflict_type=conflict_type
        )
        for log in logs:
            self.stdout.write(
                f"{log.id}  {log.status.value:<8}  {log.conflict_type.value:<20}  "
                f"{log.entity_name}/{log.item_id}  local={log.local_change_id}  "
                f"remote={log.remote_change_id}  winner={log.winner_change_id}"
            )
            if options["verbosity"] >= 2 and log.description:
                self.stdout.write(f"    {log.description.strip()}")
        if options["verbosity"] >= 1:
            self.stdout.write(f"{len(logs)} conflict(s)")

    def _resolve(self, conflict_id: str, winner: str, options: dict[str, Any]) -> None:
        store = local_store()
        log = store.get_conflict_log(conflict_id)
        if log is None:
            raise CommandError(
                f"no conflict {conflict_id!r}; expected an id that "
                "'maestro_conflicts list' shows"
            )
        if winner in ("local", "remote"):
            chosen = getattr(log, f"{winner}_change_id")
            if chosen is None:
                raise CommandError(
                    f"conflict {conflict_id!r} has no {winner} change; expected "
                    "the id of one of its changes"
                )
            winner = chosen
        try:
            change = store.resolve_conflict(conflict_id, winner)
        except ConflictNotFoundError as e:
            raise CommandError(str(e)) from e
        changes_committed()
        if options["verbosity"] >= 1:
            self.stdout.write(
                f"resolved {conflict_id}: change {winner} wins "
                f"(recorded as change {change.id})"
            )
