"""Plugin loading and the registries of backends and policies.

Plugins are found through the ``maestro`` entry-point group, loaded once, the
first time something asks for the plugin manager. Two environment variables
steer autoloading:

``MAESTRO_DISABLE_PLUGIN_AUTOLOAD``
    When set to a non-empty value other than ``0``, no entry point is loaded;
    only the built-in plugin and those registered by hand are active.
``MAESTRO_PLUGINS``
    A comma-separated list of entry-point names; when set, only those load.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import re
import threading
from collections.abc import Callable
from typing import Any, Protocol

import pluggy
from attrs import field, frozen

from . import hookspecs
from .exceptions import (
    BackendNotFoundError,
    ConfigurationError,
    PluginLoadError,
    RegistrationError,
)
from .lock import SyncLock
from .policies import BUILTIN_POLICIES, ConflictPolicy
from .provider import SyncProvider

__all__ = [
    "ENTRY_POINT_GROUP",
    "Backend",
    "ItemSerializer",
    "RegisterBackend",
    "RegisterPolicy",
    "coerce_policy",
    "create_plugin_manager",
    "get_backend",
    "get_backends",
    "get_plugin_manager",
    "get_policy",
    "policy_names",
    "reset_plugins",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "maestro"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ItemSerializer(Protocol):
    """Turns a backend's native records into canonical items and back."""

    def serialize(self, entity_name: str, record: Any) -> dict[str, Any]:
        """The canonical item of a native *record*."""
        ...

    def deserialize(self, entity_name: str, item: dict[str, Any]) -> Any:
        """The native record of a canonical *item*."""
        ...


def _check_name(instance: object, attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise RegistrationError(
            f"backend name {value!r} is not valid; expected lowercase letters, "
            "digits and underscores, starting with a letter"
        )


@frozen
class Backend:
    """A storage backend as a plugin registers it.

    ``provider_factory(**options)`` returns a :class:`SyncProvider`;
    ``lock_factory(**options)`` a :class:`SyncLock` suited to the backend.
    ``distribution`` and ``version`` are filled in by the loader.
    """

    name: str = field(validator=_check_name)
    provider_factory: Callable[..., SyncProvider]
    lock_factory: Callable[..., SyncLock] | None = None
    serializer: ItemSerializer | None = None
    description: str = ""
    distribution: str | None = None
    version: str | None = None


RegisterBackend = Callable[[Backend], None]
RegisterPolicy = Callable[[str, Callable[..., ConflictPolicy]], None]


class _Registry:
    """What the plugins registered, collected once."""

    def __init__(self, pm: pluggy.PluginManager, dists: dict[str, tuple[str, str]]):
        self.backends: dict[str, Backend] = {}
        self.policies: dict[str, Callable[..., ConflictPolicy]] = {}
        self._dists = dists
        self._collect(pm)

    def _collect(self, pm: pluggy.PluginManager) -> None:
        for impl in pm.hook.maestro_register_backends.get_hookimpls():
            dist = self._dists.get(impl.plugin_name)

            def register_backend(backend: Backend, dist: Any = dist) -> None:
                if not isinstance(backend, Backend):
                    raise RegistrationError(
                        f"register got {backend!r}; expected a maestro_core.Backend"
                    )
                if backend.name in self.backends:
                    raise RegistrationError(
                        f"backend {backend.name!r} is registered twice; expected "
                        "each backend name to be used by one plugin"
                    )
                if dist is not None and backend.distribution is None:
                    from attrs import evolve

                    backend = evolve(backend, distribution=dist[0], version=dist[1])
                self.backends[backend.name] = backend

            impl.function(register=register_backend)

        def register_policy(name: str, factory: Callable[..., ConflictPolicy]) -> None:
            if not isinstance(name, str) or not _NAME.match(name):
                raise RegistrationError(
                    f"policy name {name!r} is not valid; expected lowercase letters, "
                    "digits and underscores, starting with a letter"
                )
            if name in self.policies:
                raise RegistrationError(
                    f"conflict policy {name!r} is registered twice; expected each "
                    "policy name to be used by one plugin"
                )
            if not callable(factory):
                raise RegistrationError(
                    f"conflict policy {name!r} has factory {factory!r}; expected a "
                    "callable returning a ConflictPolicy"
                )
            self.policies[name] = factory

        pm.hook.maestro_register_policies(register=register_policy)


_lock = threading.RLock()
_manager: pluggy.PluginManager | None = None
_registry: _Registry | None = None
_dists: dict[str, tuple[str, str]] = {}


def _autoload_enabled() -> bool:
    value = os.environ.get("MAESTRO_DISABLE_PLUGIN_AUTOLOAD", "")
    return value in ("", "0")


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    wanted = os.environ.get("MAESTRO_PLUGINS")
    names = {n.strip() for n in wanted.split(",") if n.strip()} if wanted else None
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if names is not None and ep.name not in names:
            continue
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as e:
            raise PluginLoadError(
                f"plugin {ep.name!r} ({ep.value}) failed to load: {e}",
                plugin_name=ep.name,
            ) from e
        pm.register(plugin, name=ep.name)
        if ep.dist is not None:
            _dists[ep.name] = (ep.dist.metadata["Name"], ep.dist.version)
        logger.debug("loaded plugin %r from %s", ep.name, ep.value)


def create_plugin_manager(
    *plugins: object, autoload: bool = False
) -> pluggy.PluginManager:
    """A new plugin manager with the built-in plugin and *plugins*.

    With *autoload*, entry-point plugins load too (as for the process-wide
    manager). Handy for tests and for embedding with a fixed set of plugins.
    """
    from . import _builtin

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(_builtin, name="maestro_core.builtin")
    for plugin in plugins:
        pm.register(plugin)
    if autoload and _autoload_enabled():
        _load_entry_points(pm)
    return pm


def get_plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, created and loaded on first use."""
    global _manager
    with _lock:
        if _manager is None:
            _manager = create_plugin_manager(autoload=True)
        return _manager


def _get_registry() -> _Registry:
    global _registry
    with _lock:
        if _registry is None:
            _registry = _Registry(get_plugin_manager(), _dists)
        return _registry


def reset_plugins() -> None:
    """Forget loaded plugins and registries; the next use loads them anew."""
    global _manager, _registry
    with _lock:
        _manager = None
        _registry = None
        _dists.clear()


def get_backends() -> dict[str, Backend]:
    """Every registered backend, by name."""
    return dict(sorted(_get_registry().backends.items()))


def get_backend(name: str) -> Backend:
    """The backend registered as *name*."""
    backends = _get_registry().backends
    try:
        return backends[name]
    except KeyError:
        raise BackendNotFoundError(
            f"unknown backend {name!r}; expected one of {sorted(backends)!r} "
            "(is its plugin installed?)"
        ) from None


def policy_names() -> list[str]:
    """The names of every registered conflict policy."""
    return sorted(_get_registry().policies)


def get_policy(name: str, *args: Any) -> ConflictPolicy:
    """A new instance of the policy registered as *name*.

    The core's own policies need no plugin, so naming one loads none.
    """
    if name in BUILTIN_POLICIES:
        return BUILTIN_POLICIES[name](*args)
    policies = _get_registry().policies
    try:
        factory = policies[name]
    except KeyError:
        raise BackendNotFoundError(
            f"unknown conflict policy {name!r}; expected one of {sorted(policies)!r}"
        ) from None
    return factory(*args)


def _import_object(path: str) -> Any:
    module_name, _, attr = path.replace(":", ".").rpartition(".")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


def coerce_policy(spec: Any) -> ConflictPolicy:
    """A conflict policy from how a configuration names it.

    Accepts a :class:`ConflictPolicy`, a registered name (``"manual"``), a
    name with arguments (``{"name": "prefer_provider", "args": ["django"]}``
    or ``["prefer_provider", "django"]``), or the import path of a policy
    class, factory or instance (``"myapp.policies.KeepTheirs"``).
    """
    if isinstance(spec, ConflictPolicy):
        return spec
    args: list[Any] = []
    name = spec
    if isinstance(spec, dict):
        name, args = spec.get("name"), list(spec.get("args", []))
    elif isinstance(spec, (list, tuple)) and spec:
        name, args = spec[0], list(spec[1:])
    if not isinstance(name, str) or not name:
        raise ConfigurationError(
            f"conflict policy {spec!r} is not valid; expected a policy name, "
            "an import path, or a ConflictPolicy"
        )
    if name in BUILTIN_POLICIES or name in _get_registry().policies:
        try:
            return get_policy(name, *args)
        except (TypeError, ValueError) as e:
            raise ConfigurationError(
                f"conflict policy {name!r} with arguments {args!r} is not valid: {e}"
            ) from e
    if "." not in name:
        raise ConfigurationError(
            f"unknown conflict policy {name!r}; expected one of {policy_names()!r} "
            "or an import path"
        )
    try:
        target = _import_object(name)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigurationError(
            f"conflict policy {name!r} cannot be imported: {e}"
        ) from e
    policy = target if isinstance(target, ConflictPolicy) else target(*args)
    if not isinstance(policy, ConflictPolicy):
        raise ConfigurationError(
            f"conflict policy {name!r} gave {policy!r}; expected a ConflictPolicy"
        )
    return policy
