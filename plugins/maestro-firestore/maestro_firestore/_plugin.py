"""Registers the Firestore backend through the core's ``maestro`` entry points."""

from __future__ import annotations

from maestro_core import Backend, hookimpl
from maestro_core.plugins import RegisterBackend

from .factory import create_firestore_lock, create_firestore_provider
from .serializer import FirestoreSerializer


@hookimpl
def maestro_register_backends(register: RegisterBackend) -> None:
    register(
        Backend(
            name="firestore",
            provider_factory=create_firestore_provider,
            lock_factory=create_firestore_lock,
            serializer=FirestoreSerializer(),
            description="Cloud Firestore, with capture of other clients' writes.",
        )
    )
