"""getting-started.md's Django + Firestore callback, run as the page shows it.

``maestro_e2e.callbacks`` holds the snippet byte for byte; the first test
keeps it in step with the page (the README's copy, and the page itself where
the checkout has it beside it). The second configures the callback as the
page says, creates a customer through a request, and finds it in the
Firestore emulator once the callback's thread has synced.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from maestro_e2e.support import REPOSITORY, unique_name

CALLBACK = "maestro_e2e.callbacks.on_changes_commited"
MARKER = "# --- getting-started.md ---\n"
DOCUMENTS = [
    REPOSITORY / "README.md",
    REPOSITORY.parent / "shared" / "docs" / "getting-started.md",
]


def documented_callbacks() -> dict[Path, str]:
    """The callback snippet of every document here that shows it."""
    found = {}
    for document in DOCUMENTS:
        if not document.is_file():
            continue
        blocks = re.findall(r"```python\n(.*?)```", document.read_text(), re.S)
        for block in blocks:
            if "def on_changes_commited" in block and "firestore" in block:
                found[document] = block
    return found


def test_the_callback_module_is_the_documented_snippet():
    import maestro_e2e.callbacks

    source = Path(maestro_e2e.callbacks.__file__).read_text()
    assert MARKER in source
    code = source.split(MARKER, 1)[1]
    snippets = documented_callbacks()
    if not snippets:
        pytest.skip(
            "neither the README nor getting-started.md shows the callback here; "
            f"looked in {[str(d) for d in DOCUMENTS]}"
        )
    for document, snippet in snippets.items():
        assert code.strip() == snippet.strip(), (
            f"maestro_e2e/callbacks.py differs from the snippet in {document}"
        )


def _sync_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.endswith("(start_sync)")]


@pytest.mark.django_db(transaction=True)
def test_a_request_reaches_firestore_through_the_documented_callback(
    client, settings, emulator, monkeypatch
):
    from maestro_demo.shop.models import Customer
    from maestro_firestore import create_firestore_store

    project = unique_name("callback")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator.address)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", project)
    assert "maestro.backends.django.contrib.middleware.SyncQueueMiddleware" in (
        settings.MIDDLEWARE
    )
    settings.MAESTRO = {**settings.MAESTRO, "CHANGES_COMMITTED_CALLBACK": CALLBACK}
    already = set(_sync_threads())

    response = client.post(
        "/customers/", {"name": "Ada Lovelace", "email": "ada@example.org"}
    )
    assert response.status_code == 201, response.content
    customer_id = response.content.decode()

    started = [t for t in _sync_threads() if t not in already]
    assert len(started) == 1, "the callback runs once, at the end of the request"
    started[0].join(60)
    assert not started[0].is_alive(), "the sync did not finish within 60 s"

    phone = emulator.client(project)
    try:
        document = phone.collection("customers").document(customer_id).get()
        assert document.exists, f"customers/{customer_id} is not in Firestore"
        data = document.to_dict()
        customer = Customer.objects.get(pk=customer_id)
        assert data == {
            "name": "Ada Lovelace",
            "email": "ada@example.org",
            "phone": "",
            "signed_up": customer.signed_up,
        }
        from maestro.backends.django.contrib.factory import create_django_provider

        firestore_store = create_firestore_store(phone)
        django_store = create_django_provider().store
        assert firestore_store.get_item("customers", customer_id) == (
            django_store.get_item("customers", customer_id)
        )
        assert firestore_store.get_knowledge() == django_store.get_knowledge()
    finally:
        phone.close()
