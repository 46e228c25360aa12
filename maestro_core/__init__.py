"""Maestro keeps databases of different kinds in sync, in both directions.

The public names of the core are re-exported here; the modules they come
from are implementation detail.
"""

from __future__ import annotations

from .clock import Timestamp, WallClock, system_wall_clock
from .codec import GeoPoint, ObjectIdValue, Reference, decode_item, encode_item
from .engine import ChangeFeed, PolicySet
from .exceptions import (
    BackendNotFoundError,
    CodecError,
    ConfigurationError,
    ConflictNotFoundError,
    InvalidItemError,
    MaestroError,
    PluginLoadError,
    RegistrationError,
    SyncLockedError,
    SyncTimeoutError,
    UnknownProviderError,
)
from .hookspecs import hookimpl, hookspec
from .lock import InMemorySyncLock, SyncLock
from .memory import MemoryDataStore, create_memory_provider
from .model import (
    ConflictLog,
    ConflictStatus,
    ConflictType,
    ItemChange,
    ItemChangeBatch,
    ItemVersion,
    Operation,
    SessionStatus,
    SyncSession,
    VectorClock,
)
from .orchestrator import SyncOrchestrator
from .plugins import (
    Backend,
    ItemSerializer,
    coerce_policy,
    create_plugin_manager,
    get_backend,
    get_backends,
    get_plugin_manager,
    get_policy,
    policy_names,
)
from .policies import (
    Conflict,
    ConflictPolicy,
    DefaultPolicy,
    DeletionWinsPolicy,
    LastWriterWinsPolicy,
    ManualPolicy,
    MergeFieldsPolicy,
    PickOnePolicy,
    PreferProviderPolicy,
    Resolution,
    UpdateWinsPolicy,
)
from .provider import SyncProvider
from .store import DataStore

__all__ = [
    "Backend",
    "BackendNotFoundError",
    "ChangeFeed",
    "CodecError",
    "ConfigurationError",
    "Conflict",
    "ConflictLog",
    "ConflictNotFoundError",
    "ConflictPolicy",
    "ConflictStatus",
    "ConflictType",
    "DataStore",
    "DefaultPolicy",
    "DeletionWinsPolicy",
    "GeoPoint",
    "InMemorySyncLock",
    "InvalidItemError",
    "ItemChange",
    "ItemChangeBatch",
    "ItemSerializer",
    "ItemVersion",
    "LastWriterWinsPolicy",
    "MaestroError",
    "ManualPolicy",
    "MemoryDataStore",
    "MergeFieldsPolicy",
    "ObjectIdValue",
    "Operation",
    "PickOnePolicy",
    "PluginLoadError",
    "PolicySet",
    "PreferProviderPolicy",
    "Reference",
    "RegistrationError",
    "Resolution",
    "SessionStatus",
    "SyncLock",
    "SyncLockedError",
    "SyncOrchestrator",
    "SyncProvider",
    "SyncSession",
    "SyncTimeoutError",
    "Timestamp",
    "UnknownProviderError",
    "UpdateWinsPolicy",
    "VectorClock",
    "WallClock",
    "coerce_policy",
    "create_memory_provider",
    "create_plugin_manager",
    "decode_item",
    "encode_item",
    "get_backend",
    "get_backends",
    "get_plugin_manager",
    "get_policy",
    "hookimpl",
    "hookspec",
    "policy_names",
    "system_wall_clock",
]
