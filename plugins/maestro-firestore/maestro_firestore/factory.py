"""Building stores, providers and locks from a Firestore client, or none."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from maestro_core import SyncProvider, WallClock

from .lock import FirestoreSyncLock
from .store import DEFAULT_PREFIX, FirestoreDataStore

__all__ = [
    "create_firestore_lock",
    "create_firestore_provider",
    "create_firestore_store",
    "default_client",
    "firestore_client",
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


def firestore_client(
    client: Any = None,
    *,
    project: str | None = None,
    emulator_host: str | None = None,
) -> Any:
    """The client a factory works with: *client*, or one made from the options.

    With no argument, :func:`default_client`. *project* names the Google Cloud
    project; *emulator_host* (``"127.0.0.1:8080"``) points the client at an
    emulator, with anonymous credentials, without touching the environment of
    clients made later.
    """
    if client is not None:
        if project is not None or emulator_host is not None:
            raise ValueError(
                f"client {client!r} was given with project {project!r} and "
                f"emulator_host {emulator_host!r}; expected either a client or "
                "the options to make one"
            )
        return client
    if project is None and emulator_host is None:
        return default_client()
    from google.cloud import firestore

    if emulator_host is None:
        return firestore.Client(project=project)
    if not isinstance(emulator_host, str) or ":" not in emulator_host:
        raise ValueError(
            f"emulator_host {emulator_host!r} is not valid; expected 'host:port'"
        )
    from google.auth.credentials import AnonymousCredentials

    from .emulator import _environ

    # The client reads the emulator's address from the environment once, when
    # it is made; the variable is set only for that moment.
    with _environ({"FIRESTORE_EMULATOR_HOST": emulator_host}):
        return firestore.Client(project=project, credentials=AnonymousCredentials())


def create_firestore_store(
    client: Any = None,
    provider_id: str = "firestore",
    *,
    project: str | None = None,
    emulator_host: str | None = None,
    prefix: str = DEFAULT_PREFIX,
    wall_clock: WallClock | None = None,
) -> FirestoreDataStore:
    """A store over *client*, or over one made as :func:`firestore_client` says."""
    return FirestoreDataStore(
        firestore_client(client, project=project, emulator_host=emulator_host),
        provider_id,
        prefix=prefix,
        wall_clock=wall_clock,
    )


def create_firestore_provider(
    client: Any = None,
    provider_id: str = "firestore",
    max_changes_per_session: int = 50,
    *,
    project: str | None = None,
    emulator_host: str | None = None,
    prefix: str = DEFAULT_PREFIX,
    conflict_policies: Mapping[str, Any] | None = None,
    wall_clock: WallClock | None = None,
) -> SyncProvider:
    """A provider over a Firestore database; every argument is optional.

    *conflict_policies* maps collection paths to policies (names, specs or
    objects) that every orchestrator syncing this provider then applies.
    """
    return SyncProvider(
        store=create_firestore_store(
            client,
            provider_id,
            project=project,
            emulator_host=emulator_host,
            prefix=prefix,
            wall_clock=wall_clock,
        ),
        max_changes_per_session=max_changes_per_session,
        conflict_policies=dict(conflict_policies or {}),
    )


def create_firestore_lock(
    client: Any = None,
    *,
    project: str | None = None,
    emulator_host: str | None = None,
    prefix: str = DEFAULT_PREFIX,
    name: str = "sync",
) -> FirestoreSyncLock:
    """A sync lock in the same database as the providers it guards."""
    return FirestoreSyncLock(
        firestore_client(client, project=project, emulator_host=emulator_host),
        prefix=prefix,
        name=name,
    )
