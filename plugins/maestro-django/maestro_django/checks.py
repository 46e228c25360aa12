"""System checks of the ``MAESTRO`` settings (``maestro.E001`` ...).

======================  ===================================================
id                      problem
======================  ===================================================
``maestro.E001``        a ``MODELS`` entry is malformed or names no model
``maestro.E002``        ``CHANGES_COMMITTED_CALLBACK`` cannot be imported
``maestro.E003``        a model's primary key cannot be an item id
``maestro.E004``        an entry names fields its model does not have
``maestro.E005``        two entries share an entity name
``maestro.E006``        an entry's ``conflict_policy`` is not valid
``maestro.E007``        ``MAESTRO`` is not a dict
``maestro.W001``        the middleware is installed but ``MODELS`` is empty
======================  ===================================================
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.module_loading import import_string

from .conf import get_settings, parse_model_entry

__all__ = ["check_settings", "register"]

MIDDLEWARE_PATHS = (
    "maestro.backends.django.contrib.middleware.SyncQueueMiddleware",
    "maestro_django.middleware.SyncQueueMiddleware",
)
_ID_KINDS = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "PositiveBigIntegerField",
    "CharField",
    "SlugField",
    "EmailField",
    "TextField",
    "UUIDField",
}


def _pk_kind(model: type[models.Model]) -> str:
    pk = model._meta.pk
    if pk is None:
        return "none"
    field = pk.target_field if pk.is_relation else pk
    return field.get_internal_type()


def _check_entry(entry: Any, seen: dict[str, str]) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    try:
        spec = parse_model_entry(entry)
        model = apps.get_model(spec["model"])
    except (ValueError, LookupError) as e:
        return [
            checks.Error(
                f"MAESTRO['MODELS'] entry {entry!r} names no installed model: {e}",
                hint="Use 'app_label.model_name' of a model in INSTALLED_APPS.",
                id="maestro.E001",
            )
        ]
    label = model._meta.label_lower
    kind = _pk_kind(model)
    if kind not in _ID_KINDS:
        errors.append(
            checks.Error(
                f"{label} has a primary key of type {kind}, which cannot be an item id",
                hint="Synced models need an integer, string or UUID primary key.",
                obj=model,
                id="maestro.E003",
            )
        )
    names = {f.name for f in model._meta.get_fields() if f.concrete}
    for key in ("read_only_fields", "fields"):
        listed = spec.get(key) or ()
        listed = [listed] if isinstance(listed, str) else list(listed)
        unknown = sorted(set(listed) - names)
        if unknown:
            errors.append(
                checks.Error(
                    f"MAESTRO['MODELS'] entry for {label} lists {key} {unknown!r}, "
                    "which the model does not have",
                    hint=f"Expected names among {sorted(names)!r}.",
                    obj=model,
                    id="maestro.E004",
                )
            )
    entity = spec.get("entity_name") or label
    if entity in seen:
        errors.append(
            checks.Error(
                f"entity name {entity!r} is used by {seen[entity]} and {label}",
                hint="Give one of them another 'entity_name'.",
                obj=model,
                id="maestro.E005",
            )
        )
    seen[entity] = label
    policy = spec.get("conflict_policy")
    if policy is not None:
        from maestro_core import coerce_policy

        try:
            coerce_policy(policy)
        except Exception as e:
            errors.append(
                checks.Error(
                    f"conflict_policy {policy!r} of {label} is not valid: {e}",
                    hint="Name a registered policy or give an import path.",
                    obj=model,
                    id="maestro.E006",
                )
            )
    return errors


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every problem of the ``MAESTRO`` settings."""
    try:
        config = get_settings()
    except ImproperlyConfigured as e:
        return [
            checks.Error(
                str(e),
                hint="Set MAESTRO to a dict such as {'MODELS': ['app.model']}.",
                id="maestro.E007",
            )
        ]
    errors: list[checks.CheckMessage] = []
    seen: dict[str, str] = {}
    entries = config["MODELS"]
    if isinstance(entries, (str, dict)) or not hasattr(entries, "__iter__"):
        entries = [entries]
    for entry in entries:
        errors.extend(_check_entry(entry, seen))
    callback = config["CHANGES_COMMITTED_CALLBACK"]
    if isinstance(callback, str):
        try:
            target = import_string(callback)
        except ImportError as e:
            errors.append(
                checks.Error(
                    f"CHANGES_COMMITTED_CALLBACK {callback!r} cannot be imported: {e}",
                    hint="Give the dotted path of a function taking no arguments.",
                    id="maestro.E002",
                )
            )
        else:
            if not callable(target):
                errors.append(
                    checks.Error(
                        f"CHANGES_COMMITTED_CALLBACK {callback!r} is {target!r}, "
                        "which is not callable",
                        hint="Give the dotted path of a function.",
                        id="maestro.E002",
                    )
                )
    middleware = getattr(settings, "MIDDLEWARE", None) or []
    if not config["MODELS"] and any(m in MIDDLEWARE_PATHS for m in middleware):
        errors.append(
            checks.Warning(
                "SyncQueueMiddleware is installed but MAESTRO['MODELS'] is empty, "
                "so no change is ever captured",
                hint="List the models to synchronise in MAESTRO['MODELS'].",
                id="maestro.W001",
            )
        )
    return errors


def register() -> None:
    """Register the checks (called from the app's ``ready()``)."""
    checks.register(check_settings, "maestro")
