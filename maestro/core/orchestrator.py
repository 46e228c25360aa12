"""Alias module: the orchestrator of :mod:`maestro_core`."""

from maestro_core.orchestrator import SyncOrchestrator

__all__ = ["SyncOrchestrator"]
