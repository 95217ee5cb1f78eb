"""Durable state (SPEC §5): SQLite through apsw, or a household's PostgreSQL.

Owns the schemas and their migrations, the hash-chained audit log, usage,
cooldowns, grants, time requests, session history and the crash-recovery
snapshot, behind one protocol (``protocol.StateStore``) that both backends
implement, and the one writer thread (``writer.StoreWriter``) through which a
daemon writes, reads and heals its store off the event loop. Must not make
decisions: the engine decides, the store remembers.
"""

from shepherd.store.audit import (
    EVENT_TYPES,
    AuditEvent,
    AuditFilter,
    AuditPage,
    VerifyResult,
)
from shepherd.store.connection import (
    Database,
    StoreError,
    StoreUnavailable,
    StoreVersionError,
)
from shepherd.store.files import Recovery
from shepherd.store.protocol import (
    Accounting,
    Books,
    Checkpoint,
    HouseholdView,
    LaunchPlan,
    RemoteSessionRow,
    SnapshotRow,
    StateStore,
    StoreBackend,
    TimedGrantRow,
    TimeRequest,
)
from shepherd.store.schema import SCHEMA_VERSION
from shepherd.store.store import LEASE_S, Store

__all__ = [
    "EVENT_TYPES",
    "LEASE_S",
    "SCHEMA_VERSION",
    "Accounting",
    "AuditEvent",
    "AuditFilter",
    "AuditPage",
    "Books",
    "Checkpoint",
    "Database",
    "HouseholdView",
    "LaunchPlan",
    "Recovery",
    "RemoteSessionRow",
    "SnapshotRow",
    "StateStore",
    "Store",
    "StoreBackend",
    "StoreError",
    "StoreUnavailable",
    "StoreVersionError",
    "TimeRequest",
    "TimedGrantRow",
    "VerifyResult",
]
