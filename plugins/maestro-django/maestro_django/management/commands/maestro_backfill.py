"""``manage.py maestro_backfill app.Model ...``: record rows capture missed."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...backfill import BackfillCounts, backfill
from ...capture import local_store
from ...conf import SyncedModel, synced_model


class Command(BaseCommand):
    help = (
        "Record the current state of rows of synced models that Maestro holds no "
        "version of, or whose content differs from their last recorded change "
        "(after QuerySet.update(), bulk_create() or raw SQL, which send no "
        "signals), and the deletion of rows that are gone. Safe to run again: "
        "rows already recorded as they are give no new change."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "models",
            nargs="+",
            metavar="app_label.Model",
            help="Models listed in MAESTRO['MODELS'].",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="Rows read and recorded per transaction (default 500).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be recorded, and record nothing.",
        )

    def _synced(self, label: str) -> SyncedModel:
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError) as e:
            raise CommandError(
                f"model {label!r} is not installed; expected 'app_label.Model' ({e})"
            ) from e
        synced = synced_model(model)
        if synced is None:
            raise CommandError(
                f"model {label!r} is not synchronised; expected a model listed in "
                "MAESTRO['MODELS']"
            )
        return synced

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError(
                f"--batch-size {batch_size!r} is not valid; expected a positive integer"
            )
        entries = [self._synced(label) for label in options["models"]]
        verbosity = options["verbosity"]
        store = local_store()
        total = 0
        for synced in dict.fromkeys(entries):

            def progress(counts: BackfillCounts, label: str = synced.label) -> None:
                if verbosity >= 2:
                    self.stdout.write(
                        f"  {label}: {counts.rows} rows read, "
                        f"{counts.recorded} changes so far"
                    )

            counts = backfill(
                store,
                synced,
                batch_size=batch_size,
                dry_run=options["dry_run"],
                progress=progress,
            )
            total += counts.recorded
            if verbosity >= 1:
                verb = "would record" if options["dry_run"] else "recorded"
                self.stdout.write(
                    f"{synced.label}: {counts.rows} rows read; {verb} "
                    f"{counts.inserted} inserts, {counts.updated} updates, "
                    f"{counts.deleted} deletes"
                )
        if total and not options["dry_run"]:
            from ...capture import changes_committed

            changes_committed()
