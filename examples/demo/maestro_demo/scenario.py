"""The story ``make demo`` tells: one shop, three databases, kept in sync.

The back office runs on Django (a SQLite file), the order service on MongoDB
(SecantusDB, in this process) and the mobile app on Cloud Firestore (the
emulator, when the machine has it). Each side records customers and orders;
``maestro sync`` brings them together; two records are then edited on two
sides at once, and the next sync detects the conflicts and settles them by
the policies ``maestro.toml`` names. Every sync and the conflict log go
through the ``maestro`` command and the configuration file, as a deployment
would run them.

Run with ``python -m maestro_demo`` (``make demo``). Without the emulator's
jar the story goes on with Django and MongoDB, saying so in one line.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import decimal
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from maestro_core import Operation, SyncProvider, decode_item

from . import services
from .report import Narrator, StoreView, compare

__all__ = ["DemoError", "run"]

SETTINGS = "maestro_demo.settings"
ENTITIES = ["customers", "orders"]
START = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)
CAPTURE_TIMEOUT_SECONDS = 30.0
COMMAND_TIMEOUT_SECONDS = 120.0


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and why."""


# -- the stores -------------------------------------------------------------


def _open_django(say: Narrator) -> tuple[SyncProvider, Path]:
    """Configure Django with the example's settings; create and migrate the file."""
    configured = os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    if configured != SETTINGS:
        raise DemoError(
            f"DJANGO_SETTINGS_MODULE is {configured!r}; the demo expected to "
            f"configure {SETTINGS!r} itself"
        )
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    database = Path(settings.DATABASES["default"]["NAME"])
    existed = database.exists()
    database.parent.mkdir(parents=True, exist_ok=True)
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    if existed:
        say.line(f"Django: emptied {_shown(database)} for a fresh story")
    else:
        say.line(f"Django: created {_shown(database)} and applied the migrations")

    from maestro.backends.django.contrib.factory import create_django_provider

    return create_django_provider(), database


def _field_order() -> dict[str, list[str]]:
    """The fields of each entity in the order the models declare them."""
    from maestro_django.conf import model_for_entity

    return {
        entity: [f.name for f in model_for_entity(entity).model._meta.concrete_fields]
        for entity in ENTITIES
    }


def _django_view(provider: SyncProvider) -> StoreView:
    from maestro_django.conf import model_for_entity

    def list_ids(entity: str) -> list[str]:
        model = model_for_entity(entity).model
        return [str(pk) for pk in model.objects.values_list("pk", flat=True)]

    return StoreView(provider.store, list_ids)


def _open_mongo(
    server: services.MongoServer, database_name: str, stack: contextlib.ExitStack
) -> tuple[SyncProvider, StoreView]:
    from maestro_mongo import create_mongo_provider
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(server.uri)
    stack.callback(client.close)
    provider = create_mongo_provider(
        client=client, database_name=database_name, provider_id="mongo"
    )
    database = client[database_name]

    def list_ids(entity: str) -> list[str]:
        return [str(i) for i in database[entity].distinct("_id")]

    return provider, StoreView(provider.store, list_ids)


def _open_firestore(
    emulator: Any, project: str, stack: contextlib.ExitStack
) -> tuple[SyncProvider, StoreView, Any]:
    """The Firestore provider, and a plain client acting as the mobile app."""
    from google.cloud import firestore
    from maestro_firestore import create_firestore_provider

    provider = create_firestore_provider(
        project=project, emulator_host=emulator.address
    )
    # What a mobile app's SDK does, with a plain client pointed at the emulator.
    with _environment(FIRESTORE_EMULATOR_HOST=emulator.address):
        phone = firestore.Client(project=project)
    stack.callback(phone.close)
    stack.callback(provider.store.client.close)

    def list_ids(entity: str) -> list[str]:
        return [doc.id for doc in phone.collection(entity).list_documents()]

    return provider, StoreView(provider.store, list_ids), phone


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _capturing(provider: SyncProvider, expected: int) -> Iterator[None]:
    """Listen to the mobile app's collections while the block writes.

    The listener records each write the app makes as a change; on leaving
    the block, wait until *expected* writes have been captured, then stop
    listening (so the listener's view never lags behind a sync).
    """
    from maestro_firestore import CaptureListener, FirestoreDataStore

    assert isinstance(provider.store, FirestoreDataStore)
    listener = CaptureListener(provider.store, ENTITIES)
    listener.start()
    try:
        if not listener.wait_for_snapshots(len(ENTITIES), CAPTURE_TIMEOUT_SECONDS):
            raise DemoError("the Firestore listener never received its snapshots")
        yield
        deadline = time.monotonic() + CAPTURE_TIMEOUT_SECONDS
        while listener.captured < expected and not listener.errors:
            if time.monotonic() > deadline:
                raise DemoError(
                    f"the Firestore listener captured {listener.captured} of the "
                    f"mobile app's {expected} writes within "
                    f"{CAPTURE_TIMEOUT_SECONDS:g} s"
                )
            time.sleep(0.02)
        if listener.errors:
            raise DemoError(
                f"the Firestore listener failed to capture a write: "
                f"{listener.errors[0]!r}"
            )
    finally:
        listener.stop()


# -- the maestro command ----------------------------------------------------


def _maestro_command() -> list[str]:
    """The ``maestro`` console script of this interpreter's environment."""
    beside = Path(sys.executable).with_name("maestro")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("maestro")
    if found is None:
        raise DemoError(
            "the `maestro` command is not installed; expected it beside "
            f"{sys.executable} (run `make install`)"
        )
    return [found]


def _shown(path: Path) -> str:
    """*path* relative to the example's directory when it lies inside it."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(services.CONFIG_TEMPLATE.parent))
    return str(path)


def _command_environment() -> dict[str, str]:
    """This process's environment, less what would point Firestore elsewhere.

    The command finds every store through the configuration file alone.
    """
    unset = {"FIRESTORE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT", "MAESTRO_CONFIG"}
    return {k: v for k, v in os.environ.items() if k not in unset}


def _maestro(say: Narrator, *args: str) -> str:
    """Run ``maestro ARGS`` in a process of its own and show its output."""
    command = [*_maestro_command(), *args]
    shown = " ".join(["maestro", *args])
    try:
        done = subprocess.run(
            command,
            cwd=services.CONFIG_TEMPLATE.parent,
            env=_command_environment(),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise DemoError(
            f"`{shown}` did not finish within {COMMAND_TIMEOUT_SECONDS:g} s"
        ) from error
    say.command(shown, done.stdout)
    if done.returncode != 0:
        raise DemoError(
            f"`{shown}` exited with status {done.returncode}:\n{done.stderr.strip()}"
        )
    return done.stdout


# -- the story --------------------------------------------------------------


def _mongo_item(entity: str, **fields: Any) -> dict[str, Any]:
    return {"collection_name": entity, **fields}


def _create_records(
    say: Narrator,
    mongo: SyncProvider,
    firestore: tuple[SyncProvider, Any] | None,
) -> None:
    from maestro_demo.shop.models import Customer, Order

    say.line("The back office saves a customer and an order through the Django ORM:")
    ada = Customer.objects.create(
        id="cus_ada", name="Ada Lovelace", email="ada@example.org", signed_up=START
    )
    Order.objects.create(
        id="ord_1001",
        customer=ada,
        total=decimal.Decimal("120.00"),
        status=Order.Status.PAID,
        placed_at=START + dt.timedelta(hours=2),
    )
    say.line("  Customer cus_ada, Order ord_1001 (captured as changes on save)")

    say.line("The order service records its own through commit_item_change:")
    for entity, item in [
        (
            "customers",
            {
                "id": "cus_grace",
                "name": "Grace Hopper",
                "email": "grace@example.org",
                "phone": "+1 202 555 0143",
                "signed_up": START + dt.timedelta(days=1),
            },
        ),
        (
            "orders",
            {
                "id": "ord_1002",
                "customer": "cus_grace",
                "total": decimal.Decimal("89.90"),
                "status": "paid",
                "placed_at": START + dt.timedelta(days=1, hours=1),
            },
        ),
    ]:
        mongo.store.commit_item_change(
            operation=Operation.INSERT,
            entity_name=entity,
            item_id=item["id"],
            item=_mongo_item(entity, **item),
        )
    say.line("  customers/cus_grace, orders/ord_1002")

    if firestore is None:
        return
    provider, phone = firestore
    say.line("The mobile app writes a document with a plain Firestore client;")
    say.line("Maestro's listener captures it:")
    with _capturing(provider, expected=1):
        phone.collection("customers").document("cus_margaret").set(
            {
                "name": "Margaret Hamilton",
                "email": "margaret@example.org",
                "phone": "+1 617 555 0199",
                "signed_up": START + dt.timedelta(days=2),
            }
        )
    say.line("  customers/cus_margaret")


def _edit_on_two_sides(
    say: Narrator,
    mongo: SyncProvider,
    firestore: tuple[SyncProvider, Any] | None,
) -> None:
    from maestro_demo.shop.models import Customer, Order

    ada = Customer.objects.get(pk="cus_ada")
    ada.email = "ada@lovelace.example"
    ada.save()
    say.line("The back office changes Ada's email (Django ORM).")
    if firestore is not None:
        provider, phone = firestore
        with _capturing(provider, expected=1):
            phone.collection("customers").document("cus_ada").update(
                {"phone": "+44 20 7946 0018"}
            )
        say.line("The mobile app changes Ada's phone number (Firestore client).")

    current = mongo.store.get_item("orders", "ord_1002")
    assert current is not None
    shipped = {**decode_item(current), "status": "shipped"}
    mongo.store.commit_item_change(
        operation=Operation.UPDATE,
        entity_name="orders",
        item_id="ord_1002",
        item=_mongo_item("orders", **shipped),
    )
    say.line("The order service marks order ord_1002 shipped (commit_item_change).")
    order = Order.objects.get(pk="ord_1002")
    order.status = Order.Status.CANCELLED
    order.save()
    say.line("The back office cancels the same order (Django ORM).")


def _policies(config: dict[str, Any]) -> str:
    policies = config.get("policies", {})
    parts = []
    for entity, spec in policies.get("entities", {}).items():
        if isinstance(spec, dict):
            args = ", ".join(map(str, spec.get("args", [])))
            spec = f"{spec['name']}({args})"
        parts.append(f"{entity}: {spec}")
    parts.append(f"anything else: {policies.get('default', 'default')}")
    return "; ".join(parts)


def _story(say: Narrator, stack: contextlib.ExitStack) -> tuple[int, str]:
    """Tell the story; return the exit status and the closing line."""
    say.heading("Three databases for one shop")
    mongo_server = stack.enter_context(services.mongo_server())
    say.line(
        f"MongoDB: SecantusDB in this process, in memory, on "
        f"{mongo_server.host}:{mongo_server.port}"
    )
    emulator = _start_emulator(say, stack)
    django_provider, database = _open_django(say)
    say.field_order = _field_order()

    config_path = database.parent / "maestro.toml"
    config = services.write_run_config(
        config_path,
        mongo_uri=mongo_server.uri,
        firestore_emulator_host=None if emulator is None else emulator.address,
    )
    options = {p["id"]: p.get("options", {}) for p in config["providers"]}
    mongo_provider, mongo_view = _open_mongo(
        mongo_server, options["mongo"]["database_name"], stack
    )
    views = [_django_view(django_provider), mongo_view]
    firestore = None
    if emulator is not None:
        provider, view, phone = _open_firestore(
            emulator, options["firestore"]["project"], stack
        )
        views.append(view)
        firestore = (provider, phone)
    say.line(f"The `maestro` command reads {_shown(config_path)}: maestro.toml with")
    say.line("  this run's server addresses.")

    say.heading("Each side creates records of its own")
    _create_records(say, mongo_provider, firestore)
    say.line()
    say.table(compare(views, ENTITIES))

    say.heading("A sync brings every record everywhere")
    config_arg = _shown(config_path)
    _maestro(say, "sync", "--config", config_arg)
    say.line()
    say.table(compare(views, ENTITIES))

    say.heading("The same records are edited on two sides before the next sync")
    _edit_on_two_sides(say, mongo_provider, firestore)
    say.line()
    say.table(compare(views, ENTITIES))

    say.heading("The next sync detects the conflicts and resolves them by policy")
    say.line(f"Policies from maestro.toml: {_policies(config)}.")
    _maestro(say, "sync", "--config", config_arg)
    say.line()
    if firestore is not None:
        say.line("customers/cus_ada: the back office changed the email, the app the")
        say.line("  phone; merge_fields keeps each side's change.")
    say.line("orders/ord_1002: both changed the status; prefer_provider(django)")
    say.line("  keeps the back office's.")

    say.heading("Every store holds the same records")
    final = compare(views, ENTITIES)
    say.table(final)
    say.line()
    say.line("The conflict log, as each store recorded it:")
    _maestro(say, "conflicts", "--config", config_arg)
    say.line()
    say.line("Nothing is left waiting in either direction:")
    _maestro(say, "status", "--config", config_arg)

    if not final.agree:
        differing = [f"{e}/{i}" for e, i in final.keys if not final.agreeing((e, i))]
        return 1, f"The {len(views)} stores DISAGREE on {', '.join(differing)}."
    return 0, f"All {len(views)} stores agree: {len(final.keys)} records."


def _start_emulator(say: Narrator, stack: contextlib.ExitStack) -> Any:
    """Google's Firestore emulator, or ``None`` (said in one line) without it."""
    from maestro_firestore.emulator import EmulatorError, find_jar, launch

    jar = find_jar()
    if jar is None:
        say.line(
            "Firestore: skipped, no emulator jar on this machine (install "
            "google-cloud-cli-firestore-emulator or set FIRESTORE_EMULATOR_JAR)."
        )
        return None
    try:
        emulator = launch(jar=jar, allow_npm=False)
    except EmulatorError as error:
        say.line(f"Firestore: skipped, the emulator did not start: {error}")
        return None
    stack.callback(emulator.stop)
    say.line(f"Firestore: Google's emulator on {emulator.address}")
    return emulator


def _stop_on_sigterm() -> Callable[[], None]:
    """Turn SIGTERM into SystemExit, so the servers are stopped on the way out."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


def run(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Tell the story; 0 when every store agrees at the end, 1 otherwise."""
    parser = argparse.ArgumentParser(
        prog="python -m maestro_demo", description=__doc__.split("\n\n")[0]
    )
    parser.parse_args(argv)
    say = Narrator(out or sys.stdout)
    restore = _stop_on_sigterm()
    started = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:
            status, closing = _story(say, stack)
    except DemoError as error:
        print(f"\nThe demo stopped: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nInterrupted; the servers are stopped.", file=sys.stderr)
        return 130
    finally:
        restore()
    say.line()
    say.line(f"(servers stopped; the demo took {time.monotonic() - started:.1f} s)")
    print(f"\n{closing}", file=say.out, flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(run())
