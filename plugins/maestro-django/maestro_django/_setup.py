"""Configuring Django from the options of a Maestro config file.

The ``maestro`` command line builds the Django provider and lock from plain
options (``settings``, ``using``). Django can be configured once per
process, so naming other settings than those in effect is an error rather
than a silent switch.
"""

from __future__ import annotations

import os
from typing import Any

from maestro_core import ConfigurationError

__all__ = ["check_options", "ensure_django"]

PROVIDER_OPTIONS = frozenset({"settings", "using"})


def ensure_django(settings_module: str | None) -> None:
    """Make sure Django is configured (with *settings_module*, when given).

    When Django is not configured yet, ``DJANGO_SETTINGS_MODULE`` is set to
    *settings_module* and ``django.setup()`` runs. When it is configured
    already, *settings_module* must be the module in effect.
    """
    import django
    from django.apps import apps
    from django.conf import settings

    if settings_module is not None and (
        not isinstance(settings_module, str) or not settings_module.strip()
    ):
        raise ConfigurationError(
            f"django option 'settings' {settings_module!r} is not valid; expected "
            "the dotted path of a settings module, such as 'mysite.settings'"
        )
    if settings.configured:
        current = getattr(settings, "SETTINGS_MODULE", None)
        if settings_module is not None and current != settings_module:
            shown = repr(current) if current else "settings.configure()"
            raise ConfigurationError(
                f"django option 'settings' is {settings_module!r}, but Django is "
                f"already configured with {shown}; expected the settings in "
                "effect (one process runs one Django project)"
            )
    elif settings_module is not None:
        os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    else:
        if not os.environ.get("DJANGO_SETTINGS_MODULE"):
            raise ConfigurationError(
                "Django is not configured and no 'settings' option was given; "
                "expected the dotted path of the project's settings module"
            )
    if not apps.ready:
        try:
            django.setup()
        except ImportError as e:
            raise ConfigurationError(
                f"django settings module {settings_module!r} cannot be imported: "
                f"{e}; expected an importable settings module"
            ) from e


def check_options(options: dict[str, Any], allowed: frozenset[str]) -> None:
    """Refuse options the Django provider does not know."""
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigurationError(
            f"the django backend got unknown options {unknown!r}; expected only "
            f"{sorted(allowed)!r}"
        )
