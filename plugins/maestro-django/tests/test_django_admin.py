"""The admin pages for Maestro's records, and resolving a conflict there."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from maestro_django.models import ConflictLogEntry
from maestro_django_testproject import callbacks
from maestro_django_testproject.shop.models import Book

from maestro_core import ConflictStatus
from maestro_core.testing import make_orchestrator

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = ["change", "itemversionentry", "sessionentry", "conflictlogentry"]


@pytest.fixture
def waiting_entry(waiting_conflict):
    """The admin's row of the waiting conflict."""
    return ConflictLogEntry.objects.get(conflict_id=waiting_conflict.id)


@pytest.fixture
def admin_client(client):
    user = User.objects.create(username="admin", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


@pytest.mark.parametrize("page", PAGES)
def test_each_record_has_a_read_only_list_and_detail(admin_client, page, waiting_entry):
    url = f"/admin/maestro/{page}/"
    response = admin_client.get(url)
    assert response.status_code == 200
    assert f"{url}add/".encode() not in response.content
    assert b"shop.book" in response.content or b"django" in response.content

    from django.apps import apps

    model = apps.get_model("maestro", page)
    first = model.objects.first()
    detail = admin_client.get(f"{url}{first.pk}/change/")
    assert detail.status_code == 200
    assert b'type="submit" value="Save"' not in detail.content
    assert admin_client.get(f"{url}add/").status_code == 403


def test_the_action_resolves_a_deferred_conflict_with_the_chosen_winner(
    admin_client, waiting_entry, memory, django_provider
):
    callbacks.calls.clear()
    response = admin_client.post(
        "/admin/maestro/conflictlogentry/",
        {"action": "resolve_remote_wins", "_selected_action": [waiting_entry.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert b"Resolved 1 conflict(s); the remote change won." in response.content
    waiting_entry.refresh_from_db()
    assert waiting_entry.status == "RESOLVED"
    assert waiting_entry.winner_change_id == waiting_entry.remote_change_id
    assert Book.objects.get().title == "remote"
    assert callbacks.calls == [False]

    # the choice reaches the other side, which then agrees
    make_orchestrator([django_provider, memory]).run("django")
    assert memory.store.get_item("shop.book", waiting_entry.item_id)["title"] == (
        "remote"
    )


def test_resolving_an_already_resolved_conflict_is_skipped_with_a_warning(
    admin_client, waiting_entry
):
    url = "/admin/maestro/conflictlogentry/"
    data = {"action": "resolve_local_wins", "_selected_action": [waiting_entry.pk]}
    admin_client.post(url, data)

    response = admin_client.post(url, data, follow=True)

    assert b"is resolved or has no local change; skipped" in response.content
    assert Book.objects.get().title == "local"


def test_the_resolve_action_needs_the_change_permission(client, waiting_entry):
    user = User.objects.create(username="viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_conflictlogentry"))
    client.force_login(user)
    url = "/admin/maestro/conflictlogentry/"

    page = client.get(url)
    assert page.status_code == 200
    assert b"resolve_remote_wins" not in page.content
    client.post(
        url,
        {"action": "resolve_remote_wins", "_selected_action": [waiting_entry.pk]},
    )
    waiting_entry.refresh_from_db()
    assert waiting_entry.status == ConflictStatus.DEFERRED.value
