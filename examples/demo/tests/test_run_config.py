"""The demo's copy of maestro.toml: the template's settings, this run's servers."""

from __future__ import annotations

import tomllib

import pytest
from maestro_demo.services import CONFIG_TEMPLATE, dump_toml, write_run_config


def test_the_toml_writer_reads_back_equal():
    document = {
        "sync": {"maximum_duration_seconds": 60.5, "lock": "django", "dry": False},
        "policies": {"entities": {"a.b": {"name": "x", "args": ['q"uote', 2]}}},
        "providers": [
            {"id": "one", "options": {"uri": "mongodb://h:1/", "n": 3}},
            {"id": "two", "options": {}},
        ],
    }
    assert tomllib.loads(dump_toml(document)) == document


def test_a_value_toml_cannot_hold_is_refused_by_name():
    with pytest.raises(TypeError, match=r"\{1, 2\}.*'sync.odd'"):
        dump_toml({"sync": {"odd": {1, 2}}})


def test_the_run_config_points_at_this_runs_servers(tmp_path):
    target = tmp_path / "maestro.toml"
    written = write_run_config(
        target, mongo_uri="mongodb://127.0.0.1:1234/", firestore_emulator_host="h:9"
    )
    template = tomllib.loads(CONFIG_TEMPLATE.read_text())
    assert tomllib.loads(target.read_text()) == written
    assert {k: v for k, v in written.items() if k != "providers"} == {
        k: v for k, v in template.items() if k != "providers"
    }
    options = {p["id"]: p["options"] for p in written["providers"]}
    assert options["mongo"]["uri"] == "mongodb://127.0.0.1:1234/"
    assert options["firestore"]["emulator_host"] == "h:9"
    assert options["django"] == {"settings": "maestro_demo.settings"}

    without = write_run_config(
        target, mongo_uri="mongodb://127.0.0.1:1234/", firestore_emulator_host=None
    )
    assert [p["id"] for p in without["providers"]] == ["django", "mongo"]
