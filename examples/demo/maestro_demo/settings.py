"""Settings of the example project, set up as getting-started.md describes.

The database is a SQLite file under ``data/`` beside this package (or under
``$MAESTRO_DEMO_DATA``), created and migrated by the scenario on first run.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("MAESTRO_DEMO_DATA") or BASE_DIR / "data")

SECRET_KEY = "maestro-demo-only"
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "maestro_demo.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "maestro_demo.shop",
    "maestro.backends.django",
]

MIDDLEWARE = [
    "maestro.backends.django.contrib.middleware.SyncQueueMiddleware",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "shop.sqlite3",
        # The scenario and the `maestro` command write from two processes.
        "OPTIONS": {"timeout": 30},
    }
}

MAESTRO = {
    # The synced models, under the entity names MongoDB and Firestore use as
    # collection names.
    "MODELS": [
        {"model": "shop.customer", "entity_name": "customers"},
        {"model": "shop.order", "entity_name": "orders"},
    ],
    "PROVIDER_ID": "django",
}
