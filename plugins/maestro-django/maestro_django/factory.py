"""Building the Django provider from the ``MAESTRO`` settings."""

from __future__ import annotations

from django.db import connections

from maestro_core import ConfigurationError, SyncProvider, WallClock

from ._setup import ensure_django
from .conf import get_settings, synced_models
from .store import DjangoDataStore

__all__ = ["create_django_provider"]


def create_django_provider(
    provider_id: str | None = None,
    *,
    settings: str | None = None,
    using: str | None = None,
    wall_clock: WallClock | None = None,
    max_changes_per_session: int | None = None,
) -> SyncProvider:
    """The provider of this project's database.

    Defaults come from ``MAESTRO``: ``PROVIDER_ID``, ``DATABASE`` and
    ``MAX_CHANGES_PER_SESSION``; the conflict policies named in ``MODELS``
    entries are handed to the orchestrator through the provider. *settings*,
    when given, must be the settings module Django runs with.
    """
    ensure_django(settings)
    config = get_settings()
    alias = using if using is not None else config["DATABASE"]
    if not isinstance(alias, str) or alias not in connections.settings:
        raise ConfigurationError(
            f"database alias {alias!r} is not configured; expected one of "
            f"{sorted(connections.settings)!r} (see DATABASES)"
        )
    policies = {
        synced.entity_name: synced.conflict_policy
        for synced in synced_models()
        if synced.conflict_policy is not None
    }
    return SyncProvider(
        store=DjangoDataStore(provider_id, using=alias, wall_clock=wall_clock),
        max_changes_per_session=max_changes_per_session
        or config["MAX_CHANGES_PER_SESSION"],
        conflict_policies=policies,
    )
