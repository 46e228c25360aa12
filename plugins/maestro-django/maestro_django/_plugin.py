"""Registers the Django backend through the ``maestro`` entry-point group."""

from __future__ import annotations

from typing import Any

from maestro_core import Backend, SyncLock, SyncProvider, hookimpl
from maestro_core.plugins import RegisterBackend

from ._setup import PROVIDER_OPTIONS, check_options, ensure_django


def _provider(
    provider_id: str | None = None,
    max_changes_per_session: int | None = None,
    **options: Any,
) -> SyncProvider:
    """The provider from config-file options: ``settings`` and ``using``."""
    check_options(options, PROVIDER_OPTIONS)
    ensure_django(options.get("settings"))
    from .factory import create_django_provider

    return create_django_provider(
        provider_id,
        using=options.get("using"),
        max_changes_per_session=max_changes_per_session,
    )


def _lock(name: str | None = None, **options: Any) -> SyncLock:
    """The lock from the same options; those it does not need are ignored."""
    ensure_django(options.get("settings"))
    from .lock import DjangoSyncLock

    return DjangoSyncLock(name, using=options.get("using"))


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
