"""Exceptions raised by the Maestro core."""

from __future__ import annotations

__all__ = [
    "BackendNotFoundError",
    "CodecError",
    "ConfigurationError",
    "ConflictNotFoundError",
    "InvalidItemError",
    "MaestroError",
    "PluginLoadError",
    "RegistrationError",
    "SyncLockedError",
    "SyncTimeoutError",
    "UnknownProviderError",
]


class MaestroError(Exception):
    """Base class of every error Maestro raises on purpose."""


class InvalidItemError(MaestroError, ValueError):
    """An item handed to Maestro does not have the shape its operation needs."""

    def __init__(self, message: str, *, item_id: object = None, key: str | None = None):
        super().__init__(message)
        self.item_id = item_id
        self.key = key


class CodecError(InvalidItemError):
    """A value cannot be put into, or read from, Maestro's canonical encoding."""

    def __init__(self, message: str, *, path: str = "", value: object = None):
        super().__init__(message, key=path or None)
        self.path = path
        self.value = value


class ConfigurationError(MaestroError, ValueError):
    """Providers, policies or options were configured in a way that cannot work."""


class UnknownProviderError(MaestroError, LookupError):
    """A provider id names none of the providers an orchestrator was given."""

    def __init__(self, provider_id: str, known: list[str]):
        super().__init__(
            f"unknown provider {provider_id!r}; expected one of {sorted(known)!r}"
        )
        self.provider_id = provider_id
        self.known = known


class BackendNotFoundError(MaestroError, LookupError):
    """No installed plugin registered a backend or policy by this name."""


class RegistrationError(MaestroError, ValueError):
    """A plugin tried to register something under an invalid or taken name."""


class PluginLoadError(MaestroError, ImportError):
    """A plugin named in the ``maestro`` entry-point group failed to load."""

    def __init__(self, message: str, *, plugin_name: str):
        super().__init__(message)
        self.plugin_name = plugin_name


class ConflictNotFoundError(MaestroError, LookupError):
    """A conflict id or a winning change id names no recorded conflict or change."""


class SyncTimeoutError(MaestroError, TimeoutError):
    """A sync session ran past the orchestrator's time limit and was stopped."""

    def __init__(self, message: str, *, session_id: str, limit_seconds: float):
        super().__init__(message)
        self.session_id = session_id
        self.limit_seconds = limit_seconds


class SyncLockedError(MaestroError, RuntimeError):
    """Another orchestrator holds the sync lock."""
