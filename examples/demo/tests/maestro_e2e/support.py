"""Helpers the end-to-end tests share."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

__all__ = ["EXAMPLE_DIR", "REPOSITORY", "unique_name"]

EXAMPLE_DIR = Path(__file__).resolve().parents[2]
"""``examples/demo``."""
REPOSITORY = EXAMPLE_DIR.parents[1]

_names = itertools.count(1)


def unique_name(prefix: str) -> str:
    """A name no other test of this run, nor of a parallel run, uses."""
    return f"{prefix}-{os.getpid()}-{next(_names)}"
