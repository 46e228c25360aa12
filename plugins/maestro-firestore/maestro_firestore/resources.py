"""Where the shipped security rules and index definitions are."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["indexes_path", "rules_path"]

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def _shipped(name: str) -> Path:
    packaged = resources.files("maestro_firestore").joinpath(name)
    if packaged.is_file():
        return Path(str(packaged))
    return _SOURCE_ROOT / name  # an editable install: the distribution's root


def rules_path() -> Path:
    """``firestore.rules``: keeps clients out of Maestro's collections."""
    return _shipped("firestore.rules")


def indexes_path() -> Path:
    """``firestore.indexes.json``: the index change selection needs."""
    return _shipped("firestore.indexes.json")
