"""Durable state on SQLite through apsw (SPEC §5).

Owns the schema and its migrations, the hash-chained audit log, usage, cooldowns,
grants, time requests, session history and the crash-recovery snapshot, and the
one writer thread (``writer.StoreWriter``) through which a daemon writes, reads
and heals its store off the event loop. Must not make decisions: the engine
decides, the store remembers.
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
from shepherd.store.schema import SCHEMA_VERSION
from shepherd.store.store import (
    LEASE_S,
    Accounting,
    Checkpoint,
    SnapshotRow,
    Store,
    TimeRequest,
)

__all__ = [
    "EVENT_TYPES",
    "LEASE_S",
    "SCHEMA_VERSION",
    "Accounting",
    "AuditEvent",
    "AuditFilter",
    "AuditPage",
    "Checkpoint",
    "Database",
    "Recovery",
    "SnapshotRow",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StoreVersionError",
    "TimeRequest",
    "VerifyResult",
]
