"""Building stores, providers and locks from a Firestore client, or none."""

from __future__ import annotations

import logging
from typing import Any

from maestro_core import SyncProvider, WallClock

from .lock import FirestoreSyncLock
from .store import DEFAULT_PREFIX, FirestoreDataStore

__all__ = [
    "create_firestore_lock",
    "create_firestore_provider",
    "create_firestore_store",
    "default_client",
]

logger = logging.getLogger(__name__)


def default_client() -> Any:
    """The default Firebase app's client, else ``google.cloud.firestore.Client()``.

    ``firebase_admin`` is optional: it is used when it is installed and its
    default app is initialised. The plain client honours
    ``FIRESTORE_EMULATOR_HOST`` and ``GOOGLE_CLOUD_PROJECT``.
    """
    try:
        import firebase_admin
        from firebase_admin import firestore as admin_firestore
    except ImportError:
        pass
    else:
        try:
            app = firebase_admin.get_app()
        except ValueError:
            logger.debug("firebase_admin has no default app; using a plain client")
        else:
            return admin_firestore.client(app)
    from google.cloud import firestore

    return firestore.Client()


def create_firestore_store(
    client: Any = None,
    provider_id: str = "firestore",
    *,
    prefix: str = DEFAULT_PREFIX,
    wall_clock: WallClock | None = None,
) -> FirestoreDataStore:
    """A store over *client* (see :func:`default_client` when it is ``None``)."""
    return FirestoreDataStore(
        client if client is not None else default_client(),
        provider_id,
        prefix=prefix,
        wall_clock=wall_clock,
    )


def create_firestore_provider(
    client: Any = None,
    provider_id: str = "firestore",
    max_changes_per_session: int = 50,
    *,
    prefix: str = DEFAULT_PREFIX,
    wall_clock: WallClock | None = None,
) -> SyncProvider:
    """A provider over a Firestore database; every argument is optional."""
    return SyncProvider(
        store=create_firestore_store(
            client, provider_id, prefix=prefix, wall_clock=wall_clock
        ),
        max_changes_per_session=max_changes_per_session,
    )


def create_firestore_lock(
    client: Any = None, *, prefix: str = DEFAULT_PREFIX, name: str = "sync"
) -> FirestoreSyncLock:
    """A sync lock in the same database as the providers it guards."""
    return FirestoreSyncLock(
        client if client is not None else default_client(), prefix=prefix, name=name
    )
