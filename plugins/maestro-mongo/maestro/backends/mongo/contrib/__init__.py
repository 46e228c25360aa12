"""Helpers for applications: building stores, providers and locks."""
