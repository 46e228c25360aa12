"""The ``MAESTRO`` settings dict, merged over defaults and cached.

The cache is cleared on ``setting_changed``, so ``override_settings`` and
``modify_settings`` work in tests. The synced models are resolved from
``MODELS`` lazily, once the app registry is ready.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import field, frozen
from django.apps import apps
from django.conf import settings
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver

from .exceptions import UnknownEntityError

__all__ = [
    "DEFAULTS",
    "SyncedModel",
    "get_settings",
    "model_for_entity",
    "reset",
    "synced_model",
    "synced_models",
]

DEFAULTS: dict[str, Any] = {
    # Labels ("app.model") or dicts describing the models to synchronise.
    "MODELS": [],
    # Import path of a function called after changes commit.
    "CHANGES_COMMITTED_CALLBACK": None,
    # The id under which this project's database takes part in syncs.
    "PROVIDER_ID": "django",
    # The database alias whose writes are captured and which holds Maestro's
    # tables for this provider.
    "DATABASE": "default",
    # How many changes a session sends in one batch from this provider.
    "MAX_CHANGES_PER_SESSION": 50,
    # Conflict policy for entities whose model entry names none.
    "DEFAULT_CONFLICT_POLICY": "default",
    # For the ready-made callback: the other providers, each the import path
    # of a function returning a SyncProvider, or {"backend": name, "id":
    # provider id (default: the backend's name), "options": {...}} for a
    # registered backend.
    "SYNC_PROVIDERS": [],
    # For the ready-made callback and maestro_sync: the time limit of a run.
    "SYNC_MAXIMUM_DURATION_SECONDS": 600,
    # The name of the DjangoSyncLock row the ready-made callback uses.
    "SYNC_LOCK_NAME": "default",
}


def _labels(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _frozen(names: Iterable[str]) -> frozenset[str]:
    return frozenset(names)


@frozen
class SyncedModel:
    """One entry of ``MODELS``: a model and how it takes part in syncs.

    ``fields``, when given, is the complete list of fields remote changes may
    write; ``read_only_fields`` are never written from remote changes. Both
    are still sent from this provider.
    """

    model: type[models.Model]
    entity_name: str
    read_only_fields: frozenset[str] = field(factory=frozenset, converter=_frozen)
    fields: tuple[str, ...] | None = None
    conflict_policy: Any = None

    @property
    def label(self) -> str:
        return self.model._meta.label_lower

    def may_write(self, name: str) -> bool:
        """Whether a remote change may write the field called *name*."""
        if name in self.read_only_fields:
            return False
        return self.fields is None or name in self.fields


@functools.cache
def get_settings() -> dict[str, Any]:
    """``settings.MAESTRO`` merged over :data:`DEFAULTS`."""
    user = getattr(settings, "MAESTRO", None) or {}
    if not isinstance(user, Mapping):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"MAESTRO setting {user!r} is a {type(user).__name__}; expected a dict"
        )
    return {**DEFAULTS, **user}


def parse_model_entry(entry: Any) -> dict[str, Any]:
    """Normalise one ``MODELS`` entry to a dict with at least ``model``.

    Raises ``ValueError`` naming the entry when it has the wrong shape.
    """
    if isinstance(entry, str):
        return {"model": entry}
    if isinstance(entry, Mapping) and isinstance(entry.get("model"), str):
        unknown = set(entry) - {
            "model",
            "entity_name",
            "read_only_fields",
            "fields",
            "conflict_policy",
        }
        if unknown:
            raise ValueError(
                f"MODELS entry {entry!r} has unknown keys {sorted(unknown)!r}; "
                "expected model, entity_name, read_only_fields, fields, "
                "conflict_policy"
            )
        return dict(entry)
    raise ValueError(
        f"MODELS entry {entry!r} is not valid; expected 'app_label.model_name' or "
        "a dict with a 'model' key"
    )


def _resolve(entry: Any) -> SyncedModel:
    spec = parse_model_entry(entry)
    model = apps.get_model(spec["model"])
    fields: Iterable[str] | None = spec.get("fields")
    return SyncedModel(
        model=model,
        entity_name=spec.get("entity_name") or model._meta.label_lower,
        read_only_fields=_labels(spec.get("read_only_fields")),
        fields=None if fields is None else _labels(fields),
        conflict_policy=spec.get("conflict_policy"),
    )


@functools.cache
def _registry() -> tuple[dict[str, SyncedModel], dict[type, SyncedModel]]:
    by_entity: dict[str, SyncedModel] = {}
    by_model: dict[type, SyncedModel] = {}
    for entry in get_settings()["MODELS"]:
        synced = _resolve(entry)
        by_entity[synced.entity_name] = synced
        by_model[synced.model] = synced
    return by_entity, by_model


def synced_models() -> list[SyncedModel]:
    """Every model listed in ``MODELS``, in the order listed."""
    return list(_registry()[0].values())


def synced_model(model: type[models.Model]) -> SyncedModel | None:
    """The entry of *model* (or of the concrete model a proxy stands for)."""
    by_model = _registry()[1]
    found = by_model.get(model)
    if found is None and model._meta.proxy:
        found = by_model.get(model._meta.concrete_model)
    return found


def model_for_entity(entity_name: str) -> SyncedModel:
    """The entry whose entity is *entity_name*; refuses any other name."""
    try:
        return _registry()[0][entity_name]
    except KeyError:
        raise UnknownEntityError(
            f"entity {entity_name!r} is not synchronised by this Django provider; "
            f"expected one of {sorted(_registry()[0])!r} (see MAESTRO['MODELS'])"
        ) from None


def reset() -> None:
    """Forget the cached settings and models."""
    get_settings.cache_clear()
    _registry.cache_clear()


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("MAESTRO", "INSTALLED_APPS"):
        reset()
        from . import capture

        capture.reconnect()
