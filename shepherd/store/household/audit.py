"""The household's audit log: one table, one hash chain per machine.

Each machine appends only to its own chain (``chains.chain`` = its name); a row's
hash covers its place ``n`` in the chain, the machine, its content and the
previous row's hash, and the chain's head (last ``n`` and hash) is updated in the
same transaction. So, as for SQLite, an edited row breaks its own hash, a
deleted or reordered row breaks its chain, and a row deleted from the end no
longer matches the head. ``verify`` checks every chain. A log copied in from a
machine's SQLite file (``store migrate``) is a chain of its own,
``NAME/imported``, kept in SQLite's formula, so its rows verify as written.

Pages are in the household's order (``seq``), newest first, across machines.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg

from shepherd.store import audit as sqlite_audit
from shepherd.store.audit import (
    EVENT_TYPES,
    GENESIS,
    PAGE_SIZE,
    PRUNE_BATCH,
    AuditEvent,
    AuditFilter,
    AuditPage,
    VerifyResult,
)

Conn = psycopg.Connection[Any]
COLUMNS = "seq, ts, type, child, entry, actor, data, machine"


def row_hash(n: int, machine: str, ts: str, kind: str, user: str | None, entry: str | None,
             actor: str, data: str, prev_hash: str) -> str:
    content = json.dumps([n, machine, ts, kind, user, entry, actor, data, prev_hash],
                         separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(content.encode()).hexdigest()


def ensure_chain(conn: Conn, chain: str, machine: str, formula: str = "household") -> None:
    conn.execute("INSERT INTO chains (chain, machine, formula, anchor_hash, head_hash) "
                 "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (chain) DO NOTHING",
                 (chain, machine, formula, GENESIS, GENESIS))


def body_of(data: Mapping[str, Any]) -> str:
    return json.dumps(dict(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def append(conn: Conn, machine: str, ts: datetime, kind: str, data: Mapping[str, Any], *,
           user: str | None = None, entry: str | None = None,
           actor: str = "shepherd") -> int:
    """Append one event to this machine's chain (in the caller's transaction)."""
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown audit event type {kind!r}")
    body = body_of(data)
    head = conn.execute("SELECT head_n, head_hash FROM chains WHERE chain = %s FOR UPDATE",
                        (machine,)).fetchone()
    assert head is not None, "the machine's chain is made when the store opens"
    n = int(head[0]) + 1
    stamp = ts.isoformat()
    digest = row_hash(n, machine, stamp, kind, user, entry, actor, body, str(head[1]))
    row = conn.execute(
        "INSERT INTO audit (chain, n, machine, ts, type, child, entry, actor, data, prev_hash, "
        "hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING seq",
        (machine, n, machine, stamp, kind, user, entry, actor, body, head[1], digest)).fetchone()
    conn.execute("UPDATE chains SET head_n = %s, head_hash = %s WHERE chain = %s",
                 (n, digest, machine))
    assert row is not None
    return int(row[0])


def query(conn: Conn, flt: AuditFilter, *, limit: int = PAGE_SIZE,
          before: int | None = None) -> AuditPage:
    where: list[str] = []
    params: list[Any] = []
    if flt.since is not None:
        where.append("ts >= %s")
        params.append(flt.since.isoformat())
    if flt.until is not None:
        where.append("ts < %s")
        params.append(flt.until.isoformat())
    if before is not None:
        where.append("seq < %s")
        params.append(before)
    if flt.types:
        where.append("type = ANY(%s)")
        params.append(list(flt.types))
    if flt.user is not None:
        where.append("child = %s")
        params.append(flt.user)
    if flt.entry is not None:
        where.append("entry = %s")
        params.append(flt.entry)
    if flt.text:
        pattern = "%" + flt.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(data ILIKE %s OR type ILIKE %s OR actor ILIKE %s)")
        params += [pattern, pattern, pattern]
    sql = f"SELECT {COLUMNS} FROM audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = conn.execute(sql + " ORDER BY seq DESC LIMIT %s", [*params, limit + 1]).fetchall()
    events = [AuditEvent(int(r[0]), str(r[1]), str(r[2]), r[3], r[4], str(r[5]),
                         json.loads(str(r[6])), machine=str(r[7])) for r in rows[:limit]]
    return AuditPage(events, events[-1].id if len(rows) > limit else None)


def verify(conn: Conn) -> VerifyResult:
    """Walk every chain from its anchor, in one read-only snapshot of the log."""
    checked = 0
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        chains = conn.execute("SELECT chain, formula, anchor_n, anchor_hash, head_n, head_hash "
                              "FROM chains ORDER BY chain").fetchall()
        for chain, formula, anchor_n, anchor_hash, head_n, head_hash in chains:
            result = _verify_chain(conn, str(chain), str(formula), int(anchor_n),
                                   str(anchor_hash), int(head_n), str(head_hash))
            checked += result.checked
            if not result.ok:
                return VerifyResult(False, checked, result.bad_id, result.problem)
    return VerifyResult(True, checked)


def _verify_chain(conn: Conn, chain: str, formula: str, anchor_n: int, anchor_hash: str,
                  head_n: int, head_hash: str) -> VerifyResult:
    where = f"{chain}'s log"
    expected = anchor_n + 1
    prev = anchor_hash
    checked = 0
    with conn.cursor(name=f"verify_{abs(hash(chain))}") as cursor:
        cursor.itersize = 2000
        cursor.execute("SELECT seq, n, machine, ts, type, child, entry, actor, data, prev_hash, "
                       "hash FROM audit WHERE chain = %s ORDER BY n", (chain,))
        for seq, n, machine, ts, kind, user, entry, actor, data, prev_hash, digest in cursor:
            if n != expected:
                return VerifyResult(False, checked, None,
                                    f"row {expected} of {where} is missing (deleted)")
            if prev_hash != prev:
                return VerifyResult(False, checked, int(seq),
                                    f"row {n} of {where} does not follow row {n - 1} "
                                    "(rows deleted, reordered or edited)")
            if formula == "sqlite":
                own = sqlite_audit.row_hash(int(n), ts, kind, user, entry, actor, data, prev_hash)
            else:
                own = row_hash(int(n), machine, ts, kind, user, entry, actor, data, prev_hash)
            if own != digest:
                return VerifyResult(False, checked, int(seq), f"row {n} of {where} was edited")
            prev = str(digest)
            expected += 1
            checked += 1
    if head_n != expected - 1 or head_hash != prev:
        return VerifyResult(False, checked, None,
                            f"{where} ends at row {expected - 1} but row {head_n} was written "
                            "(rows deleted from the end)")
    return VerifyResult(True, checked)


def prune(conn: Conn, machine: str, older_than: datetime, batch: int = PRUNE_BATCH) -> int:
    """Delete events before ``older_than`` from this machine's chains (each machine prunes
    its own), a batch per transaction with the chain's row locked; each chain's last
    pruned row becomes its anchor, so ``verify`` still passes."""
    total = 0
    chains = [str(r[0]) for r in conn.execute("SELECT chain FROM chains WHERE machine = %s",
                                              (machine,)).fetchall()]
    for chain in chains:
        while True:
            with conn.transaction():
                conn.execute("SELECT 1 FROM chains WHERE chain = %s FOR UPDATE", (chain,))
                first = conn.execute("SELECT min(n) FROM audit WHERE chain = %s",
                                     (chain,)).fetchone()
                low = int(first[0]) if first and first[0] is not None else 0
                last = conn.execute(
                    "SELECT n, hash FROM audit WHERE chain = %s AND ts < %s AND n < %s "
                    "ORDER BY n DESC LIMIT 1",
                    (chain, older_than.isoformat(), low + batch)).fetchone()
                if last is None:
                    break
                deleted = conn.execute("DELETE FROM audit WHERE chain = %s AND n <= %s",
                                       (chain, last[0])).rowcount
                conn.execute("UPDATE chains SET anchor_n = %s, anchor_hash = %s "
                             "WHERE chain = %s", (last[0], last[1], chain))
            total += deleted
    return total
