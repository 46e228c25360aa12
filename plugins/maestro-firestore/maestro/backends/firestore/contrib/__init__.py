"""Helpers for applications: building providers, stores and locks."""
