"""Settings of the test project, configured as the user documentation says."""

import os
import tempfile

SECRET_KEY = "tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
TIME_ZONE = "Europe/Paris"
ROOT_URLCONF = "maestro_django_testproject.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "maestro_django_testproject.shop",
    "maestro.backends.django",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "maestro.backends.django.contrib.middleware.SyncQueueMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

_run = f"{os.getpid()}"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(tempfile.gettempdir(), f"maestro-django-{_run}.sqlite3"),
        "OPTIONS": {"timeout": 30},
        "TEST": {
            "NAME": os.path.join(
                tempfile.gettempdir(), f"maestro-django-test-{_run}.sqlite3"
            )
        },
    },
}


def _postgres_reachable() -> bool:
    try:
        import psycopg

        psycopg.connect(
            host="127.0.0.1",
            port=5432,
            user="postgres",
            dbname="test",
            connect_timeout=3,
        ).close()
    except Exception:
        return False
    return True


POSTGRES_AVAILABLE = _postgres_reachable()
if POSTGRES_AVAILABLE:
    DATABASES["postgres"] = {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "127.0.0.1",
        "PORT": 5432,
        "USER": "postgres",
        "NAME": "test",
        "TEST": {"NAME": f"test_maestro_django_{_run}", "DEPENDENCIES": []},
    }


def _mariadb_reachable() -> bool:
    try:
        import pymysql

        pymysql.connect(
            host="127.0.0.1", port=3306, user="root", password="", connect_timeout=3
        ).close()
    except Exception:
        return False
    return True


MARIADB_AVAILABLE = _mariadb_reachable()
if MARIADB_AVAILABLE:
    import pymysql

    pymysql.install_as_MySQLdb()
    DATABASES["mariadb"] = {
        "ENGINE": "django.db.backends.mysql",
        "HOST": "127.0.0.1",
        "PORT": 3306,
        "USER": "root",
        "PASSWORD": "",
        "NAME": "test",
        "OPTIONS": {"charset": "utf8mb4"},
        "TEST": {
            "NAME": f"test_maestro_django_{_run}",
            "CHARSET": "utf8mb4",
            "COLLATION": "utf8mb4_bin",
            "DEPENDENCIES": [],
        },
    }

MAESTRO = {
    "MODELS": [
        "shop.author",
        "shop.tag",
        {"model": "shop.everything", "read_only_fields": ["is_staff"]},
        {"model": "shop.book", "conflict_policy": "last_writer_wins"},
        {"model": "shop.conformanceitem", "entity_name": "conformance_item"},
    ],
    "CHANGES_COMMITTED_CALLBACK": (
        "maestro_django_testproject.callbacks.on_changes_commited"
    ),
}
