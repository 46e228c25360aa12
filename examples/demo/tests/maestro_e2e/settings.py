"""The example's settings, on PostgreSQL, with the ``samples`` app."""

import os

from maestro_demo.settings import *  # noqa: F403
from maestro_demo.settings import INSTALLED_APPS, MAESTRO

INSTALLED_APPS = [*INSTALLED_APPS, "maestro_e2e.samples"]
ROOT_URLCONF = "maestro_demo.urls"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("MAESTRO_E2E_PGHOST", "127.0.0.1"),
        "PORT": int(os.environ.get("MAESTRO_E2E_PGPORT", "5432")),
        "USER": os.environ.get("MAESTRO_E2E_PGUSER", "postgres"),
        "NAME": "test",
        # One database per run, so that runs on one server never collide.
        "TEST": {"NAME": f"test_maestro_e2e_{os.getpid()}"},
    }
}

MAESTRO = {
    **MAESTRO,
    "MODELS": [
        *MAESTRO["MODELS"],
        {"model": "samples.sample", "entity_name": "samples"},
    ],
}
