"""The audit log: append-only, hash-chained, filtered and paged newest first.

Each row's hash covers its id, content and the previous row's hash; the head
(last id and hash) is kept in ``meta`` in the same transaction. So an edited
row breaks its own hash, a deleted or reordered row breaks the chain, and a
deleted last row no longer matches the head. Retention pruning deletes the
oldest rows and records the last pruned row as the chain's new anchor.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shepherd.store.connection import Database

EVENT_TYPES = frozenset({
    "service_started", "service_stopped", "policy_loaded", "policy_rejected",
    "session_started", "session_ended", "warning_issued", "launch_denied", "time_granted",
    "session_extended", "cooldown_cleared", "user_locked", "user_unlocked", "time_requested",
    "request_answered", "clock_jump", "store_recovered", "session_adopted", "store_migrated",
    "grant_expired", "household_policy_differs",
    "session_paused", "session_resumed", "presence_unavailable", "presence_available",
    "freeze_failed",
})
GENESIS = "0" * 64
PAGE_SIZE = 50
TRIGRAM = 3  # shorter texts cannot use the trigram index: they are scanned
TEXT_BATCH = 500
PRUNE_BATCH = 2000  # rows per transaction: the write lock is held a few ms


@dataclass(frozen=True)
class AuditEvent:
    id: int
    ts: str
    type: str
    user: str | None
    entry: str | None
    actor: str
    data: dict[str, Any]
    machine: str | None = None  # the machine that wrote it (a household store)

    def to_json(self) -> dict[str, Any]:
        answer = {"id": self.id, "ts": self.ts, "type": self.type, "user": self.user,
                  "entry": self.entry, "actor": self.actor, "data": self.data}
        if self.machine is not None:
            answer["machine"] = self.machine
        return answer


@dataclass(frozen=True)
class AuditFilter:
    since: datetime | None = None
    until: datetime | None = None
    types: tuple[str, ...] = ()
    user: str | None = None
    entry: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    next_cursor: int | None  # pass as ``before`` for the next (older) page


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    bad_id: int | None = None
    problem: str = ""


def row_hash(row_id: int, ts: str, kind: str, user: str | None, entry: str | None,
              actor: str, data: str, prev_hash: str) -> str:
    content = json.dumps([row_id, ts, kind, user, entry, actor, data, prev_hash],
                         separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: the same bytes for any text; a lone surrogate never loses the row
    return hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()


def _meta_json(db: Database, key: str) -> dict[str, Any] | None:
    value = db.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).get
    return json.loads(str(value)) if value is not None else None


def append(db: Database, ts: datetime, kind: str, data: Mapping[str, Any], *,
           user: str | None = None, entry: str | None = None, actor: str = "shepherd") -> int:
    """Append one event (joins the caller's transaction). Returns its id."""
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown audit event type {kind!r}")
    body = json.dumps(dict(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    with db.write() as conn:
        head = _meta_json(db, "audit_head") or _meta_json(db, "audit_anchor") or {
            "id": 0, "hash": GENESIS}
        row_id = int(head["id"]) + 1
        stamp = ts.isoformat()
        digest = row_hash(row_id, stamp, kind, user, entry, actor, body, head["hash"])
        conn.execute(
            "INSERT INTO audit (id, ts, type, user, entry, actor, data, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row_id, stamp, kind, user, entry, actor, body, head["hash"], digest))
        conn.execute("INSERT INTO audit_text (rowid, body) VALUES (?, ?)",
                     (row_id, f"{kind} {actor} {body}"))
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('audit_head', ?)",
                     (json.dumps({"id": row_id, "hash": digest}),))
    return row_id


def _bound(db: Database, sql: str, value: datetime) -> int | None:
    found = db.conn.execute(sql, (value.isoformat(),)).get
    return int(found) if found is not None else None


def query(db: Database, flt: AuditFilter, *, limit: int = PAGE_SIZE,
          before: int | None = None) -> AuditPage:
    """One page of events, newest first; ``before`` is the cursor from the previous page."""
    where: list[str] = []
    params: list[Any] = []
    # Ids grow with time, so a time range becomes an id range found on the ts index.
    if flt.since is not None:
        low = _bound(db, "SELECT id FROM audit WHERE ts >= ? ORDER BY ts LIMIT 1", flt.since)
        if low is None:
            return AuditPage([], None)
        where += ["id >= ?", "ts >= ?"]
        params += [low, flt.since.isoformat()]
    if flt.until is not None:
        high = _bound(db, "SELECT id FROM audit WHERE ts < ? ORDER BY ts DESC LIMIT 1", flt.until)
        if high is None:
            return AuditPage([], None)
        where += ["id <= ?", "ts < ?"]
        params += [high, flt.until.isoformat()]
    if before is not None:
        where.append("id < ?")
        params.append(before)
    if flt.types:
        where.append(f"type IN ({', '.join('?' * len(flt.types))})")
        params += list(flt.types)
    if flt.user is not None:
        where.append("user = ?")
        params.append(flt.user)
    if flt.entry is not None:
        where.append("entry = ?")
        params.append(flt.entry)
    sql = "SELECT id, ts, type, user, entry, actor, data FROM audit"
    if flt.text:
        pattern = "%" + flt.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(data LIKE ? ESCAPE '\\' OR type LIKE ? ESCAPE '\\' "
                     "OR actor LIKE ? ESCAPE '\\')")
        params += [pattern, pattern, pattern]
        if len(flt.text) >= TRIGRAM:
            return _text_page(db, sql, where, params, flt.text, limit, before)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    return _page(list(db.conn.execute(sql, [*params, limit + 1])), limit)


def _page(rows: list[Any], limit: int) -> AuditPage:
    events = [AuditEvent(int(r[0]), str(r[1]), str(r[2]), r[3], r[4], str(r[5]),
                         json.loads(str(r[6]))) for r in rows[:limit]]
    cursor = events[-1].id if len(rows) > limit else None
    return AuditPage(events, cursor)


def _text_page(db: Database, sql: str, where: list[str], params: list[Any], text: str,
               limit: int, before: int | None) -> AuditPage:
    """Walk the trigram index newest first in batches; check each hit against its row."""
    phrase = '"' + text.replace('"', '""') + '"'
    rows: list[Any] = []
    cursor = before
    while len(rows) <= limit:
        hits = [int(r[0]) for r in db.conn.execute(
            "SELECT rowid FROM audit_text WHERE audit_text MATCH ?"
            + (" AND rowid < ?" if cursor is not None else "")
            + " ORDER BY rowid DESC LIMIT ?",
            [phrase, *([cursor] if cursor is not None else []), TEXT_BATCH])]
        if not hits:
            break
        cursor = hits[-1]
        found = f"id IN ({', '.join('?' * len(hits))})"
        rows += list(db.conn.execute(
            f"{sql} WHERE {' AND '.join([found, *where])} ORDER BY id DESC",
            [*hits, *params]))
    return _page(rows[: limit + 1], limit)


def iterate(db: Database, flt: AuditFilter, limit: int | None = None) -> Iterable[AuditEvent]:
    """Every matching event, newest first, page by page (constant memory)."""
    before: int | None = None
    produced = 0
    while True:
        size = PAGE_SIZE * 20 if limit is None else min(PAGE_SIZE * 20, limit - produced)
        if size <= 0:
            return
        page = query(db, flt, limit=size, before=before)
        yield from page.events
        produced += len(page.events)
        if page.next_cursor is None:
            return
        before = page.next_cursor


def verify(db: Database) -> VerifyResult:
    """Walk the chain from its anchor; name the first row that is not as written.

    One read transaction: rows appended while it walks are neither seen nor missed.
    """
    with db.snapshot():
        return _verify(db)


def _verify(db: Database) -> VerifyResult:
    anchor = _meta_json(db, "audit_anchor") or {"id": 0, "hash": GENESIS}
    expected_id = int(anchor["id"]) + 1
    prev = str(anchor["hash"])
    checked = 0
    for row in db.conn.execute(
            "SELECT id, ts, type, user, entry, actor, data, prev_hash, hash FROM audit "
            "ORDER BY id"):
        row_id = int(row[0])
        if row_id != expected_id:
            return VerifyResult(False, checked, expected_id,
                                f"row {expected_id} is missing (deleted)")
        if row[7] != prev:
            return VerifyResult(False, checked, row_id,
                                f"row {row_id} does not follow row {row_id - 1} "
                                "(rows deleted, reordered or edited)")
        digest = row_hash(row_id, row[1], row[2], row[3], row[4], row[5], row[6], row[7])
        if digest != row[8]:
            return VerifyResult(False, checked, row_id, f"row {row_id} was edited")
        prev = str(row[8])
        expected_id += 1
        checked += 1
    head = _meta_json(db, "audit_head")
    if head is not None and (int(head["id"]) != expected_id - 1 or head["hash"] != prev):
        return VerifyResult(False, checked, expected_id,
                            f"the log ends at row {expected_id - 1} but row {head['id']} "
                            "was written (rows deleted from the end)")
    return VerifyResult(True, checked)


def prune(db: Database, older_than: datetime, batch: int = PRUNE_BATCH) -> int:
    """Delete events before ``older_than``; the chain stays verifiable from its new anchor.

    Deletes ``batch`` rows per transaction, oldest first, so the write lock is
    never held for long; after each batch the last deleted row is the anchor.
    """
    total = 0
    while True:
        with db.write() as conn:
            first = conn.execute("SELECT min(id) FROM audit").get
            last = conn.execute(
                "SELECT id, hash FROM audit WHERE ts < ? AND id < ? ORDER BY id DESC LIMIT 1",
                (older_than.isoformat(), int(first or 0) + batch)).fetchall()
            if not last:
                return total
            last_id, last_hash = last[0][0], str(last[0][1])
            assert isinstance(last_id, int)
            count = conn.execute("SELECT count(*) FROM audit WHERE id <= ?", (last_id,)).get
            assert isinstance(count, int)
            conn.execute("DELETE FROM audit_text WHERE rowid <= ?", (last_id,))
            conn.execute("DELETE FROM audit WHERE id <= ?", (last_id,))
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('audit_anchor', ?)",
                         (json.dumps({"id": last_id, "hash": last_hash}),))
        total += count
