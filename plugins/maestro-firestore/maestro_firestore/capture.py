"""Turning writes made by other Firestore clients into Maestro changes.

Mobile apps write documents directly, so nobody calls ``commit_item_change``
for them. Two ways see those writes and record them:

* :class:`CaptureListener` runs in a long-lived process and listens
  (``on_snapshot``) to the synced collections;
* :func:`capture_event` is called from a Cloud Functions document trigger.

Both end in :func:`capture_document`, which compares the document with the
digest kept in the item's version: equal means Maestro wrote it itself (or
has already captured it), so nothing is recorded and syncs never ping-pong.
A deletion is recorded with the item's last state that Maestro held.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from maestro_core import ItemChange, Operation, decode_item

from .serializer import item_hash
from .store import FirestoreDataStore

__all__ = ["CaptureListener", "capture_document", "capture_event"]

logger = logging.getLogger(__name__)


def capture_document(
    store: FirestoreDataStore,
    entity_name: str,
    item_id: str,
    data: Mapping[str, Any] | None,
) -> ItemChange | None:
    """Record the write another client made to ``entity_name/item_id``.

    *data* is the document as it now stands, ``None`` once deleted. Returns
    the change recorded, or ``None`` when the document already matches what
    the provider holds. Costs two document reads and three writes when it
    records a change, one read when it does not.
    """
    version, digest = store.get_version_and_hash(entity_name, item_id)
    held = version is not None and not version.is_deleted
    if data is None:
        if not held:
            return None
        assert version is not None
        last = store.get_changes([version.change_id]).get(version.change_id)
        item = dict(last.item) if last is not None else {"id": item_id}
        return _commit(store, Operation.DELETE, entity_name, item_id, item)
    item = store.serializer.from_document(item_id, data)
    if held and digest == item_hash(item):
        return None
    operation = Operation.UPDATE if held else Operation.INSERT
    return _commit(store, operation, entity_name, item_id, item)


def _commit(
    store: FirestoreDataStore,
    operation: Operation,
    entity_name: str,
    item_id: str,
    canonical: dict[str, Any],
) -> ItemChange:
    values = decode_item(canonical)
    values["collection_name"] = entity_name
    change = store.commit_item_change(
        operation=operation,
        entity_name=entity_name,
        item_id=item_id,
        item=values,
        execute_operation=False,
    )
    logger.debug(
        "%s captured %s %s/%s", store.provider_id, operation.name, entity_name, item_id
    )
    return change


def _split_path(path: str) -> tuple[str, str]:
    entity_name, _, item_id = path.strip("/").rpartition("/")
    if not entity_name or not item_id:
        raise ValueError(
            f"document path {path!r} is not valid; expected 'collection/document'"
        )
    return entity_name, item_id


def capture_event(store: FirestoreDataStore, event: Any) -> ItemChange | None:
    """Capture the write a Cloud Functions document trigger reports.

    Takes the ``event`` of ``firebase_functions.firestore_fn.on_document_written``
    (or ``..._created`` / ``_updated`` / ``_deleted``): its ``document`` is the
    path written and its ``data`` the snapshot after the write, or a change
    with ``before`` and ``after``. Deploy one trigger per synced collection.
    """
    snapshot = getattr(event.data, "after", event.data)
    deleted = snapshot is None or not getattr(snapshot, "exists", True)
    path = getattr(event, "document", None) or (
        getattr(snapshot, "reference", None) and snapshot.reference.path
    )
    entity_name, item_id = _split_path(path)
    data = None if deleted else snapshot.to_dict()
    return capture_document(store, entity_name, item_id, data)


class CaptureListener:
    """Listens to *entity_names* and captures every outside write.

    The first snapshot of each collection lists every document; those that
    differ from what the provider holds (edited while nobody listened) are
    captured too. Deletions made while nobody listened are not seen: run the
    Cloud Functions trigger as well where that matters. Errors are logged and
    kept in :attr:`errors`; the listener goes on.
    """

    def __init__(self, store: FirestoreDataStore, entity_names: Iterable[str]):
        self.store = store
        self.entity_names = list(entity_names)
        self.errors: list[BaseException] = []
        self.captured = 0
        self._watches: list[Any] = []
        self._idle = threading.Condition()
        self._snapshots = 0

    def start(self) -> CaptureListener:
        """Start listening; returns self."""
        for entity_name in self.entity_names:
            collection = self.store.client.collection(entity_name)
            self._watches.append(
                collection.on_snapshot(self._callback_for(entity_name))
            )
        return self

    def stop(self) -> None:
        """Stop every listener."""
        for watch in self._watches:
            watch.unsubscribe()
        self._watches.clear()

    def __enter__(self) -> CaptureListener:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def snapshots(self) -> int:
        """How many snapshots the listener has handled so far."""
        return self._snapshots

    def wait_for_snapshots(self, count: int, timeout: float = 30.0) -> bool:
        """Wait until *count* snapshots have been handled; ``False`` on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._snapshots >= count, timeout)

    def _callback_for(self, entity_name: str):
        def on_snapshot(documents: Any, changes: Any, read_time: Any) -> None:
            for change in changes:
                document = change.document
                removed = change.type.name == "REMOVED"
                try:
                    captured = capture_document(
                        self.store,
                        entity_name,
                        document.id,
                        None if removed else document.to_dict(),
                    )
                except Exception as error:
                    logger.error(
                        "%s: could not capture %s/%s",
                        self.store.provider_id,
                        entity_name,
                        document.id,
                        exc_info=True,
                    )
                    self.errors.append(error)
                else:
                    self.captured += captured is not None
            with self._idle:
                self._snapshots += 1
                self._idle.notify_all()

        return on_snapshot
