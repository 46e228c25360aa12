"""Django backend: the cost of capture, apply and sync rates, history growth.

Configures Django in code (the plugin's test project app ``shop``, the
``maestro`` app) on a SQLite file and, when PostgreSQL is reachable, on a
database of its own (``maestro_bench_<pid>``, created and dropped here). Run alone
(``python bench/bench_django.py [--quick]``) or through ``run.py``.

* captured save vs plain save: the same model, autocommit saves, with the
  model in ``MAESTRO['MODELS']`` and without, in the same run (and, for
  information, each save in a ``transaction.atomic()`` block of its own);
* applying remote changes into Django vs the same rows saved through the
  ORM in one transaction;
* changes synced per second into and out of Django;
* the time to sync 1,000 new changes when the history holds 10 times more.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "plugins" / "maestro-django" / "tests"))

from harness import Result, at_least, at_most, info, stopwatch  # noqa: E402

ENTITY = "bench_item"
BENCH_DATABASE = f"maestro_bench_{os.getpid()}"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
SYNCED = {"MODELS": [{"model": "shop.conformanceitem", "entity_name": ENTITY}]}
_SQLITE = os.path.join(tempfile.gettempdir(), f"maestro-bench-{os.getpid()}.sqlite3")


def _postgres_reachable() -> bool:
    try:
        import psycopg

        psycopg.connect(dbname="test", connect_timeout=3, **PG).close()
    except Exception:
        return False
    return True


def _admin_sql(statement: str) -> None:
    import psycopg

    with psycopg.connect(dbname="test", autocommit=True, **PG) as connection:
        connection.execute(statement)


def _configure(postgres: bool) -> None:
    import django
    from django.conf import settings

    if settings.configured:
        return
    databases = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _SQLITE},
    }
    if postgres:
        databases["postgres"] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": BENCH_DATABASE,
            "HOST": PG["host"],
            "PORT": PG["port"],
            "USER": PG["user"],
        }
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "maestro_django_testproject.shop",
            "maestro.backends.django",
        ],
        DATABASES=databases,
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        MAESTRO=SYNCED,
    )
    django.setup()


@contextmanager
def _databases(postgres: bool) -> Iterator[list[str]]:
    """Fresh, migrated databases for one run; dropped afterwards."""
    from django.core.management import call_command
    from django.db import connections

    aliases = ["default"]
    if os.path.exists(_SQLITE):
        os.remove(_SQLITE)
    if postgres:
        _admin_sql(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        _admin_sql(f"CREATE DATABASE {BENCH_DATABASE}")
        aliases.append("postgres")
    try:
        for alias in aliases:
            call_command("migrate", database=alias, verbosity=0)
        yield aliases
    finally:
        connections.close_all()
        if postgres:
            _admin_sql(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        if os.path.exists(_SQLITE):
            os.remove(_SQLITE)


@contextmanager
def _capturing(alias: str, synced: bool = True) -> Iterator[None]:
    """Capture writes to *alias* (or nothing, with ``synced=False``)."""
    from django.test import override_settings

    maestro = {**SYNCED, "DATABASE": alias} if synced else {"MODELS": []}
    with override_settings(MAESTRO=maestro):
        yield


def _wipe(alias: str) -> None:
    """Empty the bench table and Maestro's tables, without signals."""
    from django.db import connections

    tables = [
        "shop_conformanceitem",
        "maestro_change",
        "maestro_item_version",
        "maestro_knowledge",
        "maestro_conflict_log",
        "maestro_session",
        "maestro_clock",
        "maestro_sync_lock",
    ]
    with connections[alias].cursor() as cursor:
        for table in tables:
            cursor.execute(f"DELETE FROM {table}")


def _fields(n: int) -> dict:
    return {
        "name": f"item {n}",
        "count": n,
        "email": f"user{n}@example.org",
        "phone": f"+1 555 {n:07d}",
    }


def _memory_with(count: int, start: int = 0, provider_id: str = "memory"):
    from maestro_core import create_memory_provider

    memory = create_memory_provider(provider_id)
    _commit_into(memory, count, start)
    return memory


def _commit_into(memory, count: int, start: int) -> None:
    for n in range(start, start + count):
        item_id = f"m{n}"
        memory.store.commit_item_change(
            "INSERT", ENTITY, item_id, {"id": item_id, **_fields(n)}
        )


def _django(alias: str, provider_id: str = "django"):
    from maestro_django import create_django_provider

    return create_django_provider(provider_id, using=alias)


def _sync(source, target):
    from maestro_core.testing import make_orchestrator

    orchestrator = make_orchestrator([source, target], maximum_duration_seconds=3600)
    return orchestrator.synchronize_providers(source.provider_id, target.provider_id)


def _local_history(alias: str, count: int, start: int = 0) -> None:
    """*count* new rows of the bench model, recorded as local changes in bulk."""
    from maestro_django.capture import local_store
    from maestro_django.conf import synced_models
    from maestro_django.serializer import item_from_instance
    from maestro_django_testproject.shop.models import ConformanceItem

    rows = ConformanceItem.objects.using(alias)
    with _capturing(alias):
        [synced] = synced_models()
        store = local_store()
        for first in range(start, start + count, 2000):
            last = min(first + 2000, start + count)
            batch = [
                ConformanceItem(id=f"d{n}", **_fields(n)) for n in range(first, last)
            ]
            rows.bulk_create(batch)
            store.record_local_changes(
                [
                    ("INSERT", ENTITY, row.pk, item_from_instance(synced, row))
                    for row in batch
                ]
            )


# -- the measures -------------------------------------------------------------


def _save_cost(alias: str, count: int, atomic: bool = False) -> tuple[float, float]:
    """Seconds per save: (captured, plain), interleaved rounds.

    Autocommit saves, or with *atomic* each save in a ``transaction.atomic()``
    block of its own, as with ``ATOMIC_REQUESTS`` (the plain save then pays
    for a transaction too).
    """
    from django.db import connections, transaction
    from maestro_django_testproject.shop.models import ConformanceItem

    def save(item: ConformanceItem, **options: bool) -> None:
        if atomic:
            with transaction.atomic(using=alias):
                item.save(using=alias, **options)
        else:
            item.save(using=alias, **options)

    timings: dict[bool, float] = {True: 0.0, False: 0.0}
    rounds = 4
    per_round = count // rounds
    for r in range(rounds):
        for synced in (r % 2 == 0, r % 2 == 1):
            _wipe(alias)
            with _capturing(alias, synced=synced), stopwatch() as elapsed:
                for n in range(per_round):
                    item = ConformanceItem(id=f"s{n}", **_fields(n))
                    save(item, force_insert=True)
                    item.count += 1
                    save(item)
            timings[synced] += elapsed()
    connections[alias].close()
    saves = 2 * per_round * rounds
    return timings[True] / saves, timings[False] / saves


def _orm_rate(alias: str, count: int) -> float:
    """Rows per second saved through the ORM, uncaptured, in one transaction."""
    from django.db import transaction
    from maestro_django_testproject.shop.models import ConformanceItem

    _wipe(alias)
    with _capturing(alias, synced=False), stopwatch() as elapsed:
        with transaction.atomic(using=alias):
            for n in range(count):
                item_id = f"m{n}"
                row = ConformanceItem.objects.using(alias).filter(pk=item_id).first()
                if row is None:
                    row = ConformanceItem(id=item_id)
                for key, value in _fields(n).items():
                    setattr(row, key, value)
                row.save(using=alias)
    return count / elapsed()


def _into_rate(alias: str, count: int) -> float:
    memory = _memory_with(count)
    _wipe(alias)
    with _capturing(alias):
        target = _django(alias)
        with stopwatch() as elapsed:
            session = _sync(memory, target)
    assert session.applied == count, session
    return count / elapsed()


def _out_rate(alias: str, count: int) -> float:
    from maestro_core import create_memory_provider

    _wipe(alias)
    _local_history(alias, count)
    with _capturing(alias):
        source = _django(alias)
        target = create_memory_provider("memory")
        with stopwatch() as elapsed:
            session = _sync(source, target)
    assert session.applied == count, session
    return count / elapsed()


@contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep the collector off the objects made so far while timing.

    The in-memory receiver holds the whole history in this process; without
    this, the collector's passes over it would be counted as Django's growth.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _growth(alias: str, history: int, new: int) -> tuple[float, float]:
    """Seconds to sync *new* changes out of and into Django over *history*.

    The history is Django's own: *history* rows recorded as local changes and
    already held by the receiver. Then, three times, *new* local changes go
    out and *new* changes of new items come in from another provider; the
    fastest of the three counts, as the machines here are shared.
    """
    from maestro_core import create_memory_provider

    _wipe(alias)
    out_seconds: list[float] = []
    into_seconds: list[float] = []
    with _capturing(alias):
        _local_history(alias, history)
        django = _django(alias)
        receiver = create_memory_provider("receiver")
        _sync(django, receiver)
        for attempt in range(3):
            _local_history(alias, new, start=history + attempt * new)
            with _frozen_heap(), stopwatch() as elapsed:
                out = _sync(django, receiver)
            assert out.applied == new, out
            out_seconds.append(elapsed())

            sender = _memory_with(new, start=attempt * new, provider_id=f"s{attempt}")
            with _frozen_heap(), stopwatch() as elapsed:
                into = _sync(sender, django)
            assert into.applied == new, into
            into_seconds.append(elapsed())
            _sync(django, receiver)  # the receiver catches up, untimed
    return min(out_seconds), min(into_seconds)


def _measure_database(alias: str, name: str, quick: bool) -> list[Result]:
    saves = 400 if quick else 2_000
    applied = 1_000 if quick else 5_000
    synced = 2_000 if quick else 10_000
    small, large = (2_000, 20_000) if quick else (10_000, 100_000)
    new = 1_000

    captured, plain = _save_cost(alias, saves)
    captured_atomic, plain_atomic = _save_cost(alias, saves, atomic=True)
    orm = _orm_rate(alias, applied)
    applying = _into_rate(alias, applied)
    into = _into_rate(alias, synced)
    out = _out_rate(alias, synced)
    out_small, into_small = _growth(alias, small, new)
    out_large, into_large = _growth(alias, large, new)
    return [
        at_most(
            f"{name}: captured save / plain save (autocommit)",
            captured / plain,
            "x",
            2.5,
            f"{captured * 1e6:.0f} us vs {plain * 1e6:.0f} us per save, "
            f"{saves} saves each",
        ),
        info(
            f"{name}: captured save / plain save, each in transaction.atomic()",
            captured_atomic / plain_atomic,
            "x",
            f"{captured_atomic * 1e6:.0f} us vs {plain_atomic * 1e6:.0f} us per save",
        ),
        at_least(
            f"{name}: applying remote changes / ORM saves in one transaction",
            applying / orm,
            "ratio",
            0.4,
            f"{applying:,.0f} vs {orm:,.0f} rows/s, {applied:,} inserts",
        ),
        info(f"{name}: memory -> django sync, {synced:,} changes", into, "changes/s"),
        info(f"{name}: django -> memory sync, {synced:,} changes", out, "changes/s"),
        at_most(
            f"{name}: 1,000 new changes out of django, {large:,} vs {small:,} held",
            out_large / out_small,
            "x",
            1.3,
            f"{out_small:.2f} s vs {out_large:.2f} s",
        ),
        at_most(
            f"{name}: 1,000 new changes into django, {large:,} vs {small:,} held",
            into_large / into_small,
            "x",
            1.3,
            f"{into_small:.2f} s vs {into_large:.2f} s",
        ),
    ]


def measure(quick: bool) -> list[Result]:
    postgres = _postgres_reachable()
    _configure(postgres)
    from django.conf import settings

    postgres = "postgres" in settings.DATABASES and postgres
    results: list[Result] = []
    with _databases(postgres) as aliases:
        for alias in aliases:
            name = "django sqlite" if alias == "default" else "django postgresql"
            results.extend(_measure_database(alias, name, quick))
    if not postgres:
        results.append(info("django postgresql: not reachable, skipped", 0, ""))
    return results


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    for result in measure(quick):
        verdict = {True: "met", False: "MISSED", None: ""}[result.ok]
        print(
            f"{result.name:<72} {result.value:>10.2f} {result.unit:<9} "
            f"{result.target:<8} {verdict} {result.detail}"
        )


if __name__ == "__main__":
    main()
