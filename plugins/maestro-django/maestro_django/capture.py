"""Capturing saves and deletes of the synced models as changes.

Receivers are connected per synced model (never for every model, which
would stop Django's fast deletes everywhere). Each records the change in
the transaction of the write that caused it: ``post_delete`` and
``m2m_changed`` are sent inside Django's own transaction, and a synced
model's ``save_base`` is wrapped so that a save made in autocommit mode runs
in a transaction of its own that ``post_save`` still belongs to (Django
sends ``post_save`` after the row is written, outside the transaction it
opens, if any). A committed save therefore always has its change, and a
failed recording undoes the save.

After a transaction that recorded changes commits, the
``CHANGES_COMMITTED_CALLBACK`` runs once: at once outside requests, or at
the end of the request when :class:`~maestro_django.middleware.SyncQueueMiddleware`
is installed.

A transaction opened for a save in autocommit mode holds only that save. On
PostgreSQL through psycopg 3 the statement that records its change commits
it too, which spares a round trip; whatever later ``post_save`` receivers
write then runs in a transaction of its own, as after any autocommit save.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from attrs import define
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, router, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.utils.module_loading import import_string

from maestro_core import Operation

from .conf import SyncedModel, get_settings, synced_model, synced_models
from .serializer import item_from_instance
from .store import (
    DjangoDataStore,
    ending_transaction,
    is_applying,
    joining_transactions,
)

__all__ = [
    "RequestScope",
    "changes_committed",
    "local_store",
    "reconnect",
    "request_scope",
    "run_committed_callback",
]

logger = logging.getLogger(__name__)

_DELETED_ITEM = "_maestro_deleted_item"
_CLEARED = "_maestro_cleared_sources"
_connected: list[tuple[Any, Callable[..., None], Any]] = []
_connected_lock = threading.Lock()


@define
class RequestScope:
    """A request in progress; the callback waits for its end."""

    changed: bool = False


_request_scope: contextvars.ContextVar[RequestScope | None] = contextvars.ContextVar(
    "maestro_request_scope", default=None
)


@define
class _SavedAlone:
    """A save running in the transaction Maestro opened for it alone."""

    using: str
    instance: models.Model
    committed: bool = False
    """Whether recording its change committed the transaction."""


_saved_alone: contextvars.ContextVar[_SavedAlone | None] = contextvars.ContextVar(
    "maestro_saved_alone", default=None
)


@functools.cache
def local_store() -> DjangoDataStore:
    """The store that local writes are recorded in (``PROVIDER_ID``)."""
    return DjangoDataStore()


@functools.cache
def _callback() -> Callable[[], Any] | None:
    path = get_settings()["CHANGES_COMMITTED_CALLBACK"]
    if not path:
        return None
    return import_string(path) if isinstance(path, str) else path


# -- after commit -----------------------------------------------------------


def run_committed_callback() -> None:
    """Call ``CHANGES_COMMITTED_CALLBACK``; an error in it is logged, not raised.

    The write it follows has committed, so failing it would mislead.
    """
    try:
        callback = _callback()
        if callback is not None:
            callback()
    except Exception:
        logger.error("CHANGES_COMMITTED_CALLBACK failed", exc_info=True)


def changes_committed() -> None:
    """A transaction that recorded changes has committed."""
    scope = _request_scope.get()
    if scope is not None:
        scope.changed = True
    else:
        run_committed_callback()


changes_committed.maestro_marker = True  # type: ignore[attr-defined]


def _schedule(using: str) -> None:
    """Run :func:`changes_committed` once the current transaction commits."""
    connection = connections[using]
    if not connection.in_atomic_block:
        changes_committed()
        return
    for entry in connection.run_on_commit:
        if getattr(entry[1], "maestro_marker", False):
            return
    transaction.on_commit(changes_committed, using=using)


class request_scope:
    """Collect callbacks until the block ends, then run the callback once."""

    def __enter__(self) -> RequestScope:
        self.scope = RequestScope()
        self._token = _request_scope.set(self.scope)
        return self.scope

    def __exit__(self, *exc_info: object) -> None:
        _request_scope.reset(self._token)
        if self.scope.changed:
            run_committed_callback()


# -- recording --------------------------------------------------------------


def _record(
    synced: SyncedModel,
    operation: Operation,
    item: dict[str, Any],
    using: str,
    alone: _SavedAlone | None = None,
) -> None:
    """Record a change in the open transaction. The change of a save *alone*
    in its transaction may commit it; the callback then runs after the save."""
    store = local_store()
    with joining_transactions():
        if alone is None:
            _commit(store, synced, operation, item)
        else:
            with ending_transaction(using) as ending:
                _commit(store, synced, operation, item)
            alone.committed = ending.ended
    if alone is None or not alone.committed:
        _schedule(using)


def _commit(
    store: DjangoDataStore,
    synced: SyncedModel,
    operation: Operation,
    item: dict[str, Any],
) -> None:
    store.commit_item_change(
        operation, synced.entity_name, str(item["id"]), item, execute_operation=False
    )


def _captures(using: str | None) -> bool:
    return not is_applying() and using == local_store().using


def _on_save(
    sender: type[models.Model],
    instance: models.Model,
    created: bool,
    using: str,
    **kwargs: Any,
) -> None:
    synced = synced_model(sender)
    if synced is None or not _captures(using):
        return
    operation = Operation.INSERT if created else Operation.UPDATE
    alone = _saved_alone.get()
    if alone is not None and (alone.using != using or alone.instance is not instance):
        alone = None  # another instance, saved within this save
    _record(synced, operation, item_from_instance(synced, instance), using, alone)


def _before_delete(
    sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any
) -> None:
    synced = synced_model(sender)
    if synced is None or not _captures(using):
        return
    setattr(instance, _DELETED_ITEM, item_from_instance(synced, instance))


def _on_delete(
    sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any
) -> None:
    synced = synced_model(sender)
    if synced is None or not _captures(using):
        return
    item = instance.__dict__.pop(_DELETED_ITEM, None)
    if item is None:
        item = item_from_instance(synced, instance, related=False)
    _record(synced, Operation.DELETE, item, using)


def _source_field(
    source: type[models.Model], through: type[models.Model]
) -> models.ManyToManyField | None:
    for f in source._meta.many_to_many:
        if f.remote_field.through is through:
            return f
    return None


def _on_m2m(
    sender: type[models.Model],
    instance: models.Model,
    action: str,
    reverse: bool,
    model: type[models.Model],
    pk_set: set[Any] | None,
    using: str,
    **kwargs: Any,
) -> None:
    if not action.startswith("post_") and action != "pre_clear":
        return
    if not _captures(using):
        return
    if not reverse:
        synced = synced_model(type(instance))
        if synced is not None and action != "pre_clear":
            item = item_from_instance(synced, instance)
            _record(synced, Operation.UPDATE, item, using)
        return
    # Changed from the target's side: each source row changed.
    synced = synced_model(model)
    field = _source_field(model, sender)
    if synced is None or field is None:
        return
    rows = model._base_manager.db_manager(using)
    if action == "pre_clear":
        sources = rows.filter(**{field.name: instance.pk}).values_list("pk", flat=True)
        setattr(instance, _CLEARED, set(sources))
        return
    if action == "post_clear":
        pk_set = instance.__dict__.pop(_CLEARED, set())
    for source in rows.filter(pk__in=pk_set or ()):
        _record(synced, Operation.UPDATE, item_from_instance(synced, source), using)


def _atomic_save_base(model: type[models.Model]) -> None:
    """Make *model*'s saves in autocommit mode atomic with their recording."""
    current = model.__dict__.get("save_base")
    if getattr(current, "maestro_atomic", False):
        return
    original = model.save_base

    @functools.wraps(original)
    def save_base(self: models.Model, *args: Any, **kwargs: Any) -> None:
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        if connections[using].in_atomic_block or synced_model(type(self)) is None:
            return original(self, *args, **kwargs)
        alone = _SavedAlone(using, self)
        token = _saved_alone.set(alone)
        try:
            with transaction.atomic(using=using, savepoint=False):
                return original(self, *args, **kwargs)
        finally:
            _saved_alone.reset(token)
            if alone.committed:  # even if a later receiver failed
                changes_committed()

    save_base.maestro_atomic = True  # type: ignore[attr-defined]
    model.save_base = save_base  # type: ignore[method-assign]


def _proxies_of(model: type[models.Model]) -> list[type[models.Model]]:
    return [
        m
        for m in apps.get_models()
        if m._meta.proxy and m._meta.concrete_model is model
    ]


def reconnect() -> None:
    """Connect the receivers for the models in ``MODELS``, and only those."""
    with _connected_lock:
        for signal, receiver, sender in _connected:
            signal.disconnect(receiver, sender=sender)
        _connected.clear()
        local_store.cache_clear()
        _callback.cache_clear()
        try:
            entries = synced_models()
        except (LookupError, ValueError, ImproperlyConfigured):
            # reported by the system checks; nothing is captured meanwhile
            logger.debug("MAESTRO['MODELS'] cannot be resolved", exc_info=True)
            return
        for synced in entries:
            model = synced.model
            # saves through a proxy are sent with the proxy as sender
            senders = [model, *_proxies_of(model)]
            pairs: list[tuple[Any, Callable[..., None], Any]] = []
            for sender in senders:
                _atomic_save_base(sender)
                pairs.extend(
                    [
                        (post_save, _on_save, sender),
                        (pre_delete, _before_delete, sender),
                        (post_delete, _on_delete, sender),
                    ]
                )
            for f in model._meta.many_to_many:
                pairs.append((m2m_changed, _on_m2m, f.remote_field.through))
            for signal, receiver, sender in pairs:
                signal.connect(receiver, sender=sender, weak=False)
                _connected.append((signal, receiver, sender))
