"""Maestro's own tables: changes, knowledge, versions, conflicts, sessions.

One database is one provider. Items and vectors are stored as JSON text
(exact, and cheaper than a JSON column type on every backend); the columns
the engine selects on are indexed for those selections:

* ``Change (origin, timestamp)`` is unique and serves ``select_changes``;
* ``Knowledge`` keeps the newest timestamp held from each other origin, so
  reading knowledge costs one row per origin, whatever the history; the
  provider's own entry is the largest timestamp of its changes, one lookup
  in the ``(origin, timestamp)`` index;
* ``ItemVersion (entity_name, item_id)`` is unique and serves bulk lookups.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = [
    "Change",
    "Clock",
    "ConflictLogEntry",
    "ItemVersionEntry",
    "Knowledge",
    "SessionEntry",
    "SyncLockEntry",
]

OPERATIONS = [("INSERT", "INSERT"), ("UPDATE", "UPDATE"), ("DELETE", "DELETE")]


class Clock(models.Model):
    """The provider's hybrid logical clock: one row, locked while issuing."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.BigIntegerField(default=0)

    class Meta:
        db_table = "maestro_clock"


class Change(models.Model):
    """A change this provider holds, made here or received."""

    id = models.CharField(max_length=64, primary_key=True)
    origin = models.CharField(max_length=255)
    timestamp = models.BigIntegerField()
    operation = models.CharField(max_length=6, choices=OPERATIONS)
    entity_name = models.CharField(max_length=255)
    item_id = models.CharField(max_length=255)
    item = models.TextField(help_text=_("The item after the change, as JSON."))
    vector = models.TextField(help_text=_("The item's version vector, as JSON."))
    parent_id = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        db_table = "maestro_change"
        constraints = [
            models.UniqueConstraint(
                fields=["origin", "timestamp"], name="maestro_change_origin_ts"
            )
        ]
        indexes = [
            models.Index(fields=["entity_name", "item_id"], name="maestro_change_item")
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.entity_name}/{self.item_id} @{self.origin}"


class Knowledge(models.Model):
    """The newest timestamp held from one origin."""

    origin = models.CharField(max_length=255, primary_key=True)
    timestamp = models.BigIntegerField()

    class Meta:
        db_table = "maestro_knowledge"
        verbose_name_plural = "knowledge"


class ItemVersionEntry(models.Model):
    """What this provider holds of one item: version vector and heads."""

    entity_name = models.CharField(max_length=255)
    item_id = models.CharField(max_length=255)
    change_id = models.CharField(max_length=64)
    operation = models.CharField(max_length=6, choices=OPERATIONS)
    vector = models.TextField()
    heads = models.TextField()

    class Meta:
        db_table = "maestro_item_version"
        verbose_name = "item version"
        constraints = [
            models.UniqueConstraint(
                fields=["entity_name", "item_id"], name="maestro_version_item"
            )
        ]

    def __str__(self) -> str:
        return f"{self.entity_name}/{self.item_id}"


class ConflictLogEntry(models.Model):
    """A conflict or a deferred change, as met on this provider."""

    conflict_id = models.CharField(max_length=64, unique=True)
    provider_id = models.CharField(max_length=255)
    conflict_type = models.CharField(max_length=32, db_index=True)
    status = models.CharField(max_length=10, db_index=True)
    entity_name = models.CharField(max_length=255)
    item_id = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    local_change_id = models.CharField(max_length=64, null=True, blank=True)
    remote_change_id = models.CharField(max_length=64, null=True, blank=True)
    winner_change_id = models.CharField(max_length=64, null=True, blank=True)
    loser_change_id = models.CharField(max_length=64, null=True, blank=True)
    policy = models.CharField(max_length=255, null=True, blank=True)
    description = models.TextField(blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "maestro_conflict_log"
        verbose_name = "conflict"
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.conflict_type} {self.entity_name}/{self.item_id}"


class SessionEntry(models.Model):
    """One direction of sync into this provider, with its counts."""

    session_id = models.CharField(max_length=64, unique=True)
    source_provider_id = models.CharField(max_length=255)
    target_provider_id = models.CharField(max_length=255)
    status = models.CharField(max_length=12)
    started_at = models.DateTimeField(db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    sent = models.IntegerField(default=0)
    applied = models.IntegerField(default=0)
    conflicts = models.IntegerField(default=0)
    deferred = models.IntegerField(default=0)
    error = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "maestro_session"
        verbose_name = "session"
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.source_provider_id} -> {self.target_provider_id}"


class SyncLockEntry(models.Model):
    """A sync lock: who holds it, and until when (seconds since the epoch)."""

    name = models.CharField(max_length=255, primary_key=True)
    owner = models.CharField(max_length=255, null=True, blank=True)
    expires_at = models.FloatField(default=0.0)

    class Meta:
        db_table = "maestro_sync_lock"
        verbose_name = "sync lock"
