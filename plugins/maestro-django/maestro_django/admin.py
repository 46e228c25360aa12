"""Read-only admin pages for Maestro's records, and resolving conflicts."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from maestro_core import MaestroError

from .capture import changes_committed, local_store
from .models import Change, ConflictLogEntry, ItemVersionEntry, SessionEntry


class ReadOnlyAdmin(admin.ModelAdmin):
    """Maestro's records are written by syncs only; the admin shows them."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Change)
class ChangeAdmin(ReadOnlyAdmin):
    list_display = ["id", "operation", "entity_name", "item_id", "origin", "timestamp"]
    list_filter = ["operation", "origin", "entity_name"]
    search_fields = ["=id", "=item_id", "entity_name"]
    ordering = ["-timestamp"]


@admin.register(ItemVersionEntry)
class ItemVersionAdmin(ReadOnlyAdmin):
    list_display = ["entity_name", "item_id", "operation", "change_id"]
    list_filter = ["entity_name", "operation"]
    search_fields = ["=item_id", "=change_id"]


@admin.register(SessionEntry)
class SessionAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "source_provider_id",
        "target_provider_id",
        "status",
        "sent",
        "applied",
        "conflicts",
        "deferred",
    ]
    list_filter = ["status", "source_provider_id", "target_provider_id"]


def _resolve(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[ConflictLogEntry],
    side: str,
) -> None:
    store = local_store()
    resolved = 0
    for entry in queryset:
        winner = getattr(entry, f"{side}_change_id")
        if entry.status != "DEFERRED" or winner is None:
            modeladmin.message_user(
                request,
                f"Conflict {entry.conflict_id} is {entry.status.lower()} or has no "
                f"{side} change; skipped.",
                messages.WARNING,
            )
            continue
        try:
            store.resolve_conflict(entry.conflict_id, winner)
        except MaestroError as e:
            modeladmin.message_user(request, str(e), messages.ERROR)
        else:
            resolved += 1
    if resolved:
        changes_committed()
        modeladmin.message_user(
            request, f"Resolved {resolved} conflict(s); the {side} change won."
        )


@admin.action(description="Resolve: the local change wins", permissions=["resolve"])
def resolve_local_wins(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[ConflictLogEntry],
) -> None:
    """Settle the selected deferred conflicts in favour of this provider's change."""
    _resolve(modeladmin, request, queryset, "local")


@admin.action(description="Resolve: the remote change wins", permissions=["resolve"])
def resolve_remote_wins(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[ConflictLogEntry],
) -> None:
    """Settle the selected deferred conflicts in favour of the incoming change."""
    _resolve(modeladmin, request, queryset, "remote")


@admin.register(ConflictLogEntry)
class ConflictLogAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "conflict_type",
        "status",
        "entity_name",
        "item_id",
        "policy",
    ]
    list_filter = ["status", "conflict_type", "entity_name"]
    search_fields = ["=conflict_id", "=item_id"]
    actions = [resolve_local_wins, resolve_remote_wins]

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        """Resolving writes data: it takes the permission to change conflicts."""
        return request.user.has_perm("maestro.change_conflictlogentry")
