"""``create_firestore_provider`` and friends, as the documentation imports them."""

from maestro_firestore.factory import (
    create_firestore_lock,
    create_firestore_provider,
    create_firestore_store,
    default_client,
)

__all__ = [
    "create_firestore_lock",
    "create_firestore_provider",
    "create_firestore_store",
    "default_client",
]
