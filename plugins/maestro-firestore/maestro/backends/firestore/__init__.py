"""The Firestore backend under the import path the documentation uses.

A thin alias of :mod:`maestro_firestore`.
"""

from maestro_firestore import *  # noqa: F403
from maestro_firestore import __all__  # noqa: F401
