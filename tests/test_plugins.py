"""Plugin loading through entry points, and the registries."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import types

import pytest

import maestro_core
from maestro_core import (
    Backend,
    BackendNotFoundError,
    ConfigurationError,
    ConflictPolicy,
    LastWriterWinsPolicy,
    PluginLoadError,
    PreferProviderPolicy,
    RegistrationError,
    coerce_policy,
    hookimpl,
)
from maestro_core import plugins as plugin_module


def _entry_point(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group="maestro")


@pytest.fixture
def entry_points(monkeypatch):
    """Replace the installed entry points with the ones a test lists."""
    listed: list[importlib.metadata.EntryPoint] = []

    def fake(**kwargs):
        assert kwargs == {"group": "maestro"}
        return listed

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    monkeypatch.delenv("MAESTRO_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("MAESTRO_PLUGINS", raising=False)
    plugin_module.reset_plugins()
    yield listed
    plugin_module.reset_plugins()


@pytest.fixture
def fake_plugin(monkeypatch):
    module = types.ModuleType("maestro_test_fake_plugin")

    @hookimpl
    def maestro_register_backends(register):
        register(
            Backend(name="fake", provider_factory=maestro_core.create_memory_provider)
        )

    @hookimpl
    def maestro_register_policies(register):
        register("always_first", lambda: LastWriterWinsPolicy())

    module.maestro_register_backends = maestro_register_backends
    module.maestro_register_policies = maestro_register_policies
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def test_builtins_register_through_the_same_hooks(entry_points):
    assert set(maestro_core.get_backends()) == {"memory"}
    assert "merge_fields" in maestro_core.policy_names()
    assert isinstance(maestro_core.get_policy("manual"), ConflictPolicy)


def test_entry_point_plugins_load_once_lazily(entry_points, fake_plugin):
    entry_points.append(_entry_point("fake", fake_plugin.__name__))
    assert plugin_module._manager is None
    assert set(maestro_core.get_backends()) == {"fake", "memory"}
    assert maestro_core.get_plugin_manager() is maestro_core.get_plugin_manager()
    assert "always_first" in maestro_core.policy_names()


def test_a_plugin_that_fails_to_import_is_named(entry_points):
    entry_points.append(_entry_point("broken", "maestro_no_such_module_here"))
    with pytest.raises(PluginLoadError, match="plugin 'broken'") as caught:
        maestro_core.get_backends()
    assert caught.value.plugin_name == "broken"
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_autoload_can_be_turned_off(entry_points, fake_plugin, monkeypatch):
    entry_points.append(_entry_point("fake", fake_plugin.__name__))
    entry_points.append(_entry_point("broken", "maestro_no_such_module_here"))
    monkeypatch.setenv("MAESTRO_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert set(maestro_core.get_backends()) == {"memory"}


def test_autoload_can_be_limited_to_named_plugins(
    entry_points, fake_plugin, monkeypatch
):
    entry_points.append(_entry_point("fake", fake_plugin.__name__))
    entry_points.append(_entry_point("broken", "maestro_no_such_module_here"))
    monkeypatch.setenv("MAESTRO_PLUGINS", "fake")
    assert set(maestro_core.get_backends()) == {"fake", "memory"}


def test_a_taken_backend_name_is_refused(entry_points, monkeypatch):
    module = types.ModuleType("maestro_test_duplicate")

    @hookimpl
    def maestro_register_backends(register):
        register(
            Backend(name="memory", provider_factory=maestro_core.create_memory_provider)
        )

    module.maestro_register_backends = maestro_register_backends
    monkeypatch.setitem(sys.modules, module.__name__, module)
    entry_points.append(_entry_point("dup", module.__name__))
    with pytest.raises(RegistrationError, match="backend 'memory' is registered twice"):
        maestro_core.get_backends()


def test_backend_names_are_validated():
    with pytest.raises(RegistrationError, match="backend name 'Bad Name' is not valid"):
        Backend(name="Bad Name", provider_factory=maestro_core.create_memory_provider)


def test_unknown_names_list_what_exists(entry_points):
    with pytest.raises(
        BackendNotFoundError,
        match=r"unknown backend 'nope'; expected one of \['memory'\]",
    ):
        maestro_core.get_backend("nope")
    with pytest.raises(LookupError, match="unknown conflict policy 'nope'"):
        maestro_core.get_policy("nope")


def test_policies_are_named_in_several_ways(entry_points):
    assert isinstance(coerce_policy("deletion_wins"), maestro_core.DeletionWinsPolicy)
    preferred = coerce_policy({"name": "prefer_provider", "args": ["django"]})
    assert isinstance(preferred, PreferProviderPolicy)
    assert preferred.provider_ids == ("django",)
    assert coerce_policy(["prefer_provider", "a", "b"]).provider_ids == ("a", "b")
    assert isinstance(
        coerce_policy("maestro_core.policies.UpdateWinsPolicy"),
        maestro_core.UpdateWinsPolicy,
    )
    same = LastWriterWinsPolicy()
    assert coerce_policy(same) is same
    with pytest.raises(ConfigurationError, match="unknown conflict policy 'newest'"):
        coerce_policy("newest")
    with pytest.raises(ConfigurationError, match="cannot be imported"):
        coerce_policy("no_such_module.Policy")
    with pytest.raises(ConfigurationError, match="expected a ConflictPolicy"):
        coerce_policy("maestro_core.model.new_id")
    with pytest.raises(ConfigurationError, match="with arguments"):
        coerce_policy({"name": "prefer_provider"})
    with pytest.raises(ConfigurationError, match="expected a policy name"):
        coerce_policy(42)


def test_the_memory_backend_names_the_core_distribution(entry_points):
    backend = maestro_core.get_backend("memory")
    assert backend.distribution == "maestro-sync"
    assert backend.version == importlib.metadata.version("maestro-sync")


def test_loading_every_installed_plugin_imports_no_client_library():
    """Every maestro command loads all plugins; none may pull in its driver."""
    script = (
        "import json, sys\n"
        "from maestro_core import get_backends\n"
        "names = sorted(get_backends())\n"
        "heavy = ('django', 'pymongo', 'bson', 'google.cloud.firestore', 'grpc')\n"
        "print(json.dumps([names, [m for m in heavy if m in sys.modules]]))\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MAESTRO_") and k != "DJANGO_SETTINGS_MODULE"
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    names, loaded = json.loads(done.stdout)
    assert "memory" in names and len(names) > 1, names
    assert loaded == [], f"loading the plugins {names} imported {loaded}"
