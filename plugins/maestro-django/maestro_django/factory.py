"""Building the Django provider from the ``MAESTRO`` settings."""

from __future__ import annotations

from maestro_core import SyncProvider, WallClock

from .conf import get_settings, synced_models
from .store import DjangoDataStore

__all__ = ["create_django_provider"]


def create_django_provider(
    provider_id: str | None = None,
    *,
    using: str | None = None,
    wall_clock: WallClock | None = None,
    max_changes_per_session: int | None = None,
) -> SyncProvider:
    """The provider of this project's database.

    Defaults come from ``MAESTRO``: ``PROVIDER_ID``, ``DATABASE`` and
    ``MAX_CHANGES_PER_SESSION``; the conflict policies named in ``MODELS``
    entries are handed to the orchestrator through the provider.
    """
    config = get_settings()
    policies = {
        synced.entity_name: synced.conflict_policy
        for synced in synced_models()
        if synced.conflict_policy is not None
    }
    return SyncProvider(
        store=DjangoDataStore(provider_id, using=using, wall_clock=wall_clock),
        max_changes_per_session=max_changes_per_session
        or config["MAX_CHANGES_PER_SESSION"],
        conflict_policies=policies,
    )
