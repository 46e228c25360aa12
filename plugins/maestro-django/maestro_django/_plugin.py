"""Registers the Django backend through the ``maestro`` entry-point group."""

from __future__ import annotations

from typing import Any

from maestro_core import Backend, SyncLock, SyncProvider, hookimpl
from maestro_core.plugins import RegisterBackend


def _provider(provider_id: str | None = None, **options: Any) -> SyncProvider:
    from .factory import create_django_provider

    return create_django_provider(provider_id, **options)


def _lock(**options: Any) -> SyncLock:
    from .lock import DjangoSyncLock

    return DjangoSyncLock(**options)


class _LazySerializer:
    """The serializer, imported when used (models need Django set up)."""

    def serialize(self, entity_name: str, record: Any) -> dict[str, Any]:
        from .serializer import DjangoSerializer

        return DjangoSerializer().serialize(entity_name, record)

    def deserialize(self, entity_name: str, item: dict[str, Any]) -> Any:
        from .serializer import DjangoSerializer

        return DjangoSerializer().deserialize(entity_name, item)


@hookimpl
def maestro_register_backends(register: RegisterBackend) -> None:
    register(
        Backend(
            name="django",
            provider_factory=_provider,
            lock_factory=_lock,
            serializer=_LazySerializer(),
            description="A Django project's database, through the maestro app.",
        )
    )
