"""The hook reference page documents every hook spec, with its arguments."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from maestro_core import hookspecs

PAGE = Path(__file__).resolve().parents[1] / "docs" / "hooks.md"
HEADING = re.compile(r"^### `(?P<name>\w+)\((?P<args>[^)]*)\)`\s*$", re.MULTILINE)
FIRST_RESULT = "first non-`None` result wins"


def _specs() -> dict[str, tuple[list[str], bool]]:
    """Each hook spec's argument names and whether its first result wins."""
    specs = {}
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction):
        options = getattr(function, f"{hookspecs.PROJECT_NAME}_spec", None)
        if options is None:
            continue
        args = list(inspect.signature(function).parameters)
        specs[name] = (args, bool(options.get("firstresult")))
    return specs


def _documented() -> dict[str, tuple[list[str], str]]:
    """Each documented hook's argument names and the text of its section."""
    text = PAGE.read_text()
    matches = list(HEADING.finditer(text))
    documented = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        args = [a.strip() for a in match["args"].split(",") if a.strip()]
        assert match["name"] not in documented, f"{match['name']} is documented twice"
        documented[match["name"]] = (args, text[match.end() : end])
    return documented


def test_the_specs_are_found():
    names = set(_specs())
    assert {"maestro_register_backends", "maestro_resolve_conflict"} <= names
    assert "maestro_batch_applied" in names


@pytest.mark.parametrize("name", sorted(_specs()))
def test_each_hook_is_documented_with_its_arguments(name):
    args, first_result = _specs()[name]
    documented = _documented()
    assert name in documented, f"{name} is missing from {PAGE.name}"
    documented_args, section = documented[name]
    assert documented_args == args, (
        f"{PAGE.name} documents {name}({', '.join(documented_args)}); "
        f"the spec is {name}({', '.join(args)})"
    )
    for arg in args:
        assert f"  - `{arg}` \N{EN DASH} " in section, (
            f"{name}: argument {arg!r} not described"
        )
    assert "- **Called:**" in section, f"{name}: when it is called is not said"
    assert "- **Returns:**" in section, f"{name}: what a return means is not said"
    says_first_result = FIRST_RESULT in section
    assert says_first_result == first_result, (
        f"{name}: the page {'says' if says_first_result else 'does not say'} "
        f"'{FIRST_RESULT}', but the spec has firstresult={first_result}"
    )


def test_the_page_documents_no_hook_that_does_not_exist():
    stale = set(_documented()) - set(_specs())
    assert not stale, f"{PAGE.name} documents hooks with no spec: {sorted(stale)}"
