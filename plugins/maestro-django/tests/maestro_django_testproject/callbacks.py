"""The committed-changes callback, written as the user documentation shows.

It syncs with an in-memory provider instead of Firestore. Tests turn the
sync on; otherwise it only counts calls.
"""

import threading

import maestro.backends.django
from maestro.backends.django.contrib.factory import create_django_provider

from maestro.core.orchestrator import SyncOrchestrator
from maestro_core import create_memory_provider

calls: list[bool] = []
"""For each call: whether a transaction was still open (it never should be)."""
threads: list[threading.Thread] = []
sync_enabled = False
memory_provider = create_memory_provider("memory")


def on_changes_commited():
    from django.db import connection

    calls.append(connection.in_atomic_block)
    if not sync_enabled:
        return
    thread = threading.Thread(target=start_sync, args=["django"])
    threads.append(thread)
    thread.start()


def start_sync(initial_source_provider_id: "str"):
    from django.db import connections

    try:
        django_provider = create_django_provider()
        sync_lock = maestro.backends.django.DjangoSyncLock()
        orchestrator = SyncOrchestrator(
            sync_lock=sync_lock,
            providers=[django_provider, memory_provider],
            maximum_duration_seconds=10 * 60,
        )
        orchestrator.run(initial_source_provider_id=initial_source_provider_id)
    finally:
        connections.close_all()


def memory():
    """The in-memory provider, for ``MAESTRO['SYNC_PROVIDERS']``."""
    return memory_provider
