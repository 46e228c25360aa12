"""``maestro.backends.django``: the app label and names of the user documentation.

An alias of :mod:`maestro_django`; ``"maestro.backends.django"`` in
``INSTALLED_APPS`` installs that app (see ``apps.py`` beside this file).
"""

from __future__ import annotations

from typing import Any

import maestro_django

__all__ = maestro_django.__all__


def __getattr__(name: str) -> Any:
    return getattr(maestro_django, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
