"""Registers the Firestore backend through the core's ``maestro`` entry points.

Nothing here imports the Firestore client library: it loads when a provider,
a lock or the serializer is first used.
"""

from __future__ import annotations

from typing import Any

from maestro_core import Backend, SyncLock, SyncProvider, hookimpl
from maestro_core.plugins import RegisterBackend


def _provider(provider_id: str = "firestore", **options: Any) -> SyncProvider:
    from .factory import create_firestore_provider

    return create_firestore_provider(provider_id=provider_id, **options)


def _lock(**options: Any) -> SyncLock:
    from .factory import create_firestore_lock

    return create_firestore_lock(**options)


class _LazySerializer:
    """The serializer, imported when used."""

    def serialize(self, entity_name: str, record: Any) -> dict[str, Any]:
        from .serializer import FirestoreSerializer

        return FirestoreSerializer().serialize(entity_name, record)

    def deserialize(self, entity_name: str, item: dict[str, Any]) -> Any:
        from .serializer import FirestoreSerializer

        return FirestoreSerializer().deserialize(entity_name, item)


@hookimpl
def maestro_register_backends(register: RegisterBackend) -> None:
    register(
        Backend(
            name="firestore",
            provider_factory=_provider,
            lock_factory=_lock,
            serializer=_LazySerializer(),
            description="Cloud Firestore, with capture of other clients' writes.",
        )
    )
