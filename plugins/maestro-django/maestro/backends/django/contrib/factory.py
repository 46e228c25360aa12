"""Alias module: the provider factory of :mod:`maestro_django`."""

from maestro_django.factory import create_django_provider

__all__ = ["create_django_provider"]
