"""``python -m maestro_core`` runs the ``maestro`` command."""

import sys

from .cli import main

sys.exit(main())
