"""``maestro.core``: the import paths of the user documentation, as aliases.

The implementation lives in :mod:`maestro_core`.
"""
