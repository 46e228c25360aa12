"""``make demo`` tells its story, ends with the stores agreeing, leaves nothing.

The demo runs in a process of its own, as a user runs it, with its database
in a temporary directory so that a developer's ``data/`` stays as it is.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from maestro_e2e.support import REPOSITORY

TIMEOUT_SECONDS = 300
# SecantusDB serves from threads of the demo's process, so a port still
# answering after the process ended would belong to the emulator.
ADDRESS = re.compile(r"on (127\.0\.0\.1):(\d+)")


def run_demo(
    command: list[str], data: Path, *, unset: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "MAESTRO_DEMO_DATA": str(data)}
    for name in ("DJANGO_SETTINGS_MODULE", *unset):
        environment.pop(name, None)
    return subprocess.run(
        command,
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
        start_new_session=True,
    )


def assert_nothing_listens(output: str) -> None:
    addresses = [(h, int(p)) for h, p in ADDRESS.findall(output)]
    assert addresses, "the demo says where its servers listen"
    for address in addresses:
        with socket.socket() as probe:
            probe.settimeout(1)
            assert probe.connect_ex(address) != 0, f"{address} still answers"


def _emulator_jar() -> Path | None:
    from maestro_firestore.emulator import find_jar

    return find_jar()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_ends_with_three_stores_agreeing(tmp_path):
    if _emulator_jar() is None:
        pytest.skip("no Firestore emulator jar: the story would leave Firestore out")
    # `-o install`: the suite runs inside the installed environment already
    make = ["make", "--no-print-directory", "-s", "-o", "install"]
    done = run_demo([*make, "demo", f"VENV={sys.prefix}"], tmp_path)
    output = done.stdout
    assert done.returncode == 0, output + done.stderr
    assert output.rstrip().splitlines()[-1] == "All 3 stores agree: 5 records."

    # the story: records from each side, two syncs through the command line,
    # conflicts settled by the configured policies, and the conflict log
    for told in (
        "through the Django ORM",
        "through commit_item_change",
        "with a plain Firestore client",
        "customers/cus_margaret",
    ):
        assert told in output
    assert output.count("$ maestro sync --config") == 2
    conflicts = output.split("$ maestro conflicts --config")[1].split("$ maestro")[0]
    assert "merge_fields" in conflicts and "prefer_provider" in conflicts
    assert "DEFERRED" not in conflicts
    # maestro status: for each pair of stores, nothing is waiting to be sent
    status = output.split("$ maestro status --config")[1]
    stores = {"django", "mongo", "firestore"}
    pairs = [
        row.split()
        for row in status.splitlines()
        if len(row.split()) > 2
        and set(row.split()[:2]) <= stores
        and row.split()[0] != row.split()[1]
    ]
    assert len(pairs) == 6 and all(row[2] == "0" for row in pairs), status
    final = output.split("Every store holds the same records")[1]
    assert "phone=+44 20 7946 0018" in final and "ada@lovelace.example" in final
    assert "status=cancelled" in final
    assert (tmp_path / "shop.sqlite3").is_file()
    assert (tmp_path / "maestro.toml").is_file()
    assert_nothing_listens(output)


def test_without_the_emulator_jar_the_demo_says_so_and_syncs_two_stores(tmp_path):
    script = (
        "from pathlib import Path\n"
        "import maestro_firestore.emulator as emulator\n"
        "emulator.DEFAULT_JAR = Path('/nonexistent/cloud-firestore-emulator.jar')\n"
        "from maestro_demo.scenario import run\n"
        "raise SystemExit(run([]))\n"
    )
    done = run_demo(
        [sys.executable, "-c", script], tmp_path, unset=("FIRESTORE_EMULATOR_JAR",)
    )
    output = done.stdout
    assert done.returncode == 0, output + done.stderr
    skipped = [line for line in output.splitlines() if "Firestore: skipped" in line]
    assert len(skipped) == 1 and "no emulator jar" in skipped[0]
    assert "firestore" not in (tmp_path / "maestro.toml").read_text()
    assert output.rstrip().splitlines()[-1] == "All 2 stores agree: 4 records."
    assert_nothing_listens(output)
