"""Django (PostgreSQL), MongoDB and Firestore, written at random, converge.

Hypothesis writes customers on every side the way each side's applications
do (the Django ORM, ``commit_item_change`` on MongoDB, a plain Firestore
client whose writes the backend captures), runs sessions between random
pairs (some stopped between batches or killed inside one), then one full
round. Afterwards every store holds what the default
policy makes of the changes that no other change includes (computed here,
independently of the engine), and no committed change is lost: each is held
everywhere and is the current state, superseded by a later change, or the
recorded loser of a conflict.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from maestro_e2e.support import unique_name

from maestro_core import DefaultPolicy, ItemChange, Operation, SyncProvider
from maestro_core.testing import make_orchestrator
from maestro_core.testing.conformance import InterruptAfter, KillInsideBatch
from maestro_core.testing.helpers import all_changes

pytestmark = pytest.mark.django_db(transaction=True)

ENTITY = "customers"
SIDES = ("django", "mongo", "firestore")
IDS = ("cus_1", "cus_2", "cus_3")
START = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)


def customer(n: int) -> dict[str, Any]:
    """The fields of a customer, all different for each *n*."""
    return {
        "name": f"Customer {n}",
        "email": f"c{n}@example.org",
        "phone": f"+1 555 {n:04d}",
        # microseconds, which MongoDB keeps only with Maestro's help
        "signed_up": START + dt.timedelta(seconds=n, microseconds=n * 1001),
    }


class Shop:
    """One fresh provider per side, and what each side has committed."""

    def __init__(self, mongo_client: Any, emulator: Any):
        from maestro.backends.django.contrib.factory import create_django_provider
        from maestro_firestore import create_firestore_provider
        from maestro_mongo import create_mongo_provider

        self.mongo_database = unique_name("e2e").replace("-", "_")
        self.phone = emulator.client(unique_name("e2e"))
        self.providers: dict[str, SyncProvider] = {
            "django": create_django_provider(max_changes_per_session=3),
            "mongo": create_mongo_provider(
                client=mongo_client,
                database_name=self.mongo_database,
                provider_id="mongo",
                max_changes_per_session=3,
            ),
            "firestore": create_firestore_provider(
                emulator.client(self.phone.project), max_changes_per_session=3
            ),
        }
        self.mongo_client = mongo_client
        self.committed: list[ItemChange] = []
        self.counter = 0

    def close(self) -> None:
        self.phone.close()
        self.providers["firestore"].store.client.close()
        self.mongo_client.drop_database(self.mongo_database)

    def store(self, side: str) -> Any:
        return self.providers[side].store

    def _new_local_changes(self, side: str, before: int) -> list[ItemChange]:
        return list(self.store(side).select_changes(side, before, 1000))

    def _last_timestamp(self, side: str) -> int:
        return self.store(side).get_knowledge().get(side)

    def write(self, side: str, item_id: str, operation: str) -> None:
        """Write as the side's applications do; remember what was committed."""
        self.counter += 1
        fields = customer(self.counter)
        before = self._last_timestamp(side)
        getattr(self, f"_write_{side}")(item_id, operation, fields)
        self.committed.extend(self._new_local_changes(side, before))

    def _write_django(self, item_id: str, operation: str, fields: dict) -> None:
        from maestro_demo.shop.models import Customer

        if operation == "delete":
            Customer.objects.filter(pk=item_id).delete()
        elif operation == "edit" and Customer.objects.filter(pk=item_id).exists():
            row = Customer.objects.get(pk=item_id)
            row.phone = fields["phone"]
            row.save()
        else:
            Customer.objects.update_or_create(pk=item_id, defaults=fields)

    def _write_mongo(self, item_id: str, operation: str, fields: dict) -> None:
        store = self.store("mongo")
        current = store.get_item(ENTITY, item_id)
        item = {"id": item_id, "collection_name": ENTITY, **fields}
        if operation == "delete":
            if current is None:
                return
            kind = Operation.DELETE
        else:
            kind = Operation.INSERT if current is None else Operation.UPDATE
        store.commit_item_change(
            operation=kind, entity_name=ENTITY, item_id=item_id, item=item
        )

    def _write_firestore(self, item_id: str, operation: str, fields: dict) -> None:
        from maestro_firestore import capture_document

        document = self.phone.collection(ENTITY).document(item_id)
        if operation == "delete":
            document.delete()
        elif operation == "edit" and document.get().exists:
            document.update({"phone": fields["phone"]})
        else:
            document.set(fields)
        # what a Cloud Functions trigger does with the write
        snapshot = document.get()
        capture_document(
            self.store("firestore"),
            ENTITY,
            item_id,
            snapshot.to_dict() if snapshot.exists else None,
        )


@pytest.fixture
def new_shop(mongo_client, emulator, clear_django) -> Iterator[Any]:
    shops: list[Shop] = []

    def make() -> Shop:
        clear_django()
        shop = Shop(mongo_client, emulator)
        shops.append(shop)
        return shop

    yield make
    for shop in shops:
        shop.close()


def expected_state(changes: list[ItemChange]) -> dict[str, ItemChange]:
    """For each item, the change that should be its current state."""
    policy = DefaultPolicy()
    by_item: dict[str, list[ItemChange]] = {}
    for change in changes:
        by_item.setdefault(change.item_id, []).append(change)
    winners = {}
    for item_id, history in by_item.items():
        heads = [c for c in history if not _superseded(c, history)]
        winners[item_id] = max(heads, key=policy.rank)
    return winners


def _superseded(change: ItemChange, history: list[ItemChange]) -> bool:
    return any(
        other.id != change.id and other.vector.get(change.origin) >= change.timestamp
        for other in history
    )


WRITE = st.tuples(
    st.just("write"),
    st.sampled_from(SIDES),
    st.sampled_from(IDS),
    st.sampled_from(["upsert", "upsert", "edit", "delete"]),
)
INTERRUPTION = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(["stopped after", "killed at"]), st.integers(1, 4)),
)
INTERRUPTIONS = {"stopped after": InterruptAfter, "killed at": KillInsideBatch}
"""A session stopped after its n-th applied change, or killed inside a batch
at its n-th change, before the batch commits."""
SYNC = st.tuples(
    st.just("sync"), st.sampled_from(SIDES), st.sampled_from(SIDES), INTERRUPTION
)
STEP = st.one_of(WRITE, WRITE, SYNC)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=10, max_size=20))
def test_random_writes_and_sessions_then_a_full_round_agree(new_shop, steps):
    shop = new_shop()
    providers = list(shop.providers.values())
    for step in steps:
        if step[0] == "write":
            shop.write(*step[1:])
            continue
        _, source, target, interruption = step
        if source == target:
            continue
        plugins = []
        if interruption is not None:
            kind, change = interruption
            plugins.append(INTERRUPTIONS[kind](change))
        try:
            make_orchestrator(providers, *plugins).synchronize_providers(source, target)
        except KeyboardInterrupt:
            pass  # what a killed process leaves behind

    orchestrator = make_orchestrator(providers)

    orchestrator.run("django")

    stores = [shop.store(side) for side in SIDES]
    winners = expected_state(shop.committed)
    # every store holds the same, and it is what the policy makes of the heads
    for item_id, winner in winners.items():
        expected = None if winner.operation is Operation.DELETE else winner.item
        for store in stores:
            assert store.get_item(ENTITY, item_id) == expected, (
                f"{store.provider_id} holds {store.get_item(ENTITY, item_id)!r} "
                f"for {item_id}; expected {expected!r}"
            )
    # no committed change is lost
    losers = {
        log.loser_change_id
        for store in stores
        for log in store.get_conflict_logs()
        if log.loser_change_id is not None
    }
    for store in stores:
        held = {change.id for change in all_changes(store)}
        missing = [c for c in shop.committed if c.id not in held]
        assert not missing, f"{store.provider_id} lacks {missing!r}"
    for change in shop.committed:
        history = [c for c in shop.committed if c.item_id == change.item_id]
        assert (
            winners[change.item_id].id == change.id
            or _superseded(change, history)
            or change.id in losers
        ), f"{change!r} is neither current, superseded nor a recorded loser"
    # a second round finds nothing left to do
    again = orchestrator.run("mongo")
    assert sum(s.applied + s.conflicts + s.deferred for s in again) == 0
