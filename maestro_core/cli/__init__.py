"""The ``maestro`` command line, and the configuration file it reads.

``main(argv)`` runs the command and returns its exit status. The
configuration API lets other programs use the same file::

    from maestro_core.cli import load_config

    orchestrator = load_config("maestro.toml").build_orchestrator()
"""

from __future__ import annotations

from ._commands import EXIT_FAILURE, EXIT_LOCKED, EXIT_OK, EXIT_USAGE
from ._config import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_NAME,
    Config,
    ConfigFileError,
    PolicySettings,
    ProviderConfig,
    ProviderOpenError,
    SyncSettings,
    close_lock,
    close_orchestrator,
    find_config,
    load_config,
    parse_config,
)
from ._main import EXIT_INTERRUPTED, build_parser, main
from ._redact import Redactor, is_sensitive_key, redact_options

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_NAME",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Config",
    "ConfigFileError",
    "PolicySettings",
    "ProviderConfig",
    "ProviderOpenError",
    "Redactor",
    "SyncSettings",
    "build_parser",
    "close_lock",
    "close_orchestrator",
    "find_config",
    "is_sensitive_key",
    "load_config",
    "main",
    "parse_config",
    "redact_options",
]
