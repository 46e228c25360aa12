"""``manage.py maestro_sync``: one full round with ``SYNC_PROVIDERS``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from maestro_core import ConfigurationError, SessionStatus, UnknownProviderError

from ...callbacks import run_sync


class Command(BaseCommand):
    help = (
        "Synchronise this project's database with the providers in "
        "MAESTRO['SYNC_PROVIDERS'], both ways, under the database sync lock. "
        "Prints one line per session."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from",
            dest="initial",
            default=None,
            metavar="PROVIDER_ID",
            help="The provider that sends first (default: this project's).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            sessions = run_sync(options["initial"])
        except (ConfigurationError, UnknownProviderError) as e:
            raise CommandError(str(e)) from e
        if sessions is None:
            raise CommandError(
                "another sync holds the sync lock; nothing was synchronised, try "
                "again once it has finished"
            )
        verbosity = options["verbosity"]
        failed = [s for s in sessions if s.status is not SessionStatus.SUCCEEDED]
        for session in sessions:
            if verbosity >= 1:
                self.stdout.write(
                    f"{session.source_provider_id} -> {session.target_provider_id}: "
                    f"{session.status.value.lower()}, sent {session.sent}, applied "
                    f"{session.applied}, conflicts {session.conflicts}, deferred "
                    f"{session.deferred}"
                )
        if failed:
            raise CommandError(f"{len(failed)} session(s) did not succeed")
