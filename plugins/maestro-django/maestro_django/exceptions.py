"""Exceptions raised by the Django backend."""

from __future__ import annotations

from maestro_core import InvalidItemError, MaestroError

__all__ = [
    "InexactValueError",
    "MissingFieldError",
    "MissingParentError",
    "UnknownEntityError",
    "UnwritableValueError",
]


class UnknownEntityError(InvalidItemError, LookupError):
    """An entity name matches none of the models listed in ``MAESTRO['MODELS']``."""


class UnwritableValueError(InvalidItemError):
    """A remote item holds a value its model field cannot store."""


class InexactValueError(UnwritableValueError):
    """A remote value would be stored differently from how it was sent.

    Writing it would leave this database holding another value than the
    provider that sent it, for good.
    """


class MissingFieldError(UnwritableValueError):
    """A remote item lacks a field the model stores and remote changes write.

    The row would take the field's default, which the other providers lack.
    """


class MissingParentError(MaestroError, LookupError):
    """A remote item refers to a row that has not arrived yet."""
