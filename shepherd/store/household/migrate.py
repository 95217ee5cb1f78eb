"""Moving in: one machine's SQLite history copied into the household store.

``shepherd store migrate --to URL`` reads the machine's store file (read-only;
its daemon must be stopped first: a running daemon holds the file, and the file
is then refused in words) and copies, in one transaction:

- its audit log, row for row with its own hashes, as the chain
  ``MACHINE/imported`` (kept in SQLite's formula, so it verifies as written; a
  log that does not verify is not copied);
- its usage, as the machine's ``imported`` rows (set to the file's totals, so
  the household counts them once however often this runs);
- its sessions and their days (under ``MACHINE/imported``, apart from the
  sessions the household daemon numbers), cooldowns (the later end wins),
  grants, locks and time requests (each keyed by where it came from).

Running it again copies only what is new, and when nothing is, changes
nothing: no row, no audit entry. Otherwise a ``store_migrated`` row in the
machine's own chain says what was copied, and the NOTIFY (kind ``migrated``) is
heard by every running daemon, this machine's own too (it reads the household
again, and stops saying its history is missing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg

from shepherd.store.audit import GENESIS
from shepherd.store.connection import StoreError
from shepherd.store.household.store import PgStore
from shepherd.store.store import Store

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class Copied:
    audit: int = 0
    usage: int = 0
    sessions: int = 0
    grants: int = 0
    requests: int = 0
    other: int = 0  # cooldowns, locks, settings

    @property
    def anything(self) -> bool:
        return any((self.audit, self.usage, self.sessions, self.grants, self.requests,
                    self.other))


def migrate(source: Path, url: str, machine: str, now: datetime) -> Copied:
    store = Store.open_readonly(source)
    try:
        checked = store.verify_audit()
        if not checked.ok:
            raise StoreError(f"{source}: its audit log does not verify ({checked.problem}), "
                             "so it is not copied; keep the file for review")
        household = PgStore.open(url, machine)
        try:
            with store.db.snapshot(), household.batch() as conn:
                copied = _copy(store, source, conn, machine)
                if copied.anything:
                    household.audit(now, "store_migrated", {
                        "source": str(source), "audit_rows": copied.audit,
                        "usage_days": copied.usage, "sessions": copied.sessions,
                        "grants": copied.grants, "requests": copied.requests},
                        actor="store migrate")
                    household.notify(conn, "migrated")
            return copied
        finally:
            household.close()
    finally:
        store.close()


def _copy(store: Store, source: Path, conn: Conn, machine: str) -> Copied:
    sqlite = store.db.conn
    imported = f"{machine}/imported"
    audit = _copy_audit(sqlite, source, conn, machine, imported)
    usage = 0
    for user, entry, day, seconds in sqlite.execute(
            "SELECT user, entry, day, seconds FROM usage"):
        usage += conn.execute(
            "INSERT INTO usage (child, entry, day, machine, origin, seconds) "
            "VALUES (%s, %s, %s, %s, 'imported', %s) "
            "ON CONFLICT (child, entry, day, machine, origin) DO UPDATE "
            "SET seconds = excluded.seconds WHERE usage.seconds <> excluded.seconds",
            (user, entry, date.fromisoformat(str(day)), machine, seconds)).rowcount
    sessions = 0
    for row in sqlite.execute("SELECT id, user, entry, started_at, ended_at, end_reason, "
                              "charged_s, extension_s FROM sessions"):
        sessions += conn.execute(
            "INSERT INTO sessions (machine, id, child, entry, started_at, ended_at, end_reason, "
            "charged_s, extension_s) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (machine, id) DO UPDATE SET ended_at = excluded.ended_at, "
            "end_reason = excluded.end_reason, charged_s = excluded.charged_s, "
            "extension_s = excluded.extension_s WHERE (sessions.ended_at, sessions.end_reason, "
            "sessions.charged_s, sessions.extension_s) IS DISTINCT FROM (excluded.ended_at, "
            "excluded.end_reason, excluded.charged_s, excluded.extension_s)",
            (imported, *row)).rowcount
    for session_id, day, seconds in sqlite.execute(
            "SELECT session_id, day, seconds FROM session_days"):
        conn.execute("INSERT INTO session_days (machine, session_id, day, seconds) "
                     "VALUES (%s, %s, %s, %s) ON CONFLICT (machine, session_id, day) DO UPDATE "
                     "SET seconds = excluded.seconds", (imported, session_id,
                                                        date.fromisoformat(str(day)), seconds))
    other = 0
    for user, entry, until in sqlite.execute("SELECT user, entry, until FROM cooldowns"):
        other += conn.execute(
            "INSERT INTO cooldowns (child, entry, until) VALUES (%s, %s, %s) "
            "ON CONFLICT (child, entry) DO UPDATE SET until = excluded.until "
            "WHERE cooldowns.until < excluded.until",
            (user, entry, datetime.fromisoformat(str(until)))).rowcount
    grants = 0
    for (gid, user, target, day, seconds, actor, reason, granted_at, until, week, noted, paid,
         before, aside, beyond, others, kept, raised, took, since_set, under) in sqlite.execute(
            "SELECT id, user, target, day, seconds, actor, reason, granted_at, expires_at, "
            "week, expiry_noted, paid_s, used_before_s, aside_s, beyond_s, beyond_before_s, "
            "kept_s, raised_s, took_s, week_s, under_s FROM grants ORDER BY id"):  # the last row's
        grants += conn.execute(
            "INSERT INTO grants (child, target, day, seconds, actor, reason, granted_at, "
            "machine, source, expires_at, week, expiry_noted, paid_s, used_before_s, aside_s, "
            "beyond_s, beyond_before_s, kept_s, raised_s, took_s, week_s, under_s) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "%s, %s, %s, %s) "
            "ON CONFLICT (source) DO NOTHING",
            (user, target, date.fromisoformat(str(day)), seconds, actor, reason, granted_at,
             machine, f"{imported}/{gid}",
             datetime.fromisoformat(str(until)) if until else None, bool(week),
             bool(noted), paid, before, aside, beyond, others, kept, raised,
             took, since_set, under)).rowcount
    for user, locked_at, actor in sqlite.execute("SELECT user, locked_at, actor FROM locks"):
        other += conn.execute("INSERT INTO locks (child, locked_at, actor, machine) "
                              "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                              (user, locked_at, actor, machine)).rowcount
    requests = 0
    for row in sqlite.execute("SELECT id, user, entry, seconds, note, requested_at, state, "
                              "answered_at, answered_by, granted_s FROM requests"):
        rid, *rest = row
        requests += conn.execute(
            "INSERT INTO requests (child, entry, seconds, note, requested_at, state, "
            "answered_at, answered_by, granted_s, machine, source) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (source) DO NOTHING", (*rest, machine, f"{imported}/{rid}")).rowcount
    for key in ("trusted_wall", "policy_source", "day_boundary"):
        value = sqlite.execute("SELECT value FROM meta WHERE key = ?", (key,)).get
        if value is not None:
            other += conn.execute("INSERT INTO meta (machine, key, value) VALUES (%s, %s, %s) "
                                  "ON CONFLICT DO NOTHING", (machine, key, str(value))).rowcount
    return Copied(audit, usage, sessions, grants, requests, other)


def _copy_audit(sqlite: Any, source: Path, conn: Conn, machine: str, chain: str) -> int:
    """The file's log, row for row, continuing what an earlier run copied."""
    anchor = _meta_json(sqlite, "audit_anchor") or {"id": 0, "hash": GENESIS}
    head = _meta_json(sqlite, "audit_head") or anchor
    conn.execute("INSERT INTO chains (chain, machine, formula, anchor_n, anchor_hash, "
                 "head_n, head_hash) VALUES (%s, %s, 'sqlite', %s, %s, %s, %s) "
                 "ON CONFLICT (chain) DO NOTHING",
                 (chain, machine, anchor["id"], anchor["hash"], anchor["id"], anchor["hash"]))
    row = conn.execute("SELECT head_n, head_hash FROM chains WHERE chain = %s FOR UPDATE",
                       (chain,)).fetchone()
    assert row is not None
    copied_n, copied_hash = int(row[0]), str(row[1])
    if int(head["id"]) == copied_n:
        if head["hash"] != copied_hash:
            raise StoreError(f"{source}: its audit log is not the one copied before as "
                             f"{chain}; nothing was copied")
        return 0
    count = 0
    prev = copied_hash
    for rid, ts, kind, user, entry, actor, data, prev_hash, digest in sqlite.execute(
            "SELECT id, ts, type, user, entry, actor, data, prev_hash, hash FROM audit "
            "WHERE id > ? ORDER BY id", (copied_n,)):
        if count == 0 and prev_hash != prev:
            raise StoreError(f"{source}: its audit log does not continue the one copied "
                             f"before as {chain} (row {rid}); nothing was copied")
        conn.execute(
            "INSERT INTO audit (chain, n, machine, ts, type, child, entry, actor, data, "
            "prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (chain, rid, machine, ts, kind, user, entry, actor, data, prev_hash, digest))
        prev = str(digest)
        count += 1
    conn.execute("UPDATE chains SET head_n = %s, head_hash = %s WHERE chain = %s",
                 (head["id"], head["hash"], chain))
    conn.execute("INSERT INTO imports (machine, source, head_n, head_hash, copied_at) "
                 "VALUES (%s, %s, %s, %s, now()::text) ON CONFLICT (machine) DO UPDATE SET "
                 "source = excluded.source, head_n = excluded.head_n, "
                 "head_hash = excluded.head_hash, copied_at = excluded.copied_at",
                 (machine, str(source), head["id"], head["hash"]))
    return count


def _meta_json(sqlite: Any, key: str) -> dict[str, Any] | None:
    value = sqlite.execute("SELECT value FROM meta WHERE key = ?", (key,)).get
    return json.loads(str(value)) if value is not None else None
