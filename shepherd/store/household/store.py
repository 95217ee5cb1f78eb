"""The household store: the same state as the SQLite store, shared by several machines.

It keeps SQLite's rules (one transaction per change; the lease charged one
second ahead and settled at a clean end) and adds what sharing needs:

- every row a machine writes carries its name; its own usage rows are written
  only by it;
- every change another machine must see at once ends with ``NOTIFY shepherd``
  (delivered when the transaction commits): the others read the household's
  state again and recompute their deadlines;
- a launch is decided inside the transaction that records it, with the child's
  row locked (``launch``), so two machines never both pass a limit;
- the local journal's records are applied here exactly once (``apply_journal``:
  each machine's last applied record is kept in the same transaction).

One ``PgStore`` is one connection, used by one thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg

from shepherd.store.audit import PAGE_SIZE, AuditFilter, AuditPage, VerifyResult
from shepherd.store.connection import StoreError, StoreUnavailable
from shepherd.store.household import audit as chain_log
from shepherd.store.household.connect import connect, migrate
from shepherd.store.household.schema import MACHINE_LOCK
from shepherd.store.protocol import (
    Accounting,
    Checkpoint,
    CheckpointRow,
    GrantRecordRow,
    HouseholdView,
    LaunchPlan,
    Parts,
    RemoteSessionRow,
    SnapshotRow,
    TimedGrantRow,
    TimeRequest,
)

log = logging.getLogger(__name__)

LEASE_S = 1.0
CHANNEL = "shepherd"
Conn = psycopg.Connection[Any]


class PgStore:
    """One machine's connection to the household store."""

    def __init__(self, conn: Conn, url: str, machine: str) -> None:
        self.conn = conn
        self.url = url
        self.machine = machine
        self._depth = 0

    @classmethod
    def open(cls, url: str, machine: str, *, purpose: str = "store") -> PgStore:
        """Connect, migrate, and make sure this machine has its audit chain."""
        conn = connect(url, machine, purpose)
        try:
            migrate(conn)
            chain_log.ensure_chain(conn, machine, machine)
        except BaseException:
            conn.close()
            raise
        return cls(conn, url, machine)

    @classmethod
    def attach(cls, url: str, machine: str, purpose: str) -> PgStore:
        """Another connection for reads or maintenance (no migration)."""
        return cls(connect(url, machine, purpose), url, machine)

    def claim_name(self) -> None:
        """Hold this machine's name for the connection's life (the writer's only): a
        second machine given the same name (a cloned image keeps the host name) would
        take the first's sessions, usage and journal marks for its own and see none
        of them. It waits instead, unavailable, saying why."""
        row = self.conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                                (MACHINE_LOCK, self.machine)).fetchone()
        if row is None or not row[0]:
            raise StoreUnavailable(
                f"another machine in the household is already called {self.machine} (or "
                "this machine's last connection has not ended yet): give each machine "
                "its own name in [household] machine")

    def close(self, clean: bool = True) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.close()

    def cut(self) -> None:
        """From another thread: end the connection under whatever waits on it (a server
        that stopped answering; the kernel still acknowledging leaves libpq waiting)."""
        with contextlib.suppress(OSError, psycopg.Error):
            dup = os.dup(self.conn.pgconn.socket)
            with socket.socket(fileno=dup) as sock:
                sock.shutdown(socket.SHUT_RDWR)

    @property
    def broken(self) -> bool:
        return bool(self.conn.closed or self.conn.broken)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Conn]:
        """One transaction; nested uses join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        with self.conn.transaction():
            self._depth = 1
            try:
                yield self.conn
            finally:
                self._depth = 0

    def batch(self) -> contextlib.AbstractContextManager[Conn]:
        return self._tx()

    def notify(self, conn: Conn, kind: str, user: str | None = None,
                event: Mapping[str, Any] | None = None) -> None:
        payload: dict[str, Any] = {"m": self.machine, "k": kind}
        if user is not None:
            payload["u"] = user
        if event is not None:
            payload["e"] = dict(event)
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps(payload, default=str)))

    # -- audit ----------------------------------------------------------------
    def audit(self, ts: datetime, kind: str, data: Mapping[str, Any], *,
              user: str | None = None, entry: str | None = None,
              actor: str = "shepherd") -> int:
        with self._tx() as conn:
            return chain_log.append(conn, self.machine, ts, kind, data, user=user, entry=entry,
                                    actor=actor)

    def audit_page(self, flt: AuditFilter, limit: int = PAGE_SIZE,
                   before: int | None = None) -> AuditPage:
        return chain_log.query(self.conn, flt, limit=limit, before=before)

    def verify_audit(self) -> VerifyResult:
        return chain_log.verify(self.conn)

    def prune_audit(self, older_than: datetime) -> int:
        return chain_log.prune(self.conn, self.machine, older_than)

    # -- meta -----------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE machine = %s AND key = %s",
                                (self.machine, key)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as conn:
            conn.execute("INSERT INTO meta (machine, key, value) VALUES (%s, %s, %s) "
                         "ON CONFLICT (machine, key) DO UPDATE SET value = excluded.value",
                         (self.machine, key, value))

    def publish_policy(self, digest: str) -> None:
        """This machine's policy (its hash, ``machine`` left out): the others compare."""
        with self._tx() as conn:
            conn.execute("INSERT INTO meta (machine, key, value) VALUES (%s, 'policy_hash', %s) "
                         "ON CONFLICT (machine, key) DO UPDATE SET value = excluded.value",
                         (self.machine, digest))
            self.notify(conn, "policy")

    def trusted_wall(self) -> datetime | None:
        value = self.meta("trusted_wall")
        return datetime.fromisoformat(value) if value else None

    def set_trusted_wall(self, wall: datetime) -> None:
        self.set_meta("trusted_wall", wall.isoformat())

    # -- reading state ----------------------------------------------------------
    def _shared(self, conn: Conn, since: date) -> tuple[dict[tuple[str, str], datetime],
                                                        dict[tuple[str, str, date], int],
                                                        set[str]]:
        cooldowns = {(str(u), str(e)): t for u, e, t in
                     conn.execute("SELECT child, entry, until FROM cooldowns").fetchall()}
        grants = {(str(u), str(t), d): int(s) for u, t, d, s in conn.execute(
            "SELECT child, target, day, sum(seconds) FROM grants WHERE day >= %s "
            "AND expires_at IS NULL GROUP BY child, target, day", (since,)).fetchall()}
        locked = {str(u) for (u,) in conn.execute("SELECT child FROM locks").fetchall()}
        return cooldowns, grants, locked

    def _aside(self, conn: Conn, since: date) -> dict[tuple[str, str, date], int]:
        """Of the household's take-backs and sets, the week's time they set aside per
        day (Engine.aside)."""
        return {(str(u), str(t), d): int(a) for u, t, d, a in conn.execute(
            "SELECT child, target, day, sum(aside_s) FROM grants WHERE day >= %s "
            "AND expires_at IS NULL GROUP BY child, target, day HAVING sum(aside_s) <> 0",
            (since,)).fetchall()}

    def _beyond(self, conn: Conn, since: date) -> dict[tuple[str, str, date], int]:
        """Per day, the use its own time had not paid for when it last changed
        (Engine.beyond)."""
        return {(str(u), str(t), d): int(b) for u, t, d, b in conn.execute(
            "SELECT child, target, day, max(beyond_s) FROM grants WHERE day >= %s "
            "GROUP BY child, target, day HAVING max(beyond_s) > 0", (since,)).fetchall()}

    def _kept(self, conn: Conn, since: date) -> dict[tuple[str, str, date], int]:
        """Per day, the added part of its own time as its last change left it
        (Engine.kept: the last row's figure stands, review-15-s18b H1)."""
        return {(str(u), str(t), d): int(k) for u, t, d, k in conn.execute(
            "SELECT child, target, day, kept_s FROM grants WHERE id IN "
            "(SELECT max(id) FROM grants WHERE day >= %s GROUP BY child, target, day) "
            "AND kept_s > 0", (since,)).fetchall()}

    def _raises(self, conn: Conn, since: date
                ) -> dict[tuple[str, str, date], tuple[int, int, int, int]]:
        """Per day, what its words raised and took of its own time (Engine.raises: the
        last row's figures stand)."""
        return {(str(u), str(t), d): (int(r), int(k), int(w), int(n))
                for u, t, d, r, k, w, n in conn.execute(
                    "SELECT child, target, day, raised_s, took_s, week_s, under_s FROM grants "
                    "WHERE id IN (SELECT max(id) FROM grants WHERE day >= %s GROUP BY child, "
                    "target, day) AND (raised_s > 0 OR took_s > 0 OR week_s > 0 "
                    "OR under_s > 0)",
                    (since,)).fetchall()}

    def _timed(self, conn: Conn, since: date) -> tuple[tuple[TimedGrantRow, ...],
                                                       frozenset[int]]:
        """The household's timed grants (--until a time, or for the week), and those whose
        expiry is audited."""
        timed: list[TimedGrantRow] = []
        noted: set[int] = set()
        for gid, u, t, d, sec, until, week, seen, paid, before, after, others in conn.execute(
                "SELECT id, child, target, day, seconds, expires_at, week, expiry_noted, "
                "paid_s, used_before_s, (SELECT coalesce(sum(s.seconds + s.aside_s), 0) "
                "FROM grants s "
                "WHERE s.child = g.child AND s.target = g.target AND s.day = g.day AND "
                "s.expires_at IS NULL AND s.id > g.id), beyond_before_s FROM grants g "
                "WHERE day >= %s AND expires_at IS NOT NULL ORDER BY id", (since,)).fetchall():
            timed.append(TimedGrantRow(int(gid), str(u), str(t), d, int(sec), until,
                                       bool(week), None if paid is None else float(paid),
                                       None if before is None else float(before), int(after),
                                       float(others)))
            if seen:
                noted.add(int(gid))
        return tuple(timed), frozenset(noted)

    def load_accounting(self, since: date) -> Accounting:
        """This machine's own usage, and the household's cooldowns, grants and locks."""
        with self._tx() as conn:
            usage = {(str(u), str(e), d): float(s) for u, e, d, s in conn.execute(
                "SELECT child, entry, day, seconds FROM usage WHERE day >= %s "
                "AND machine = %s AND origin = 'live'", (since, self.machine)).fetchall()}
            cooldowns, grants, locked = self._shared(conn, since)
            timed, noted = self._timed(conn, since)
            aside = self._aside(conn, since)
            beyond = self._beyond(conn, since)
            kept = self._kept(conn, since)
            raises = self._raises(conn, since)
        return Accounting(usage, cooldowns, grants, locked, timed, noted, aside, beyond, kept,
                          raises)

    def household(self, since: date) -> HouseholdView:
        """What the other machines add: their usage and running sessions; and the
        household's cooldowns, grants and locks, all as one moment saw them."""
        with self._tx() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            view = self._view(conn, since)
            row = conn.execute("SELECT clock_timestamp()").fetchone()
            assert row is not None
            return replace(view, server_now=row[0])

    def _view(self, conn: Conn, since: date) -> HouseholdView:
        usage = {(str(u), str(e), d): float(s) for u, e, d, s in conn.execute(
            "SELECT child, entry, day, sum(seconds) FROM usage WHERE day >= %s "
            "AND (machine <> %s OR origin <> 'live') GROUP BY child, entry, day",
            (since, self.machine)).fetchall()}
        sessions = tuple(
            RemoteSessionRow(str(m), int(i), str(u), str(e), datetime.fromisoformat(str(st)),
                             max(float(age), 0.0), None if rem is None else float(rem),
                             None if pause is None else dict(json.loads(str(pause))))
            for m, i, u, e, st, age, rem, pause in conn.execute(
                "SELECT s.machine, s.id, s.child, s.entry, s.started_at, "
                "extract(epoch FROM clock_timestamp() - p.heartbeat), p.remaining_s, p.pause "
                "FROM sessions s JOIN snapshot p ON p.machine = s.machine "
                "AND p.session_id = s.id WHERE s.machine <> %s ORDER BY s.machine, s.id",
                (self.machine,)).fetchall())
        cooldowns, grants, locked = self._shared(conn, since)
        timed, noted = self._timed(conn, since)
        aside = self._aside(conn, since)
        beyond = self._beyond(conn, since)
        kept = self._kept(conn, since)
        raises = self._raises(conn, since)
        policies = {str(m): str(v) for m, v in conn.execute(
            "SELECT machine, value FROM meta WHERE key = 'policy_hash' AND machine <> %s",
            (self.machine,)).fetchall()}
        return HouseholdView(usage, sessions, cooldowns, grants, locked, timed_grants=timed,
                             expiries_noted=noted, policies=policies, aside=aside,
                             beyond=beyond, kept=kept, raises=raises)

    def next_session_id(self) -> int:
        row = self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM sessions "
                                "WHERE machine = %s", (self.machine,)).fetchone()
        assert row is not None
        return int(row[0])

    def snapshots(self) -> list[SnapshotRow]:
        rows = self.conn.execute(
            "SELECT s.id, s.child, s.entry, s.started_at, p.boot_id, p.started_mono, "
            "p.charged_mono, s.extension_s, p.fired, p.process, p.lease_day, p.lease_s, "
            "p.paused_s, p.past_deadline_s FROM snapshot p JOIN sessions s "
            "ON s.machine = p.machine "
            "AND s.id = p.session_id WHERE p.machine = %s ORDER BY s.id",
            (self.machine,)).fetchall()
        return [SnapshotRow(int(r[0]), str(r[1]), str(r[2]), datetime.fromisoformat(str(r[3])),
                            str(r[4]), float(r[5]), float(r[6]), int(r[7]),
                            tuple(json.loads(str(r[8]))), json.loads(str(r[9])), r[10],
                            float(r[11]), float(r[12]), float(r[13]))
                for r in rows]

    def usage_rows(self, since: date, until: date,
                   user: str | None = None) -> list[tuple[str, str, date, float]]:
        sql = ("SELECT child, entry, day, sum(seconds) FROM usage WHERE day >= %s "
               "AND day <= %s")
        params: list[Any] = [since, until]
        if user is not None:
            sql += " AND child = %s"
            params.append(user)
        sql += " GROUP BY child, entry, day ORDER BY day, child, entry"
        return [(str(u), str(e), d, float(s))
                for u, e, d, s in self.conn.execute(sql, params).fetchall()]

    def extension_rows(self, since: datetime) -> list[tuple[str, str, datetime, int]]:
        rows = [(str(u), str(e), datetime.fromisoformat(str(at)), int(x))
                for u, e, at, x in self.conn.execute(
                    "SELECT child, entry, started_at, extension_s FROM sessions "
                    "WHERE extension_s > 0 ORDER BY machine, id").fetchall()]
        return [row for row in rows if row[2] >= since]

    def grant_rows(self, since: date, until: date) -> list[GrantRecordRow]:
        return [(str(u), str(t), d, int(s), x, bool(w), bool(n),
                 None if p is None else float(p), int(a), int(b))
                for u, t, d, s, x, w, n, p, a, b in self.conn.execute(
                    "SELECT child, target, day, seconds, expires_at, week, expiry_noted, paid_s, "
                    "aside_s, beyond_s FROM grants WHERE day BETWEEN %s AND %s ORDER BY id",
                    (since, until)).fetchall()]

    # -- sessions ---------------------------------------------------------------
    def _add_use(self, conn: Conn, session_id: int, user: str, entry: str, day: date,
                 seconds: float) -> None:
        if seconds == 0:
            return
        conn.execute(
            "INSERT INTO usage (child, entry, day, machine, seconds) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (child, entry, day, machine, origin) "
            "DO UPDATE SET seconds = greatest(0, usage.seconds + %s)",
            (user, entry, day, self.machine, max(seconds, 0.0), seconds))
        conn.execute(
            "INSERT INTO session_days (machine, session_id, day, seconds) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (machine, session_id, day) "
            "DO UPDATE SET seconds = greatest(0, session_days.seconds + %s)",
            (self.machine, session_id, day, max(seconds, 0.0), seconds))
        conn.execute("UPDATE sessions SET charged_s = charged_s + %s "
                     "WHERE machine = %s AND id = %s", (seconds, self.machine, session_id))

    def _session(self, conn: Conn, session_id: int) -> tuple[str, str]:
        row = conn.execute("SELECT child, entry FROM sessions WHERE machine = %s AND id = %s",
                           (self.machine, session_id)).fetchone()
        if row is None:
            raise StoreError(f"no session {session_id} on {self.machine}")
        return str(row[0]), str(row[1])

    def _settle_lease(self, conn: Conn, session_id: int) -> tuple[str, str]:
        row = conn.execute(
            "SELECT s.child, s.entry, p.lease_day, p.lease_s FROM sessions s "
            "JOIN snapshot p ON p.machine = s.machine AND p.session_id = s.id "
            "WHERE s.machine = %s AND s.id = %s", (self.machine, session_id)).fetchone()
        if row is None:
            raise StoreError(f"session {session_id} is not running")
        user, entry, lease_day, lease_s = row
        if lease_day is not None and lease_s:
            self._add_use(conn, session_id, str(user), str(entry), lease_day, -float(lease_s))
        return str(user), str(entry)

    def start_session(self, ts: datetime, session_id: int, user: str, entry: str, *,
                      boot_id: str, started_mono: float, lease_day: date,
                      process: Mapping[str, Any], audit_data: Mapping[str, Any] | None,
                      remaining_s: float | None = None) -> None:
        with self._tx() as conn:
            conn.execute("INSERT INTO sessions (machine, id, child, entry, started_at) "
                         "VALUES (%s, %s, %s, %s, %s)",
                         (self.machine, session_id, user, entry, ts.isoformat()))
            conn.execute(
                "INSERT INTO snapshot (machine, session_id, boot_id, started_mono, charged_mono, "
                "lease_day, lease_s, process, checkpoint_at, remaining_s) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (self.machine, session_id, boot_id, started_mono, started_mono, lease_day,
                 LEASE_S, json.dumps(dict(process)), ts.isoformat(), remaining_s))
            self._add_use(conn, session_id, user, entry, lease_day, LEASE_S)
            if audit_data is not None:
                self.audit(ts, "session_started", {"session_id": session_id, **audit_data},
                           user=user, entry=entry)
            self.notify(conn, "started", user)

    def launch(self, user: str, since: date,
               decide: Callable[[HouseholdView | None], LaunchPlan | None]) -> LaunchPlan | None:
        """Decide and record a launch in one transaction, the child's row locked.

        Another machine deciding for the same child waits here until this commits,
        then sees this session. ``decide`` gets the household as it stands now.
        """
        with self._tx() as conn:
            conn.execute("INSERT INTO children (child) VALUES (%s) ON CONFLICT DO NOTHING",
                         (user,))
            conn.execute("SELECT child FROM children WHERE child = %s FOR UPDATE", (user,))
            plan = decide(self._view(conn, since))
            if plan is not None:
                self.start_session(plan.ts, plan.session_id, plan.user, plan.entry,
                                   boot_id=plan.boot_id, started_mono=plan.started_mono,
                                   lease_day=plan.lease_day, process=plan.process,
                                   audit_data=None, remaining_s=plan.remaining_s)
            return plan

    def launch_failed(self, ts: datetime, session_id: int, user: str, entry: str, *,
                      audit_data: Mapping[str, Any]) -> None:
        with self._tx():
            self.conn.execute(
                "INSERT INTO sessions (machine, id, child, entry, started_at, ended_at, "
                "end_reason) VALUES (%s, %s, %s, %s, %s, %s, 'launch_failed')",
                (self.machine, session_id, user, entry, ts.isoformat(), ts.isoformat()))
            self.audit(ts, "session_ended", {"session_id": session_id,
                                             "reason": "launch_failed", "charged_s": 0,
                                             **audit_data}, user=user, entry=entry)

    def session_running(self, ts: datetime, session_id: int, process: Mapping[str, Any],
                        audit_data: Mapping[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE snapshot SET process = %s WHERE machine = %s "
                         "AND session_id = %s", (json.dumps(dict(process)), self.machine,
                                                 session_id))
            user, entry = self._session(conn, session_id)
            self.audit(ts, "session_started", {"session_id": session_id, **audit_data},
                       user=user, entry=entry)

    def session_process(self, session_id: int, process: Mapping[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE snapshot SET process = %s WHERE machine = %s "
                         "AND session_id = %s", (json.dumps(dict(process)), self.machine,
                                                 session_id))

    def session_fired(self, session_id: int, fired: tuple[int, ...]) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE snapshot SET fired = %s WHERE machine = %s "
                         "AND session_id = %s", (json.dumps(list(fired)), self.machine,
                                                 session_id))

    def checkpoint(self, ts: datetime, charges: Iterable[CheckpointRow], *,
                   remaining: Mapping[int, float | None] | None = None,
                   paused: Mapping[int, Mapping[str, Any] | None] | None = None) -> None:
        """For each running session: settle its lease, charge its parts, lease again, and
        tell the household its time left (``remaining``) and whether it stands still."""
        with self._tx() as conn:
            users = set()
            for row in charges:
                (session_id, parts, charged_mono, lease_day, fired, paused_s,
                 past_deadline_s) = Checkpoint(*row)
                user, entry = self._settle_lease(conn, session_id)
                users.add(user)
                for day, seconds in parts:
                    self._add_use(conn, session_id, user, entry, day, seconds)
                self._add_use(conn, session_id, user, entry, lease_day, LEASE_S)
                left = (remaining or {}).get(session_id)
                conn.execute(
                    "UPDATE snapshot SET charged_mono = %s, lease_day = %s, lease_s = %s, "
                    "fired = %s, paused_s = %s, past_deadline_s = %s, pause = %s, "
                    "checkpoint_at = %s, heartbeat = clock_timestamp(), remaining_s = %s "
                    "WHERE machine = %s AND session_id = %s",
                    (charged_mono, lease_day, LEASE_S, json.dumps(list(fired)), paused_s,
                     past_deadline_s, _json_or_null((paused or {}).get(session_id)), ts.isoformat(),
                     left, self.machine, session_id))
            if users:
                self.notify(conn, "checkpoint")

    def set_extension(self, ts: datetime, session_id: int, extension_s: int, seconds: int,
                      actor: str, audit_data: Mapping[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE sessions SET extension_s = %s WHERE machine = %s AND id = %s",
                         (extension_s, self.machine, session_id))
            user, entry = self._session(conn, session_id)
            self.audit(ts, "session_extended",
                       {"session_id": session_id, "seconds": seconds, **audit_data},
                       user=user, entry=entry, actor=actor)

    def end_session(self, ts: datetime, session_id: int, parts: Parts, reason: str,
                    cooldown_until: datetime | None, *, actor: str = "shepherd",
                    settle_lease: bool = True,
                    audit_data: Mapping[str, Any] | None = None) -> float:
        with self._tx() as conn:
            if settle_lease:
                user, entry = self._settle_lease(conn, session_id)
            else:
                user, entry = self._session(conn, session_id)
            for day, seconds in parts:
                self._add_use(conn, session_id, user, entry, day, seconds)
            row = conn.execute("SELECT coalesce(sum(seconds), 0) FROM session_days "
                               "WHERE machine = %s AND session_id = %s",
                               (self.machine, session_id)).fetchone()
            charged = float(row[0]) if row else 0.0
            conn.execute("UPDATE sessions SET ended_at = %s, end_reason = %s, charged_s = %s "
                         "WHERE machine = %s AND id = %s",
                         (ts.isoformat(), reason, charged, self.machine, session_id))
            conn.execute("DELETE FROM snapshot WHERE machine = %s AND session_id = %s",
                         (self.machine, session_id))
            if cooldown_until is not None:
                conn.execute(
                    "INSERT INTO cooldowns (child, entry, until) VALUES (%s, %s, %s) "
                    "ON CONFLICT (child, entry) "
                    "DO UPDATE SET until = greatest(cooldowns.until, excluded.until)",
                    (user, entry, cooldown_until))
            data = {"session_id": session_id, "reason": reason,
                    "charged_s": round(charged, 3), **dict(audit_data or {})}
            if cooldown_until is not None:
                data["cooldown_until"] = cooldown_until.isoformat()
            self.audit(ts, "session_ended", data, user=user, entry=entry, actor=actor)
            self.notify(conn, "ended", user)
        return charged

    # -- the local journal ---------------------------------------------------------
    def imported_head(self) -> tuple[int, str] | None:
        """This machine's SQLite audit head as ``store migrate`` last copied it (None: never)."""
        row = self.conn.execute("SELECT head_n, head_hash FROM imports WHERE machine = %s",
                                (self.machine,)).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def journal_mark(self) -> int:
        """The last record of this machine's journal applied here (0: none yet)."""
        row = self.conn.execute("SELECT seq FROM journal_marks WHERE machine = %s",
                                (self.machine,)).fetchone()
        return int(row[0]) if row else 0

    def apply_journal(self, records: Sequence[Mapping[str, Any]]) -> int:
        """Apply the records not applied yet, in order, in one transaction; returns the mark.

        A record is a checkpoint (``rows``) or a session's end (``end``) that this
        machine kept in its local journal; whatever is replayed, each is applied
        once: the mark moves in the same transaction.
        """
        with self._tx() as conn:
            conn.execute("INSERT INTO journal_marks (machine, seq) VALUES (%s, 0) "
                         "ON CONFLICT DO NOTHING", (self.machine,))
            row = conn.execute("SELECT seq FROM journal_marks WHERE machine = %s FOR UPDATE",
                               (self.machine,)).fetchone()
            mark = int(row[0]) if row else 0
            for record in records:
                seq = int(record["seq"])
                if seq <= mark:
                    continue
                self._apply_record(record)
                mark = seq
            conn.execute("UPDATE journal_marks SET seq = %s WHERE machine = %s",
                         (mark, self.machine))
        return mark

    def _apply_record(self, record: Mapping[str, Any]) -> None:
        ts = datetime.fromisoformat(str(record["ts"]))
        if record["kind"] == "checkpoint":
            rows: list[CheckpointRow] = []
            remaining: dict[int, float | None] = {}
            paused: dict[int, Mapping[str, Any] | None] = {}
            for row in record["rows"]:
                sid = int(row["session"])
                if not self._running(sid):
                    log.warning("journal: session %d has ended here already; its %s is "
                                "not charged twice", sid, row["parts"])
                    continue
                rows.append(Checkpoint(
                    sid, [(date.fromisoformat(d), float(s)) for d, s in row["parts"]],
                    float(row["charged_mono"]), date.fromisoformat(row["lease_day"]),
                    tuple(row["fired"]), float(row.get("paused_s", 0.0)),
                    float(row.get("past_deadline_s", 0.0))))
                remaining[sid] = row.get("remaining_s")
                paused[sid] = row.get("pause")
            self.checkpoint(ts, rows, remaining=remaining, paused=paused)
        elif record["kind"] == "end":
            sid = int(record["session"])
            if not self._running(sid):
                log.warning("journal: session %d has ended here already", sid)
                return
            until = record.get("cooldown_until")
            self.end_session(ts, sid, [(date.fromisoformat(d), float(s))
                                       for d, s in record["parts"]],
                             str(record["reason"]),
                             datetime.fromisoformat(until) if until else None,
                             actor=str(record.get("actor", "shepherd")),
                             settle_lease=bool(record.get("settle_lease", True)),
                             audit_data=record.get("audit_data") or {})
        else:
            raise StoreError(f"unknown journal record {record['kind']!r}")

    def _running(self, session_id: int) -> bool:
        return self.conn.execute("SELECT 1 FROM snapshot WHERE machine = %s AND session_id = %s",
                                 (self.machine, session_id)).fetchone() is not None

    # -- admin actions ------------------------------------------------------------
    def _lock_child(self, conn: Conn, user: str) -> None:
        conn.execute("INSERT INTO children (child) VALUES (%s) ON CONFLICT DO NOTHING", (user,))
        conn.execute("SELECT child FROM children WHERE child = %s FOR UPDATE", (user,))

    def grant(self, ts: datetime, user: str, target: str, day: date, seconds: int, *,
              actor: str, reason: str = "", audit_data: Mapping[str, Any] | None = None,
              expires_at: datetime | None = None, week: bool = False,
              used_before_s: float | None = None,
              taken_from: Sequence[tuple[int, int]] = (), aside_s: int = 0,
              beyond_s: int = 0, beyond_before_s: float = 0.0,
              kept_s: int = 0, raises: tuple[int, int, int, int] | None = None
              ) -> int | None:
        grant_id: int | None = None
        with self._tx() as conn:
            for taken_id, part in taken_from:  # all of it taken back: gone
                conn.execute("DELETE FROM grants WHERE id = %s AND seconds <= %s",
                             (taken_id, part))
                conn.execute("UPDATE grants SET seconds = seconds - %s WHERE id = %s",
                             (part, taken_id))
            if seconds:
                row = conn.execute(
                    "INSERT INTO grants (child, target, day, seconds, actor, reason, "
                    "granted_at, machine, expires_at, week, used_before_s, aside_s, beyond_s, "
                    "beyond_before_s, kept_s, raised_s, took_s, week_s, under_s) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                    "%s, %s, %s) "
                    "RETURNING id",
                    (user, target, day, seconds, actor, reason, ts.isoformat(), self.machine,
                     expires_at, week, used_before_s, aside_s, beyond_s,
                     beyond_before_s, kept_s, *(raises or (0, 0, 0, 0)))).fetchone()
                grant_id = int(row[0]) if row else None
            elif raises is not None:  # no row of its own: the day's figures on its last
                # row, as SQLite's store
                conn.execute("UPDATE grants SET raised_s = %s, took_s = %s, week_s = %s, "
                             "under_s = %s WHERE id = (SELECT max(id) FROM grants WHERE child = %s "
                             "AND target = %s AND day = %s)",
                             (*raises, user, target, day))
            timed = {"expires_at": expires_at.isoformat(), "week": week} if expires_at else {}
            self.audit(ts, "time_granted", {"target": target, "day": day.isoformat(),
                                            "seconds": seconds, "reason": reason, **timed,
                                            **dict(audit_data or {})},
                       user=user, entry=target, actor=actor)
            self.notify(conn, "granted", user)
        return grant_id

    def grant_expired(self, ts: datetime, grant_id: int, user: str, target: str,
                      data: Mapping[str, Any], paid_s: float | None = None) -> None:
        """A timed grant stopped counting: audited once in the household, by the first
        machine to see it (the others find it noted), with what it paid for as that
        machine saw it (``paid_s``: what it counts for from then on)."""
        with self._tx() as conn:
            first = conn.execute("UPDATE grants SET expiry_noted = true, paid_s = %s "
                                 "WHERE id = %s AND NOT expiry_noted RETURNING id",
                                 (paid_s, grant_id)).fetchone()
            if first is not None:
                self.audit(ts, "grant_expired", dict(data), user=user, entry=target,
                           actor="shepherd")

    def clear_cooldown(self, ts: datetime, user: str, entry: str, *, actor: str) -> bool:
        with self._tx() as conn:
            row = conn.execute("DELETE FROM cooldowns WHERE child = %s AND entry = %s "
                               "RETURNING until", (user, entry)).fetchone()
            self.audit(ts, "cooldown_cleared",
                       {"was_until": row[0].isoformat() if row else None},
                       user=user, entry=entry, actor=actor)
            self.notify(conn, "cooldown", user)
        return row is not None

    def set_locked(self, ts: datetime, user: str, locked: bool, *, actor: str) -> None:
        with self._tx() as conn:
            self._lock_child(conn, user)  # a launch deciding for this child finishes first
            if locked:
                conn.execute("INSERT INTO locks (child, locked_at, actor, machine) "
                             "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                             (user, ts.isoformat(), actor, self.machine))
            else:
                conn.execute("DELETE FROM locks WHERE child = %s", (user,))
            self.audit(ts, "user_locked" if locked else "user_unlocked", {}, user=user,
                       actor=actor)
            self.notify(conn, "locked" if locked else "unlocked", user)

    # -- time requests ----------------------------------------------------------------
    def add_request(self, ts: datetime, user: str, entry: str, seconds: int, note: str) -> int:
        with self._tx() as conn:
            row = conn.execute(
                "INSERT INTO requests (child, entry, seconds, note, requested_at, machine) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (user, entry, seconds, note, ts.isoformat(), self.machine)).fetchone()
            assert row is not None
            request_id = int(row[0])
            self.audit(ts, "time_requested", {"request_id": request_id, "seconds": seconds,
                                              "note": note}, user=user, entry=entry, actor=user)
            self.notify(conn, "requested", user, {"request_id": request_id, "entry": entry,
                                                   "seconds": seconds, "note": note})
        return request_id

    def requests(self, pending_only: bool = True) -> list[TimeRequest]:
        sql = ("SELECT id, child, entry, seconds, note, requested_at, state, answered_by, "
               "granted_s FROM requests")
        if pending_only:
            sql += " WHERE state = 'pending'"
        return [TimeRequest(int(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4]), str(r[5]),
                            str(r[6]), r[7], r[8])
                for r in self.conn.execute(sql + " ORDER BY id").fetchall()]

    def answer_request(self, ts: datetime, request_id: int, approve: bool, seconds: int | None,
                       day: date, *, actor: str, target: str | None = None) -> TimeRequest:
        with self._tx() as conn:
            row = conn.execute(
                "SELECT id, child, entry, seconds, note, requested_at FROM requests "
                "WHERE id = %s AND state = 'pending' FOR UPDATE", (request_id,)).fetchone()
            if row is None:
                raise StoreError(f"no pending request {request_id}")
            request = TimeRequest(int(row[0]), str(row[1]), str(row[2]), int(row[3]),
                                  str(row[4]), str(row[5]), "pending", None, None)
            granted = (seconds or request.seconds) if approve else None
            conn.execute("UPDATE requests SET state = %s, answered_at = %s, answered_by = %s, "
                         "granted_s = %s WHERE id = %s",
                         ("approved" if approve else "declined", ts.isoformat(), actor, granted,
                          request_id))
            if granted:
                self.grant(ts, request.user, target or request.entry, day, granted,
                           actor=actor, reason=f"request {request_id}")
            self.audit(ts, "request_answered", {"request_id": request_id,
                                                "approved": approve, "granted_s": granted,
                                                **({"budget": target} if target else {})},
                       user=request.user, entry=request.entry, actor=actor)
            answer = TimeRequest(request.id, request.user, request.entry, request.seconds,
                                 request.note, request.requested_at,
                                 "approved" if approve else "declined", actor, granted)
            self.notify(conn, "answered", request.user, answer.to_json())
        return answer

    # -- maintenance --------------------------------------------------------------------
    def backup(self, target: Path) -> VerifyResult:
        raise StoreError("a household store is backed up on its server, with pg_dump "
                         "(see the README); `store backup` copies a machine's SQLite file")


def _json_or_null(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(dict(value), separators=(",", ":"))
