"""MongoDB backend for Maestro."""
