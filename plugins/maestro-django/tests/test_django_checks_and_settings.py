"""System checks (ids and hints) and the cached settings."""

from __future__ import annotations

import pytest
from django.core import checks
from django.test import override_settings
from maestro_django.checks import check_settings
from maestro_django.conf import get_settings, synced_models

from maestro_core import ConfigurationError

MIDDLEWARE = "maestro.backends.django.contrib.middleware.SyncQueueMiddleware"


def _ids(maestro: dict, **extra) -> list[tuple[str, str]]:
    with override_settings(MAESTRO=maestro, **extra):
        messages = check_settings()
    for message in messages:
        assert message.hint, message
    return [(m.id, m.msg) for m in messages]


def test_the_test_project_passes_every_check():
    assert check_settings() == []
    assert [m for m in checks.run_checks() if m.id.startswith("maestro")] == []


@pytest.mark.parametrize(
    ("maestro", "expected_id", "words"),
    [
        ({"MODELS": ["shop.nosuchmodel"]}, "maestro.E001", "'shop.nosuchmodel'"),
        ({"MODELS": ["nolabel"]}, "maestro.E001", "'nolabel'"),
        ({"MODELS": [{"name": "shop.author"}]}, "maestro.E001", "'name'"),
        ({"MODELS": [42]}, "maestro.E001", "42"),
        (
            {"MODELS": ["shop.author"], "CHANGES_COMMITTED_CALLBACK": "no.such.fn"},
            "maestro.E002",
            "'no.such.fn'",
        ),
        (
            {
                "MODELS": ["shop.author"],
                "CHANGES_COMMITTED_CALLBACK": (
                    "maestro_django_testproject.settings.USE_TZ"
                ),
            },
            "maestro.E002",
            "not callable",
        ),
        ({"MODELS": ["shop.floatkey"]}, "maestro.E003", "FloatField"),
        (
            {"MODELS": [{"model": "shop.book", "read_only_fields": ["nope"]}]},
            "maestro.E004",
            "['nope']",
        ),
        (
            {"MODELS": [{"model": "shop.book", "fields": ["title", "x"]}]},
            "maestro.E004",
            "['x']",
        ),
        (
            {
                "MODELS": [
                    "shop.author",
                    {"model": "shop.tag", "entity_name": "shop.author"},
                ]
            },
            "maestro.E005",
            "'shop.author'",
        ),
        (
            {"MODELS": [{"model": "shop.book", "conflict_policy": "no_such_policy"}]},
            "maestro.E006",
            "'no_such_policy'",
        ),
        ({"MODELS": []}, "maestro.W001", "MODELS'] is empty"),
    ],
    ids=lambda value: value if isinstance(value, str) and "." in value else None,
)
def test_each_check_names_the_problem(maestro, expected_id, words):
    found = _ids(maestro)

    assert [i for i, _ in found] == [expected_id]
    assert words in found[0][1]


def test_an_empty_models_list_without_the_middleware_is_fine():
    assert _ids({"MODELS": []}, MIDDLEWARE=[]) == []


def test_settings_are_merged_over_defaults():
    config = get_settings()

    assert config["PROVIDER_ID"] == "django"
    assert config["DATABASE"] == "default"
    assert config["CHANGES_COMMITTED_CALLBACK"].endswith("on_changes_commited")


def test_settings_are_cached_and_reset_when_changed():
    assert get_settings() is get_settings()
    labels = [s.label for s in synced_models()]

    with override_settings(MAESTRO={"MODELS": ["shop.author"], "PROVIDER_ID": "x"}):
        assert get_settings()["PROVIDER_ID"] == "x"
        assert get_settings()["MAX_CHANGES_PER_SESSION"] == 50
        assert [s.label for s in synced_models()] == ["shop.author"]

    assert get_settings()["PROVIDER_ID"] == "django"
    assert [s.label for s in synced_models()] == labels


@pytest.mark.django_db(transaction=True)
def test_capture_follows_overridden_models():
    from maestro_django.models import Change
    from maestro_django_testproject.shop.models import Author, Tag

    with override_settings(MAESTRO={"MODELS": ["shop.tag"]}):
        Author.objects.create(name="not synced now")
        Tag.objects.create(label="synced")
        assert list(Change.objects.values_list("entity_name", flat=True)) == [
            "shop.tag"
        ]
    Author.objects.create(name="synced again")
    assert Change.objects.filter(entity_name="shop.author").count() == 1


def test_a_maestro_setting_that_is_not_a_dict_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    with override_settings(MAESTRO=["shop.author"]):
        with pytest.raises(ImproperlyConfigured, match=r"\['shop.author'\]"):
            get_settings()
        [error] = check_settings()
        assert error.id == "maestro.E007"
        assert error.hint


def test_a_malformed_models_entry_is_refused_when_models_are_resolved():
    with override_settings(MAESTRO={"MODELS": [{"model": "shop.author", "x": 1}]}):
        with pytest.raises(ValueError, match="unknown keys"):
            synced_models()


def test_the_ready_made_callback_needs_providers(settings):
    from maestro_django import run_sync

    with pytest.raises(ConfigurationError, match="SYNC_PROVIDERS"):
        run_sync()
    settings.MAESTRO = {**settings.MAESTRO, "SYNC_PROVIDERS": [42]}
    with pytest.raises(ConfigurationError, match="entry 42 is not valid"):
        run_sync()


@pytest.mark.django_db
def test_the_migrations_match_the_models():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "makemigrations", "maestro", "shop", check=True, dry_run=True, stdout=out
    )
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db(transaction=True, databases=["default", "postgres"])
def test_the_postgresql_function_comes_and_goes_with_its_migration(settings):
    from django.core.management import call_command
    from django.db import connections

    if "postgres" not in settings.DATABASES:
        pytest.skip("PostgreSQL is not reachable")

    def installed() -> bool:
        with connections["postgres"].cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_proc"
                " WHERE proname = 'maestro_record_local_change'"
            )
            return cursor.fetchone()[0] == 1

    assert installed()
    call_command("migrate", "maestro", "0001", database="postgres", verbosity=0)
    try:
        assert not installed()
    finally:
        call_command("migrate", "maestro", database="postgres", verbosity=0)
    assert installed()
