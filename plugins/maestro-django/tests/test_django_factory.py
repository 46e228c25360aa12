"""The backend as the ``maestro`` command line builds it, and bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from maestro.backends.django.contrib.factory import create_django_provider
from maestro_django import DjangoSyncLock
from maestro_django.exceptions import UnwritableValueError

from maestro_core import ConfigurationError, InvalidItemError, get_backend

SETTINGS = "maestro_django_testproject.settings"
HERE = Path(__file__).resolve().parent


@pytest.fixture
def backend():
    return get_backend("django")


def test_the_backend_builds_a_provider_and_lock_from_config_options(backend):
    provider = backend.provider_factory(
        provider_id="web", max_changes_per_session=7, settings=SETTINGS, using="default"
    )
    lock = backend.lock_factory(settings=SETTINGS, using="default", name="nightly")

    assert provider.provider_id == "web"
    assert provider.max_changes_per_session == 7
    assert provider.store.using == "default"
    assert provider.conflict_policies == {"shop.book": "last_writer_wins"}
    assert (lock.name, lock.using) == ("nightly", "default")


def test_the_lock_ignores_options_it_does_not_need(backend):
    lock = backend.lock_factory(settings=SETTINGS, uri="mongodb://ignored")

    assert lock.name == "default"


def test_options_default_to_the_maestro_settings(backend):
    provider = backend.provider_factory(provider_id="django")

    assert provider.store.using == "default"
    assert provider.max_changes_per_session == 50


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"settings": "other_project.settings"}, "'other_project.settings'"),
        ({"settings": ""}, "'settings' '' is not valid"),
        ({"settings": 3}, "'settings' 3 is not valid"),
        ({"using": "nowhere"}, "database alias 'nowhere' is not configured"),
        ({"using": 1}, "database alias 1 is not configured"),
        ({"uri": "mongodb://x"}, "unknown options \\['uri'\\]"),
    ],
)
def test_bad_provider_options_are_refused(backend, options, message):
    with pytest.raises(ConfigurationError, match=message):
        backend.provider_factory(provider_id="django", **options)


def test_a_bad_max_changes_per_session_is_refused(backend):
    with pytest.raises(ValueError, match="max_changes_per_session -1"):
        backend.provider_factory(provider_id="django", max_changes_per_session=-1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": ""}, "sync lock name '' is not valid"),
        ({"name": "x" * 300}, "at most 255"),
        ({"using": "nowhere"}, "'nowhere' is not configured"),
        ({"settings": "other.settings"}, "'other.settings'"),
    ],
)
def test_bad_lock_options_are_refused(backend, options, message):
    with pytest.raises(ConfigurationError, match=message):
        backend.lock_factory(**options)


def test_a_bad_provider_id_is_refused():
    with pytest.raises(ValueError, match="provider id '  '"):
        create_django_provider("  ")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("entity", "item_id", "item", "error", "message"),
    [
        ("shop.nosuch", "1", {"id": 1}, InvalidItemError, "'shop.nosuch'"),
        ("shop.author", "abc", {"id": "abc"}, UnwritableValueError, "'abc'"),
        ("shop.author", "1", {"id": 2}, InvalidItemError, "has 'id' 2"),
        ("shop.author", "1", {"name": "x"}, InvalidItemError, "no 'id'"),
        ("shop.author", "1", ["id", 1], InvalidItemError, "is a list"),
        ("shop.author", "", {"id": ""}, InvalidItemError, "item_id ''"),
    ],
)
def test_bad_local_items_are_refused_and_nothing_is_written(
    django_provider, entity, item_id, item, error, message
):
    from maestro_django.models import Change

    with pytest.raises(error, match=message):
        django_provider.store.commit_item_change("INSERT", entity, item_id, item)
    assert Change.objects.count() == 0


def test_the_factory_configures_django_when_it_is_not_configured_yet():
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(HERE)!r})
        from django.conf import settings
        from maestro_core import get_backend
        assert not settings.configured
        backend = get_backend("django")
        provider = backend.provider_factory(provider_id="cli", settings={SETTINGS!r})
        lock = backend.lock_factory(settings={SETTINGS!r}, name="cli")
        print(provider.store, lock, settings.SETTINGS_MODULE)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "<DjangoDataStore provider_id='cli' using='default'> "
        f"<DjangoSyncLock name='cli' using='default'> {SETTINGS}"
    )


def test_the_factory_needs_settings_when_django_is_not_configured():
    script = textwrap.dedent(
        """
        from maestro_core import get_backend
        get_backend("django").provider_factory(provider_id="cli")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "no 'settings' option was given" in result.stderr


def test_the_lock_in_use_is_reported_by_name():
    assert repr(DjangoSyncLock("x")) == "<DjangoSyncLock name='x' using='default'>"
