"""Exceptions raised by the Django backend."""

from __future__ import annotations

from maestro_core import InvalidItemError, MaestroError

__all__ = ["MissingParentError", "UnknownEntityError", "UnwritableValueError"]


class UnknownEntityError(InvalidItemError, LookupError):
    """An entity name matches none of the models listed in ``MAESTRO['MODELS']``."""


class UnwritableValueError(InvalidItemError):
    """A remote item holds a value its model field cannot store."""


class MissingParentError(MaestroError, LookupError):
    """A remote item refers to a row that has not arrived yet."""
