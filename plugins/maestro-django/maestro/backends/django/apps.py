"""Lets Django find the app configuration of :mod:`maestro_django` here."""

from maestro_django.apps import MaestroConfig

__all__ = ["MaestroConfig"]
