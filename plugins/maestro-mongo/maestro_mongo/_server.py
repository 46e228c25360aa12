"""What the deployment behind a database can do, and errors worth a new try."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.database import Database
from pymongo.errors import PyMongoError

__all__ = ["hello", "is_transient", "runs_transactions", "supports_transactions"]


def is_transient(error: BaseException | None, depth: int = 0) -> bool:
    """Whether *error* says the transaction can simply run again.

    A bulk write reports the failure of its operation inside itself: in
    ``error.error``, or in the details' write errors.
    """
    if error is None or depth > 3:
        return False
    if isinstance(error, PyMongoError) and error.has_error_label(
        "TransientTransactionError"
    ):
        return True
    if getattr(error, "code", None) == 112:  # WriteConflict
        return True
    details = getattr(error, "details", None)
    if isinstance(details, Mapping):
        if any(e.get("code") == 112 for e in details.get("writeErrors") or []):
            return True
        inner = details.get("error")
        if isinstance(inner, BaseException) and is_transient(inner, depth + 1):
            return True
    inner = getattr(error, "error", None)
    return isinstance(inner, BaseException) and is_transient(inner, depth + 1)


def hello(database: Database[Any]) -> Mapping[str, Any]:
    try:
        reply: Mapping[str, Any] = database.client.admin.command("hello")
    except (PyMongoError, NotImplementedError, AttributeError, TypeError):
        return {}
    return reply


def supports_transactions(database: Database[Any]) -> bool:
    """Whether the deployment behind *database* runs multi-document transactions.

    Replica sets and sharded clusters do; a standalone server and mongomock
    do not (or cannot say).
    """
    return runs_transactions(hello(database))


def runs_transactions(reply: Mapping[str, Any]) -> bool:
    """Whether a server that answered ``hello`` with *reply* runs transactions."""
    if not reply.get("logicalSessionTimeoutMinutes"):
        return False
    return bool(reply.get("setName")) or reply.get("msg") == "isdbgrid"
