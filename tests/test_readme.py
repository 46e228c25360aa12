"""The README's Python examples that need no server run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_in_memory_example_runs():
    (block,) = [
        b for b in python_blocks(README.read_text()) if "create_memory_provider" in b
    ]
    exec(compile(block, "README.md", "exec"), {})
