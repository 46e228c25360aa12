"""A ready-made ``CHANGES_COMMITTED_CALLBACK``: sync in a background thread.

Set ``"CHANGES_COMMITTED_CALLBACK": "maestro_django.callbacks.sync_in_background"``
and list the other providers in ``SYNC_PROVIDERS``. One background sync runs
at a time per process; changes committed while it runs make it go round once
more, and the database lock keeps other processes from syncing at once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import connections
from django.utils.module_loading import import_string

from maestro_core import ConfigurationError, SyncOrchestrator, SyncProvider, SyncSession
from maestro_core.plugins import get_backend

from .conf import get_settings
from .factory import create_django_provider
from .lock import DjangoSyncLock

__all__ = ["run_sync", "sync_in_background", "wait_for_background_sync"]

logger = logging.getLogger(__name__)

_state = threading.Condition()
_running = False
_again = False


def _other_provider(spec: Any) -> SyncProvider:
    if isinstance(spec, str):
        provider = import_string(spec)()
    elif isinstance(spec, dict) and isinstance(spec.get("backend"), str):
        factory = get_backend(spec["backend"]).provider_factory
        provider = factory(
            provider_id=spec.get("id", spec["backend"]), **spec.get("options", {})
        )
    elif callable(spec):
        provider = spec()
    else:
        raise ConfigurationError(
            f"SYNC_PROVIDERS entry {spec!r} is not valid; expected the import path "
            "of a function returning a SyncProvider, or {'backend': name, "
            "'id': provider id, 'options': {...}}"
        )
    if not isinstance(provider, SyncProvider):
        raise ConfigurationError(
            f"SYNC_PROVIDERS entry {spec!r} gave {provider!r}; expected a SyncProvider"
        )
    return provider


def run_sync(initial_source_provider_id: str | None = None) -> list[SyncSession] | None:
    """One full round between this project and ``SYNC_PROVIDERS``.

    Returns the sessions, or ``None`` when another process holds the lock.
    """
    config = get_settings()
    local = create_django_provider()
    others = [_other_provider(spec) for spec in config["SYNC_PROVIDERS"]]
    if not others:
        raise ConfigurationError(
            "MAESTRO['SYNC_PROVIDERS'] is empty; expected at least one provider "
            "to sync with"
        )
    orchestrator = SyncOrchestrator(
        sync_lock=DjangoSyncLock(),
        providers=[local, *others],
        maximum_duration_seconds=config["SYNC_MAXIMUM_DURATION_SECONDS"],
        default_conflict_policy=config["DEFAULT_CONFLICT_POLICY"],
    )
    return orchestrator.run(initial_source_provider_id or local.provider_id)


def _run_until_settled() -> None:
    global _running, _again
    try:
        while True:
            with _state:
                _again = False
            try:
                run_sync()
            except Exception:
                logger.error("background sync failed", exc_info=True)
            with _state:
                if not _again:
                    return
    finally:
        connections.close_all()
        with _state:
            _running = False
            _state.notify_all()


def sync_in_background() -> None:
    """Start a sync in a daemon thread, or ask the running one to go again."""
    global _running, _again
    with _state:
        if _running:
            _again = True
            return
        _running = True
    threading.Thread(
        target=_run_until_settled, name="maestro-sync", daemon=True
    ).start()


def wait_for_background_sync(timeout: float | None = None) -> bool:
    """Wait until no background sync runs; ``False`` if *timeout* ran out."""
    with _state:
        return _state.wait_for(lambda: not _running, timeout)
