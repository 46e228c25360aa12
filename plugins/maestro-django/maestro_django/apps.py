"""The app configuration: connects the capture receivers and the checks."""

from __future__ import annotations

from django.apps import AppConfig


class MaestroConfig(AppConfig):
    """Installed as ``"maestro.backends.django"`` (or ``"maestro_django"``)."""

    name = "maestro_django"
    label = "maestro"
    verbose_name = "Maestro sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import capture, checks

        checks.register()
        capture.reconnect()
