"""Several threads writing at once: nothing is lost, nobody deadlocks.

A change that commits after a sync has passed its timestamp would be skipped
for good, since knowledge only moves forward. Writers here hold their
transactions open after recording, so commits land late and out of order
unless timestamps follow commit order.
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.conf import settings as django_settings
from django.db import connections, transaction
from maestro.backends.django.contrib.factory import create_django_provider
from maestro_django.models import Change, Clock
from maestro_django_testproject.shop.models import Author

from maestro_core.testing import assert_converged, held_change_ids

WRITERS = 4
SAVES = 25

requires_postgres = pytest.mark.skipif(
    not django_settings.POSTGRES_AVAILABLE,
    reason="PostgreSQL is not reachable on 127.0.0.1:5432 (user postgres, db test)",
)
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "postgres"])


@requires_postgres
def test_nothing_is_lost_while_threads_save_and_syncs_run(settings, memory, sync):
    settings.MAESTRO = {
        **settings.MAESTRO,
        "DATABASE": "postgres",
        "CHANGES_COMMITTED_CALLBACK": None,
    }
    provider = create_django_provider()
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        rng = random.Random(worker)
        rows = Author.objects.using("postgres")
        try:
            for n in range(SAVES):
                with transaction.atomic(using="postgres"):
                    author = rows.create(name=f"{worker}-{n}")
                    time.sleep(rng.random() * 0.004)
                    if n % 3 == 0:
                        author.name += " (edited)"
                        author.save(using="postgres")
                if n % 5 == 4:
                    author.delete(using="postgres")
        except BaseException as e:  # reported by the test
            errors.append(e)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    sessions = 0
    while any(t.is_alive() for t in threads):
        sync(provider, memory)
        sessions += 1
    for thread in threads:
        thread.join()
    sync(provider, memory)

    assert errors == []
    assert sessions > 1
    held = held_change_ids(provider.store)
    assert len(held) == WRITERS * (SAVES + SAVES // 3 + 1 + SAVES // 5)
    assert held_change_ids(memory.store) == held
    keys = set(Change.objects.using("postgres").values_list("entity_name", "item_id"))
    assert len(keys) == WRITERS * SAVES
    assert_converged([provider.store, memory.store], sorted(keys))


@requires_postgres
def test_a_change_recorded_while_another_holds_the_clock_follows_it(settings):
    """The second change of an item waits for the clock, then builds on the
    version the first one committed, not on what it held before waiting."""
    settings.MAESTRO = {
        **settings.MAESTRO,
        "DATABASE": "postgres",
        "CHANGES_COMMITTED_CALLBACK": None,
    }
    store = create_django_provider().store
    item = {"id": 1, "name": "a"}
    first = store.commit_item_change("INSERT", "shop.author", "1", item, False)
    recorded = threading.Event()
    changes = {}

    def record(name: str, hold: float) -> None:
        try:
            with transaction.atomic(using="postgres"):
                changes[name] = store.commit_item_change(
                    "UPDATE", "shop.author", "1", {**item, "name": name}, False
                )
                recorded.set()
                time.sleep(hold)
        finally:
            connections.close_all()

    holder = threading.Thread(target=record, args=("held", 0.5))
    holder.start()
    assert recorded.wait(10)
    waiter = threading.Thread(target=record, args=("waited", 0))
    waiter.start()
    holder.join()
    waiter.join()

    held, waited = changes["held"], changes["waited"]
    assert held.parent_id == first.id
    assert waited.parent_id == held.id
    assert waited.vector.includes(held.vector)
    assert store.get_item_version("shop.author", "1").change_id == waited.id


@requires_postgres
def test_a_captured_save_on_postgresql_costs_one_statement_more(settings):
    """The capture joins the save's transaction as a single statement."""
    from django.test.utils import CaptureQueriesContext
    from maestro_django import applying_remote_changes

    settings.MAESTRO = {**settings.MAESTRO, "DATABASE": "postgres"}
    Author.objects.using("postgres").create(name="warm up")  # the clock row
    connection = connections["postgres"]
    with CaptureQueriesContext(connection) as plain, applying_remote_changes():
        with transaction.atomic(using="postgres"):
            Author.objects.using("postgres").create(name="not captured")
    with CaptureQueriesContext(connection) as captured:
        with transaction.atomic(using="postgres"):
            Author.objects.using("postgres").create(name="synced")
    assert len(captured) == len(plain) + 1, [q["sql"] for q in captured]


@pytest.mark.skipif(
    not django_settings.MARIADB_AVAILABLE,
    reason="MariaDB is not reachable on 127.0.0.1:3306 (user root, no password)",
)
@pytest.mark.django_db(transaction=True, databases=["mariadb"])
def test_first_timestamps_issued_at_once_on_mariadb_do_not_deadlock():
    """Threads that find no clock row yet all create it in the same instant;
    InnoDB's gap locks must not turn that into a deadlock."""
    store = create_django_provider(using="mariadb").store
    clocks = Clock.objects.using("mariadb")
    threads_per_round = 6
    start = threading.Barrier(threads_per_round)
    errors: list[BaseException] = []
    issued: list[int] = []

    def first_timestamp() -> None:
        try:
            start.wait(10)
            with transaction.atomic(using="mariadb"):
                issued.append(store.issue_timestamp())
        except BaseException as e:  # reported by the test
            errors.append(e)
        finally:
            connections.close_all()

    for _ in range(25):
        clocks.all().delete()
        issued.clear()
        threads = [
            threading.Thread(target=first_timestamp) for _ in range(threads_per_round)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(set(issued)) == threads_per_round
