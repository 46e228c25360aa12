"""The configuration file: reading it, checking it, and building from it.

A configuration file (``maestro.toml``) names the providers with their
backends and options, the lock, the session time limit and the conflict
policies. :func:`load_config` reads one into a :class:`Config`, checking every
key on the way so that a mistake is reported once, naming the file and the
key; :meth:`Config.build_orchestrator` then opens the providers and the lock::

    from maestro_core.cli import close_orchestrator, load_config

    config = load_config("maestro.toml")
    orchestrator = config.build_orchestrator()
    try:
        orchestrator.run(config.initial_provider)
    finally:
        close_orchestrator(orchestrator)
"""

from __future__ import annotations

import inspect
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pluggy
from attrs import field, frozen

from ..exceptions import ConfigurationError, MaestroError
from ..lock import InMemorySyncLock, SyncLock
from ..orchestrator import SyncOrchestrator
from ..plugins import Backend, coerce_policy, get_backends
from ..provider import SyncProvider
from ._redact import MASK, Redactor, is_sensitive_key, redact_options

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_NAME",
    "Config",
    "ConfigFileError",
    "PolicySettings",
    "ProviderConfig",
    "ProviderOpenError",
    "SyncSettings",
    "close_lock",
    "close_orchestrator",
    "find_config",
    "load_config",
    "parse_config",
]

CONFIG_ENV_VAR = "MAESTRO_CONFIG"
DEFAULT_CONFIG_NAME = "maestro.toml"
DEFAULT_MAXIMUM_DURATION_SECONDS = 600.0

# Parameters of a provider factory that the configuration never sets as
# options: the command line passes the first two itself, and the wall clock is
# for tests.
_MANAGED_PARAMETERS = frozenset({"provider_id", "max_changes_per_session"})
_PROGRAMMATIC_PARAMETERS = frozenset({"wall_clock"})
_PROBLEMS_OF_OPTIONS = (TypeError, ValueError, LookupError, ImportError)


class ConfigFileError(ConfigurationError):
    """A configuration file has a mistake; the message names the file and key."""

    def __init__(self, path: str, key: str | None, problem: str):
        where = f"{path}: {key}: " if key else f"{path}: "
        super().__init__(where + problem)
        self.path = path
        self.key = key
        self.problem = problem


class ProviderOpenError(MaestroError, RuntimeError):
    """A backend accepted its options but could not open the provider or lock."""

    def __init__(self, message: str, *, provider_id: str):
        super().__init__(message)
        self.provider_id = provider_id


def _redacted_repr(options: Mapping[str, Any]) -> str:
    return repr(redact_options(options))


@frozen(kw_only=True)
class ProviderConfig:
    """One ``[[providers]]`` table.

    ``location`` says where the table is in the file (``providers[1]``), for
    messages. The repr hides option values that may be secrets.
    """

    id: str
    backend: str
    options: Mapping[str, Any] = field(factory=dict, repr=_redacted_repr)
    max_changes_per_session: int | None = None
    location: str = "providers"


@frozen(kw_only=True)
class SyncSettings:
    """The ``[sync]`` table."""

    maximum_duration_seconds: float = DEFAULT_MAXIMUM_DURATION_SECONDS
    initial_provider: str | None = None
    lock: str | None = None


@frozen(kw_only=True)
class PolicySettings:
    """The ``[policies]`` table: a default and a policy spec per entity."""

    default: Any = "default"
    entities: Mapping[str, Any] = field(factory=dict)


@frozen(kw_only=True)
class Config:
    """A checked configuration file, ready to build an orchestrator from.

    Build one with :func:`load_config` or :func:`parse_config`; they check
    what a file can get wrong on its own. Building providers checks the
    options against each backend and may still raise
    :class:`ConfigFileError`, or :class:`ProviderOpenError` when a backend
    cannot reach its database.
    """

    path: str
    providers: tuple[ProviderConfig, ...]
    sync: SyncSettings = field(factory=SyncSettings)
    policies: PolicySettings = field(factory=PolicySettings)

    @property
    def provider_ids(self) -> list[str]:
        """The providers' ids, in the file's order."""
        return [p.id for p in self.providers]

    @property
    def initial_provider(self) -> str:
        """The provider a sync starts from unless told otherwise."""
        return self.sync.initial_provider or self.providers[0].id

    def provider(self, provider_id: str, *, key: str = "provider") -> ProviderConfig:
        """The provider configured as *provider_id*; *key* names the asker."""
        for provider in self.providers:
            if provider.id == provider_id:
                return provider
        raise self.error(
            key,
            f"unknown provider {provider_id!r}; expected one of {self.provider_ids!r}",
        )

    def error(self, key: str | None, problem: str) -> ConfigFileError:
        """A :class:`ConfigFileError` about *key* of this file, redacted."""
        return ConfigFileError(self.path, key, self.redactor()(problem))

    def redactor(self) -> Redactor:
        """A redactor that knows every secret in this file's options."""
        redactor = Redactor()
        for provider in self.providers:
            redactor.add_options(provider.options)
        return redactor

    def backend_of(self, provider: ProviderConfig) -> Backend:
        """The registered backend *provider* names."""
        return _lookup_backend(self.path, provider)

    # -- building -------------------------------------------------------------

    def build_provider(self, provider: ProviderConfig | str) -> SyncProvider:
        """Open one provider through its backend's factory."""
        if isinstance(provider, str):
            provider = self.provider(provider)
        backend = self.backend_of(provider)
        kwargs: dict[str, Any] = {"provider_id": provider.id}
        if provider.max_changes_per_session is not None:
            kwargs["max_changes_per_session"] = provider.max_changes_per_session
        self._check_options(provider, backend)
        try:
            built = backend.provider_factory(**kwargs, **provider.options)
        except _PROBLEMS_OF_OPTIONS as e:
            raise self.error(
                f"{provider.location}.options",
                f"backend {backend.name!r} refused the options of provider "
                f"{provider.id!r}: {e}",
            ) from None
        except Exception as e:
            raise ProviderOpenError(
                self.redactor()(
                    f"{self.path}: {provider.location}: backend {backend.name!r} "
                    f"could not open provider {provider.id!r}: "
                    f"{type(e).__name__}: {e}"
                ),
                provider_id=provider.id,
            ) from None
        if not isinstance(built, SyncProvider) or built.provider_id != provider.id:
            raise self.error(
                f"{provider.location}.backend",
                f"backend {backend.name!r} returned {built!r}; expected a "
                f"SyncProvider with provider_id {provider.id!r}",
            )
        return built

    def build_providers(self) -> list[SyncProvider]:
        """Open every provider, in the file's order; nothing stays open on error."""
        built: list[SyncProvider] = []
        try:
            for provider in self.providers:
                built.append(self.build_provider(provider))
        except BaseException:
            for opened in built:
                opened.store.close()
            raise
        return built

    def build_lock(self) -> SyncLock:
        """The sync lock: ``[sync] lock``'s backend lock, or the initial one's.

        The lock follows the file, never ``--from``, so runs started from
        different providers still exclude each other. A backend without a lock
        gets the in-process memory lock.
        """
        if self.sync.lock is not None:
            provider = self.provider(self.sync.lock, key="sync.lock")
            key = "sync.lock"
        else:
            provider = self.provider(self.initial_provider, key="sync.initial_provider")
            key = f"{provider.location}.backend"
        backend = self.backend_of(provider)
        if backend.lock_factory is None:
            if self.sync.lock is not None:
                raise self.error(
                    key,
                    f"backend {backend.name!r} of provider {provider.id!r} has no "
                    "sync lock; expected a provider whose backend provides one",
                )
            return InMemorySyncLock()
        options = _accepted(backend.lock_factory, provider.options)
        try:
            return backend.lock_factory(**options)
        except _PROBLEMS_OF_OPTIONS as e:
            raise self.error(
                key,
                f"backend {backend.name!r} could not make its lock from the options "
                f"of provider {provider.id!r}: {e}",
            ) from None
        except Exception as e:
            raise ProviderOpenError(
                self.redactor()(
                    f"{self.path}: {key}: backend {backend.name!r} could not open "
                    f"its lock: {type(e).__name__}: {e}"
                ),
                provider_id=provider.id,
            ) from None

    def build_orchestrator(
        self,
        providers: Sequence[SyncProvider] | None = None,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
    ) -> SyncOrchestrator:
        """An orchestrator over the configured providers, lock and policies.

        Pass *providers* already opened with :meth:`build_providers` to reuse
        them. The caller closes the stores: :func:`close_orchestrator`.
        """
        opened = list(providers) if providers is not None else self.build_providers()
        try:
            lock = self.build_lock()
            try:
                return SyncOrchestrator(
                    lock,
                    opened,
                    self.sync.maximum_duration_seconds,
                    conflict_policies=dict(self.policies.entities),
                    default_conflict_policy=self.policies.default,
                    plugin_manager=plugin_manager,
                )
            except ConfigurationError as e:
                close_lock(lock)
                raise self.error("providers", str(e)) from None
        except BaseException:
            if providers is None:
                for provider in opened:
                    provider.store.close()
            raise

    def _check_options(self, provider: ProviderConfig, backend: Backend) -> None:
        """Name an unknown or missing option before the factory is called."""
        try:
            signature = inspect.signature(backend.provider_factory)
        except (TypeError, ValueError):
            return
        parameters = signature.parameters.values()
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            known = [
                p.name
                for p in parameters
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                and p.name not in _MANAGED_PARAMETERS | _PROGRAMMATIC_PARAMETERS
            ]
            for name in provider.options:
                if name in _MANAGED_PARAMETERS:
                    raise self.error(
                        f"{provider.location}.options.{name}",
                        f"is set by the provider table itself; expected "
                        f"{name} = ... in {provider.location}, not in its options",
                    )
                if name not in known:
                    raise self.error(
                        f"{provider.location}.options.{name}",
                        f"unknown option for backend {backend.name!r}; expected "
                        f"one of {known!r}",
                    )
        for p in parameters:
            if (
                p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                and p.default is p.empty
                and p.name not in _MANAGED_PARAMETERS
                and p.name not in provider.options
            ):
                raise self.error(
                    f"{provider.location}.options.{p.name}",
                    f"missing; backend {backend.name!r} needs it",
                )


def close_orchestrator(orchestrator: SyncOrchestrator) -> None:
    """Close every store of *orchestrator*, and its lock when it can close."""
    for provider in orchestrator.providers.values():
        provider.store.close()
    close_lock(orchestrator.sync_lock)


def close_lock(lock: SyncLock) -> None:
    """Close *lock* when it holds a connection; locks without ``close`` need none."""
    close = getattr(lock, "close", None)
    if callable(close):
        close()


def _accepted(factory: Callable[..., Any], options: Mapping[str, Any]) -> dict:
    """The *options* *factory* takes: a lock ignores its provider's others."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return dict(options)
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return dict(options)
    names = {p.name for p in parameters if p.kind is not p.VAR_POSITIONAL}
    return {k: v for k, v in options.items() if k in names}


def _lookup_backend(path: str, provider: ProviderConfig) -> Backend:
    backends = get_backends()
    try:
        return backends[provider.backend]
    except KeyError:
        raise ConfigFileError(
            path,
            f"{provider.location}.backend",
            f"unknown backend {provider.backend!r}; expected one of "
            f"{sorted(backends)!r} (is its plugin installed?)",
        ) from None


# -- finding and reading the file ---------------------------------------------


def find_config(
    explicit: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The configuration file to use: *explicit*, ``$MAESTRO_CONFIG``, or
    ``./maestro.toml``. Raises :class:`ConfigFileError` when none is given and
    ``./maestro.toml`` does not exist."""
    environ = os.environ if environ is None else environ
    if explicit is not None:
        return os.fspath(explicit)
    if environ.get(CONFIG_ENV_VAR):
        return environ[CONFIG_ENV_VAR]
    if Path(DEFAULT_CONFIG_NAME).is_file():
        return DEFAULT_CONFIG_NAME
    raise ConfigFileError(
        DEFAULT_CONFIG_NAME,
        None,
        f"no such file; expected a configuration file: pass --config FILE, set "
        f"{CONFIG_ENV_VAR}, or create ./{DEFAULT_CONFIG_NAME}",
    )


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and check the configuration file at *path*."""
    name = os.fspath(path)
    try:
        raw = Path(name).read_bytes()
    except FileNotFoundError:
        raise ConfigFileError(
            name, None, "no such file; expected a TOML configuration file"
        ) from None
    except IsADirectoryError:
        raise ConfigFileError(
            name, None, "is a directory; expected a TOML configuration file"
        ) from None
    except OSError as e:
        raise ConfigFileError(name, None, f"cannot be read: {e.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigFileError(
            name, None, f"is not UTF-8 text (byte {e.start}); expected a TOML file"
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigFileError(name, None, f"not valid TOML: {e}") from None
    return parse_config(data, path=name)


def parse_config(data: Mapping[str, Any], *, path: str = "<config>") -> Config:
    """Check a configuration already read into a mapping (a TOML document).

    *path* names the source in messages.
    """
    return _Parser(path).config(data)


# -- checking -----------------------------------------------------------------


def _dotted(*parts: str) -> str:
    return ".".join(
        part if part.replace("_", "").replace("-", "").isalnum() else f'"{part}"'
        for part in parts
    )


class _Parser:
    """Checks a TOML document key by key, naming the first mistake."""

    def __init__(self, path: str):
        self.path = path
        self.redactor = Redactor()

    def fail(self, key: str | None, problem: str) -> ConfigFileError:
        return ConfigFileError(self.path, key, self.redactor(problem))

    def table(self, value: Any, key: str, known: Iterable[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"{_kind(value)} is not valid; expected a table")
        allowed = sorted(known)
        for name in value:
            if name not in allowed:
                where = f"{key}.{_dotted(name)}" if key else _dotted(name)
                raise self.fail(where, f"unknown key; expected one of {allowed!r}")
        return value

    def config(self, data: Mapping[str, Any]) -> Config:
        top = self.table(data, "", ["sync", "policies", "providers"])
        providers = self.providers(top.get("providers"))
        sync = self.sync(top.get("sync", {}))
        policies = self.policies(top.get("policies", {}))
        ids = [p.id for p in providers]
        for key, provider_id in (
            ("sync.initial_provider", sync.initial_provider),
            ("sync.lock", sync.lock),
        ):
            if provider_id is not None and provider_id not in ids:
                raise self.fail(
                    key, f"unknown provider {provider_id!r}; expected one of {ids!r}"
                )
        config = Config(
            path=self.path, providers=providers, sync=sync, policies=policies
        )
        for provider in providers:
            config.backend_of(provider)
        return config

    def providers(self, value: Any) -> tuple[ProviderConfig, ...]:
        if value is None:
            raise self.fail(
                "providers", "missing; expected at least two [[providers]] tables"
            )
        if not isinstance(value, list):
            raise self.fail(
                "providers",
                f"{_kind(value)} is not valid; expected [[providers]] tables",
            )
        providers: list[ProviderConfig] = []
        seen: dict[str, str] = {}
        for index, entry in enumerate(value):
            provider = self.provider(entry, f"providers[{index}]")
            if provider.id in seen:
                raise self.fail(
                    f"{provider.location}.id",
                    f"provider id {provider.id!r} is used twice (also by "
                    f"{seen[provider.id]}); expected each provider to have its own id",
                )
            seen[provider.id] = provider.location
            providers.append(provider)
        if len(providers) < 2:
            raise self.fail(
                "providers",
                f"{len(providers)} provider(s) {list(seen)!r}; expected at least two "
                "[[providers]] tables",
            )
        return tuple(providers)

    def provider(self, entry: Any, location: str) -> ProviderConfig:
        entry = self.table(
            entry, location, ["id", "backend", "max_changes_per_session", "options"]
        )
        options = self.options(entry.get("options", {}), f"{location}.options")
        self.redactor.add_options(options)
        batch = entry.get("max_changes_per_session")
        if batch is not None and not _is_int(batch, minimum=1):
            raise self.fail(
                f"{location}.max_changes_per_session",
                f"{batch!r} is not valid; expected a positive integer",
            )
        return ProviderConfig(
            id=self.name(entry.get("id"), f"{location}.id", "the provider's id"),
            backend=self.name(
                entry.get("backend"), f"{location}.backend", "a backend name"
            ),
            options=options,
            max_changes_per_session=batch,
            location=location,
        )

    def name(self, value: Any, key: str, expected: str) -> str:
        if value is None:
            raise self.fail(key, f"missing; expected {expected}, a non-empty string")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(
                key, f"{value!r} is not valid; expected {expected}, a non-empty string"
            )
        return value

    def options(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"{_kind(value)} is not valid; expected a table")
        for name, option in value.items():
            if not _is_plain(option):
                shown = MASK if is_sensitive_key(name) else _kind(option)
                raise self.fail(
                    f"{key}.{_dotted(name)}",
                    f"{shown} is not valid; expected a string, number, boolean, "
                    "or an array of them",
                )
        return dict(value)

    def sync(self, value: Any) -> SyncSettings:
        table = self.table(
            value, "sync", ["maximum_duration_seconds", "initial_provider", "lock"]
        )
        duration = table.get(
            "maximum_duration_seconds", DEFAULT_MAXIMUM_DURATION_SECONDS
        )
        if (
            isinstance(duration, bool)
            or not isinstance(duration, (int, float))
            or not duration > 0
        ):
            raise self.fail(
                "sync.maximum_duration_seconds",
                f"{duration!r} is not valid; expected a positive number of seconds",
            )
        initial, lock = table.get("initial_provider"), table.get("lock")
        return SyncSettings(
            maximum_duration_seconds=float(duration),
            initial_provider=None
            if initial is None
            else self.name(initial, "sync.initial_provider", "a provider id"),
            lock=None
            if lock is None
            else self.name(lock, "sync.lock", "a provider id"),
        )

    def policies(self, value: Any) -> PolicySettings:
        table = self.table(value, "policies", ["default", "entities"])
        default = table.get("default", "default")
        self.policy(default, "policies.default")
        entities = table.get("entities", {})
        if not isinstance(entities, Mapping):
            raise self.fail(
                "policies.entities",
                f"{_kind(entities)} is not valid; expected a table of entity "
                "names to policies",
            )
        for entity, spec in entities.items():
            self.policy(spec, _dotted("policies", "entities", entity))
        return PolicySettings(default=default, entities=dict(entities))

    def policy(self, spec: Any, key: str) -> None:
        if isinstance(spec, Mapping):
            self.table(spec, key, ["name", "args"])
            if "args" in spec and not isinstance(spec["args"], list):
                raise self.fail(
                    f"{key}.args",
                    f"{spec['args']!r} is not valid; expected an array of arguments",
                )
        try:
            coerce_policy(dict(spec) if isinstance(spec, Mapping) else spec)
        except (ConfigurationError, LookupError) as e:
            raise self.fail(key, str(e)) from None


def _is_int(value: Any, *, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_plain(value: Any) -> bool:
    if isinstance(value, list):
        return all(_is_plain(v) and not isinstance(v, list) for v in value)
    return isinstance(value, (str, int, float, bool))


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)
