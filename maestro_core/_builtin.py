"""The plugin the core registers itself: the memory backend and the policies.

It goes through the same hooks as any third-party plugin.
"""

from __future__ import annotations

from .hookspecs import hookimpl
from .lock import InMemorySyncLock
from .memory import create_memory_provider
from .plugins import Backend, RegisterBackend, RegisterPolicy
from .policies import BUILTIN_POLICIES


@hookimpl
def maestro_register_backends(register: RegisterBackend) -> None:
    register(
        Backend(
            name="memory",
            provider_factory=create_memory_provider,
            lock_factory=InMemorySyncLock,
            description="In-process dictionaries; the reference backend.",
        )
    )


@hookimpl
def maestro_register_policies(register: RegisterPolicy) -> None:
    for name, factory in BUILTIN_POLICIES.items():
        register(name, factory)
