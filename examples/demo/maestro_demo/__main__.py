"""``python -m maestro_demo`` runs the scenario."""

from .scenario import run

raise SystemExit(run())
