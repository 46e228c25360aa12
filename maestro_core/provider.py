"""A provider: one participating store under a stable id."""

from __future__ import annotations

from collections.abc import Mapping

from attrs import field, frozen

from .store import DataStore

__all__ = ["SyncProvider"]


def _check_batch_size(instance: object, attribute: object, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(
            f"max_changes_per_session {value!r} is not valid; "
            "expected a positive integer"
        )


@frozen
class SyncProvider:
    """A store taking part in sync, with how many changes it sends per batch.

    ``conflict_policies`` maps entity names to policy names (or policy
    objects) that this provider's configuration asks for; an orchestrator
    merges them with its own so that both directions decide alike.
    """

    store: DataStore
    max_changes_per_session: int = field(default=50, validator=_check_batch_size)
    conflict_policies: Mapping[str, object] = field(factory=dict)

    @property
    def provider_id(self) -> str:
        return self.store.provider_id
