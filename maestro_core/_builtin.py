"""The plugin the core registers itself: the memory backend and the policies.

It goes through the same hooks as any third-party plugin.
"""

from __future__ import annotations

import importlib.metadata

from .hookspecs import hookimpl
from .lock import InMemorySyncLock
from .memory import create_memory_provider
from .plugins import Backend, RegisterBackend, RegisterPolicy
from .policies import BUILTIN_POLICIES

DISTRIBUTION = "maestro-sync"


def _core_version() -> str | None:
    """The installed core's version; ``None`` when run from an uninstalled tree."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


@hookimpl
def maestro_register_backends(register: RegisterBackend) -> None:
    # The built-in plugin comes from no entry point, so the loader cannot
    # tell which distribution provides it; it says so itself.
    register(
        Backend(
            name="memory",
            provider_factory=create_memory_provider,
            lock_factory=InMemorySyncLock,
            description="In-process dictionaries; the reference backend.",
            distribution=DISTRIBUTION,
            version=_core_version(),
        )
    )


@hookimpl
def maestro_register_policies(register: RegisterPolicy) -> None:
    for name, factory in BUILTIN_POLICIES.items():
        register(name, factory)
