"""The MongoDB backend under the import path the documentation uses.

A thin alias of :mod:`maestro_mongo`.
"""

from maestro_mongo import *  # noqa: F403
from maestro_mongo import __all__  # noqa: F401
