"""The store's public face: one method per state change, each one transaction.

Usage, the session row, the crash snapshot and the audit row of a change are
written together or not at all. A running session is checkpointed (at least
once a second by the daemon) and each checkpoint charges one second ahead — the
lease — so that a crash, ``kill -9`` or power cut never gives the child time;
a clean end settles the lease exactly.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import apsw

from shepherd.store import audit as audit_log
from shepherd.store import salvage
from shepherd.store.connection import Database, StoreError
from shepherd.store.files import Recovery
from shepherd.store.protocol import (
    Accounting,
    Books,
    Checkpoint,
    CheckpointRow,
    GrantRecordRow,
    HouseholdView,
    LaunchPlan,
    Parts,
    SnapshotRow,
    TimedGrantRow,
    TimeRequest,
)

log = logging.getLogger(__name__)

# What a copy's own file meets (its directory closed or read-only, its disk full), not the
# store's: the store is only read for a copy.
COPY_NOT_WRITTEN = (apsw.CantOpenError, apsw.FullError, apsw.ReadOnlyError,
                    apsw.PermissionsError)
LEASE_S = 1.0

__all__ = ["LEASE_S", "Accounting", "Checkpoint", "SnapshotRow", "Store", "TimeRequest",
           "TimedGrantRow"]


class NoPendingRequest(StoreError):
    """An answer to a request that is not waiting for one."""


class Store:
    """Durable state in one SQLite file (one machine). Construct with ``Store.open``."""

    machine: str | None = None  # not a household store

    def __init__(self, db: Database, recovery: Recovery | None = None) -> None:
        self.db = db
        self.recovery = recovery  # set when a bad file was moved aside at open

    @classmethod
    def open(cls, path: Path | str | None, now: datetime | None = None, *,
             check: bool = True) -> Store:
        """Open or create; a bad file is moved aside and ``store_recovered`` audited.

        ``check=False`` skips the integrity check after an unclean shutdown (for a
        file this process has just written itself).
        """
        db, recovery = Database.open(Path(path) if path is not None else None, check=check)
        store = cls(db, recovery)
        if recovery is not None and now is not None:
            store.audit(now, "store_recovered",
                        {"problem": recovery.problem, "moved_to": recovery.moved_to,
                         **({"kept": list(recovery.kept), "lost": list(recovery.lost)}
                            if recovery.kept or recovery.lost else {})})
        return store

    @classmethod
    def open_readonly(cls, path: Path | str) -> Store:
        return cls(Database.open_readonly(Path(path)))

    def close(self, clean: bool = True) -> None:
        self.db.close(clean)

    def batch(self) -> AbstractContextManager[apsw.Connection]:
        """One transaction for several changes (each method joins it)."""
        return self.db.write()

    # -- audit ----------------------------------------------------------------
    def audit(self, ts: datetime, kind: str, data: Mapping[str, Any], *,
              user: str | None = None, entry: str | None = None,
              actor: str = "shepherd") -> int:
        return audit_log.append(self.db, ts, kind, data, user=user, entry=entry, actor=actor)

    def audit_page(self, flt: audit_log.AuditFilter, limit: int = audit_log.PAGE_SIZE,
                   before: int | None = None) -> audit_log.AuditPage:
        return audit_log.query(self.db, flt, limit=limit, before=before)

    def verify_audit(self) -> audit_log.VerifyResult:
        return audit_log.verify(self.db)

    def prune_audit(self, older_than: datetime) -> int:
        return audit_log.prune(self.db, older_than)

    # -- meta -----------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        value = self.db.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).get
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        with self.db.write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def trusted_wall(self) -> datetime | None:
        value = self.meta("trusted_wall")
        return datetime.fromisoformat(value) if value else None

    def set_trusted_wall(self, wall: datetime) -> None:
        self.set_meta("trusted_wall", wall.isoformat())

    # -- reading state ----------------------------------------------------------
    def load_accounting(self, since: date) -> Accounting:
        conn = self.db.conn
        usage = {(str(u), str(e), date.fromisoformat(str(d))): float(s) for u, e, d, s in
                 conn.execute("SELECT user, entry, day, seconds FROM usage WHERE day >= ?",
                              (since.isoformat(),))}
        cooldowns = {(str(u), str(e)): datetime.fromisoformat(str(t)) for u, e, t in
                     conn.execute("SELECT user, entry, until FROM cooldowns")}
        grants: dict[tuple[str, str, date], int] = {}
        aside: dict[tuple[str, str, date], int] = {}
        for u, t, d, s, a in conn.execute(
                "SELECT user, target, day, sum(seconds), sum(aside_s) FROM grants "
                "WHERE day >= ? AND expires_at IS NULL "
                "GROUP BY user, target, day", (since.isoformat(),)):
            key = (str(u), str(t), date.fromisoformat(str(d)))
            grants[key] = int(s)
            if a:
                aside[key] = int(a)
        timed: list[TimedGrantRow] = []
        noted: set[int] = set()
        for gid, u, t, d, sec, until, week, seen, paid, before, after, others in conn.execute(
                "SELECT id, user, target, day, seconds, expires_at, week, expiry_noted, paid_s, "
                "used_before_s, (SELECT coalesce(sum(s.seconds + s.aside_s), 0) "
                "FROM grants s WHERE "
                "s.user = g.user AND s.target = g.target AND s.day = g.day AND "
                "s.expires_at IS NULL AND s.id > g.id), beyond_before_s FROM grants g "
                "WHERE day >= ? AND expires_at IS NOT NULL", (since.isoformat(),)):
            timed.append(TimedGrantRow(int(gid), str(u), str(t), date.fromisoformat(str(d)),
                                       int(sec), datetime.fromisoformat(str(until)),
                                       bool(week), None if paid is None else float(paid),
                                       None if before is None else float(before), int(after),
                                       float(others)))
            if seen:
                noted.add(int(gid))
        locked = {str(u) for (u,) in conn.execute("SELECT user FROM locks")}
        beyond = {(str(u), str(t), date.fromisoformat(str(d))): int(b) for u, t, d, b in
                  conn.execute("SELECT user, target, day, max(beyond_s) FROM grants "
                               "WHERE day >= ? GROUP BY user, target, day "
                               "HAVING max(beyond_s) > 0", (since.isoformat(),))}
        # the last change's figure stands (review-15-s18b H1); a row from before it says
        # what was used of the added part, which is never more than that part: less
        # added time, never more
        kept = {(str(u), str(t), date.fromisoformat(str(d))): int(k) for u, t, d, k in
                conn.execute("SELECT user, target, day, kept_s FROM grants WHERE id IN "
                             "(SELECT max(id) FROM grants WHERE day >= ? "
                             "GROUP BY user, target, day) AND kept_s > 0",
                             (since.isoformat(),))}
        # the same for what its words raised and took (Engine.raises): the last row's stand
        raises = {(str(u), str(t), date.fromisoformat(str(d))): (int(r), int(k), int(w),
                                                                  int(n))
                  for u, t, d, r, k, w, n in conn.execute(
                      "SELECT user, target, day, raised_s, took_s, week_s, under_s FROM grants "
                      "WHERE id IN (SELECT max(id) FROM grants WHERE day >= ? "
                      "GROUP BY user, target, day) "
                      "AND (raised_s > 0 OR took_s > 0 OR week_s > 0 OR under_s > 0)",
                      (since.isoformat(),))}
        return Accounting(usage, cooldowns, grants, locked, tuple(timed), frozenset(noted),
                          aside, beyond, kept, raises)

    def household(self, since: date) -> HouseholdView | None:
        return None  # one machine: nothing is shared

    def next_session_id(self) -> int:
        used = int(self.db.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM sessions").get)
        return max(used, int(self.meta("next_session_id") or 0))  # (see restore_books)

    def restore_books(self, ts: datetime, books: Books) -> None:
        """Write a daemon's books over this store, rebuilt after damage (made afresh, or a
        copy that may hold stale pages).

        Absolute values from ``books.since`` on: the usage of every day held, grants,
        cooldowns, locks, and the running sessions (each leased ahead as at a
        checkpoint), so that a restart reads what the daemon knew; older days and
        ended sessions are kept as the store has them. Session numbers go on.
        """
        acc = books.accounting
        since = books.since.isoformat()
        with self.db.write() as conn:
            # Each running session's own record (``session_days``: its charge, what its end
            # says) is what this store held up to its snapshot here (its lease settled),
            # plus what the daemon charged since; or, where this store never knew it, all
            # the daemon charged (review-9-s15 M-1: only the lease was kept, and its end
            # said it ran only since the damage). On the lease's day, as the daemon's.
            held = {int(sid): (str(boot), float(started), float(charged), float(paused),
                               str(day) if day is not None else None, float(lease or 0),
                               float(past))
                    for sid, boot, started, charged, paused, day, lease, past in conn.execute(
                        "SELECT session_id, boot_id, started_mono, charged_mono, paused_s, "
                        "lease_day, lease_s, past_deadline_s FROM snapshot")}
            since_held: dict[int, float] = {}
            for snap in books.sessions:
                was = held.get(snap.session_id)
                if was is not None and was[:2] == (snap.boot_id, snap.started_mono):
                    _, _, held_charged, held_paused, held_day, held_lease, held_past = was
                    if held_day is not None and held_lease:  # the lease, settled in its record
                        conn.execute("UPDATE session_days SET seconds = max(0, seconds - ?) "
                                     "WHERE session_id = ? AND day = ?",
                                     (held_lease, snap.session_id, held_day))
                    # (neither its paused time nor what it ran past its deadline was
                    # charged: rule 12, rule 6; rev14s24 F1-a)
                    since_held[snap.session_id] = max(
                        snap.charged_mono - held_charged - (snap.paused_s - held_paused)
                        - (snap.past_deadline_s - held_past), 0.0)
                else:
                    conn.execute("DELETE FROM session_days WHERE session_id = ?",
                                 (snap.session_id,))
                    since_held[snap.session_id] = max(
                        snap.charged_mono - snap.started_mono - snap.paused_s
                        - snap.past_deadline_s, 0.0)
            conn.execute("DELETE FROM snapshot")
            conn.execute("DELETE FROM usage WHERE day >= ?", (since,))
            conn.execute("DELETE FROM grants WHERE day >= ?", (since,))
            conn.execute("DELETE FROM cooldowns")
            conn.execute("DELETE FROM locks")
            conn.executemany(
                "INSERT INTO usage (user, entry, day, seconds) VALUES (?, ?, ?, ?)",
                [(u, e, d.isoformat(), max(s, 0.0)) for (u, e, d), s in acc.usage.items()
                 if s > 0])
            conn.executemany(
                "INSERT INTO cooldowns (user, entry, until) VALUES (?, ?, ?)",
                [(u, e, t.isoformat()) for (u, e), t in acc.cooldowns.items()])
            # time given until a moment or for the week keeps its id (the daemon's engine
            # knows it by it), and each day's take-backs and sets one row of their net,
            # numbered below all of those and the rows of days before (below 1 too where
            # need be: a new row is still numbered above the largest): read back as before
            # those grants, as the rows first written here were, and never on one of their
            # ids (review-15-s22 F0: a fresh store numbered them 1, 2, ... and the grant
            # with id 1 was refused). The table holds no row of 0 seconds (F1): a day whose
            # net is 0 has a pair below, or none; the day's figures (beyond_s, kept_s, the
            # raises) go on each of its rows, as the row read back as its last may be a
            # timed one (F2).
            conn.executemany(
                "INSERT INTO grants (id, user, target, day, seconds, actor, reason, granted_at, "
                "expires_at, week, expiry_noted, paid_s, used_before_s, beyond_before_s, "
                "beyond_s, kept_s, raised_s, took_s, week_s, under_s) VALUES "
                "(?, ?, ?, ?, ?, 'shepherd', 'restored from the daemon''s books', ?, ?, ?, ?, ?, "
                "?, ?, ?, ?, ?, ?, ?, ?)",
                [(g.id, g.user, g.target, g.day.isoformat(), g.seconds, ts.isoformat(),
                  g.expires_at.isoformat(), int(g.week), int(g.id in acc.expiries_noted),
                  g.paid_s, g.used_before_s, g.beyond_before_s,
                  acc.beyond.get((g.user, g.target, g.day), 0),
                  acc.kept.get((g.user, g.target, g.day), 0),
                  *acc.raises.get((g.user, g.target, g.day), (0, 0, 0, 0)))
                 for g in acc.timed_grants])
            # A day whose net is 0 with figures of its own and no timed grant to carry them
            # (``=30m`` then ``-10m`` on a day of raises) gets a pair of rows that net 0,
            # the figures on both (its aside on one): before, it had none and lost them
            # (review-15-s23 G2: a set then set the week's time aside where the day's
            # raises should have been taken back first).
            timed_days = {(g.user, g.target, g.day) for g in acc.timed_grants}
            figured = {k for k, v in (*acc.aside.items(), *acc.beyond.items(),
                                      *acc.kept.items()) if v}
            figured |= {k for k, v in acc.raises.items() if any(v)}
            rows = [(k, v, acc.aside.get(k, 0)) for k, v in sorted(acc.grants.items()) if v]
            for k in sorted(figured - timed_days):
                if not acc.grants.get(k) and k[2] >= books.since:
                    rows += [(k, -1, acc.aside.get(k, 0)), (k, 1, 0)]  # (read back: -1 last)
            (kept_first,) = conn.execute("SELECT min(id) FROM grants").fetchone() or (None,)
            below = min([g.id for g in acc.timed_grants]
                        + ([int(kept_first)] if kept_first is not None else []),
                        default=len(rows) + 1)
            conn.executemany(
                "INSERT INTO grants (id, user, target, day, seconds, actor, reason, granted_at, "
                "aside_s, beyond_s, kept_s, raised_s, took_s, week_s, under_s) VALUES (?, ?, "
                "?, ?, ?, 'shepherd', 'restored from the daemon''s books', ?, ?, ?, ?, ?, ?, ?, "
                "?)",
                [(below - n, u, t, d.isoformat(), seconds, ts.isoformat(), aside,
                  acc.beyond.get((u, t, d), 0), acc.kept.get((u, t, d), 0),
                  *acc.raises.get((u, t, d), (0, 0, 0, 0)))
                 for n, ((u, t, d), seconds, aside) in enumerate(rows, 1)])
            conn.executemany("INSERT INTO locks (user, locked_at, actor) VALUES (?, ?, "
                             "'shepherd')", [(u, ts.isoformat()) for u in sorted(acc.locked)])
            for snap in books.sessions:
                conn.execute(
                    "INSERT INTO sessions (id, user, entry, started_at, extension_s) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                    "extension_s = excluded.extension_s, ended_at = NULL, end_reason = NULL",
                    (snap.session_id, snap.user, snap.entry, snap.started_at.isoformat(),
                     snap.extension_s))
                lease_day = snap.lease_day or ts.date()
                conn.execute(
                    "INSERT INTO session_days (session_id, day, seconds) VALUES (?, ?, ?) "
                    "ON CONFLICT (session_id, day) DO UPDATE SET seconds = seconds + ?",
                    (snap.session_id, lease_day.isoformat(), since_held[snap.session_id],
                     since_held[snap.session_id]))
                conn.execute("UPDATE sessions SET charged_s = (SELECT coalesce(sum(seconds), "
                             "0) FROM session_days WHERE session_id = ?) WHERE id = ?",
                             (snap.session_id, snap.session_id))
                conn.execute(
                    "INSERT INTO snapshot (session_id, boot_id, started_mono, charged_mono, "
                    "lease_day, lease_s, fired, process, checkpoint_at, paused_s, "
                    "past_deadline_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (snap.session_id, snap.boot_id, snap.started_mono, snap.charged_mono,
                     lease_day.isoformat(), LEASE_S, json.dumps(list(snap.fired)),
                     json.dumps(snap.process), ts.isoformat(), snap.paused_s,
                     snap.past_deadline_s))
                self._add_use(conn, snap.session_id, snap.user, snap.entry, lease_day, LEASE_S)
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES "
                         "('next_session_id', ?)", (str(books.next_session_id),))

    def snapshots(self) -> list[SnapshotRow]:
        rows = self.db.conn.execute(
            "SELECT s.id, s.user, s.entry, s.started_at, p.boot_id, p.started_mono, "
            "p.charged_mono, s.extension_s, p.fired, p.process, p.lease_day, p.lease_s, "
            "p.paused_s, p.past_deadline_s FROM snapshot p JOIN sessions s "
            "ON s.id = p.session_id ORDER BY s.id")
        return [SnapshotRow(int(r[0]), str(r[1]), str(r[2]), datetime.fromisoformat(str(r[3])),
                            str(r[4]), float(r[5]), float(r[6]), int(r[7]),
                            tuple(json.loads(str(r[8]))), json.loads(str(r[9])),
                            date.fromisoformat(str(r[10])) if r[10] else None, float(r[11]),
                            float(r[12]), float(r[13]))
                for r in rows]

    def usage_rows(self, since: date, until: date,
                   user: str | None = None) -> list[tuple[str, str, date, float]]:
        sql = "SELECT user, entry, day, seconds FROM usage WHERE day >= ? AND day <= ?"
        params: list[Any] = [since.isoformat(), until.isoformat()]
        if user is not None:
            sql += " AND user = ?"
            params.append(user)
        return [(str(u), str(e), date.fromisoformat(str(d)), float(s))
                for u, e, d, s in self.db.conn.execute(sql + " ORDER BY day, user, entry", params)]

    def extension_rows(self, since: datetime) -> list[tuple[str, str, datetime, int]]:
        rows = [(str(u), str(e), datetime.fromisoformat(str(at)), int(x))
                for u, e, at, x in self.db.conn.execute(
                    "SELECT user, entry, started_at, extension_s FROM sessions "
                    "WHERE extension_s > 0 ORDER BY id")]
        return [row for row in rows if row[2] >= since]

    def grant_rows(self, since: date, until: date) -> list[GrantRecordRow]:
        return [(str(u), str(t), date.fromisoformat(str(d)), int(s),
                 datetime.fromisoformat(str(x)) if x is not None else None, bool(w), bool(n),
                 None if p is None else float(p), int(a), int(b))
                for u, t, d, s, x, w, n, p, a, b in self.db.conn.execute(
                    "SELECT user, target, day, seconds, expires_at, week, expiry_noted, paid_s, "
                    "aside_s, beyond_s FROM grants WHERE day BETWEEN ? AND ? ORDER BY id",
                    (since.isoformat(), until.isoformat()))]

    # -- sessions ---------------------------------------------------------------
    def _add_use(self, conn: apsw.Connection, session_id: int, user: str, entry: str,
                 day: date, seconds: float) -> None:
        if seconds == 0:
            return
        conn.execute(
            "INSERT INTO usage (user, entry, day, seconds) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (user, entry, day) DO UPDATE SET seconds = max(0, seconds + ?)",
            (user, entry, day.isoformat(), max(seconds, 0.0), seconds))
        conn.execute(
            "INSERT INTO session_days (session_id, day, seconds) VALUES (?, ?, ?) "
            "ON CONFLICT (session_id, day) DO UPDATE SET seconds = max(0, seconds + ?)",
            (session_id, day.isoformat(), max(seconds, 0.0), seconds))
        conn.execute("UPDATE sessions SET charged_s = charged_s + ? WHERE id = ?",
                     (seconds, session_id))

    def _settle_lease(self, conn: apsw.Connection, session_id: int) -> tuple[str, str]:
        row = conn.execute(
            "SELECT s.user, s.entry, p.lease_day, p.lease_s FROM sessions s "
            "JOIN snapshot p ON p.session_id = s.id WHERE s.id = ?", (session_id,)).fetchall()
        if not row:
            raise StoreError(f"session {session_id} is not running")
        user, entry, lease_day, lease_s = row[0]
        if lease_day is not None and lease_s:
            self._add_use(conn, session_id, str(user), str(entry),
                          date.fromisoformat(str(lease_day)), -float(lease_s))
        return str(user), str(entry)

    def start_session(self, ts: datetime, session_id: int, user: str, entry: str, *,
                      boot_id: str, started_mono: float, lease_day: date,
                      process: Mapping[str, Any],
                      audit_data: Mapping[str, Any] | None,
                      remaining_s: float | None = None) -> None:
        """Record a session and charge its lease; ``audit_data=None``: not audited as
        started yet (``session_running`` does it once the program runs)."""
        with self.db.write() as conn:
            conn.execute("INSERT INTO sessions (id, user, entry, started_at) VALUES (?, ?, ?, ?)",
                         (session_id, user, entry, ts.isoformat()))
            conn.execute(
                "INSERT INTO snapshot (session_id, boot_id, started_mono, charged_mono, "
                "lease_day, lease_s, process, checkpoint_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, boot_id, started_mono, started_mono, lease_day.isoformat(),
                 LEASE_S, json.dumps(dict(process)), ts.isoformat()))
            self._add_use(conn, session_id, user, entry, lease_day, LEASE_S)
            if audit_data is not None:
                self.audit(ts, "session_started", {"session_id": session_id, **audit_data},
                           user=user, entry=entry)

    def launch(self, user: str, since: date,
               decide: Callable[[HouseholdView | None], LaunchPlan | None]) -> LaunchPlan | None:
        """Decide and record a launch while holding the write lock."""
        with self.db.write():
            plan = decide(None)
            if plan is not None:
                self.start_session(plan.ts, plan.session_id, plan.user, plan.entry,
                                   boot_id=plan.boot_id, started_mono=plan.started_mono,
                                   lease_day=plan.lease_day, process=plan.process,
                                   audit_data=None)
            return plan

    def launch_failed(self, ts: datetime, session_id: int, user: str, entry: str, *,
                      audit_data: Mapping[str, Any]) -> None:
        """A program that never started: its session number is spent, nothing is charged,
        and the record says it failed (never ``session_started``)."""
        with self.db.write() as conn:
            conn.execute("INSERT INTO sessions (id, user, entry, started_at, ended_at, "
                         "end_reason) VALUES (?, ?, ?, ?, ?, 'launch_failed')",
                         (session_id, user, entry, ts.isoformat(), ts.isoformat()))
            self.audit(ts, "session_ended", {"session_id": session_id,
                                             "reason": "launch_failed", "charged_s": 0,
                                             **audit_data}, user=user, entry=entry)

    def session_running(self, ts: datetime, session_id: int, process: Mapping[str, Any],
                        audit_data: Mapping[str, Any]) -> None:
        """The program of a recorded session runs: how to find it again, and the audit row."""
        with self.db.write() as conn:
            conn.execute("UPDATE snapshot SET process = ? WHERE session_id = ?",
                         (json.dumps(dict(process)), session_id))
            user, entry = conn.execute("SELECT user, entry FROM sessions WHERE id = ?",
                                       (session_id,)).fetchall()[0]
            self.audit(ts, "session_started", {"session_id": session_id, **audit_data},
                       user=str(user), entry=str(entry))

    def session_process(self, session_id: int, process: Mapping[str, Any]) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE snapshot SET process = ? WHERE session_id = ?",
                         (json.dumps(dict(process)), session_id))

    def session_fired(self, session_id: int, fired: tuple[int, ...]) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE snapshot SET fired = ? WHERE session_id = ?",
                         (json.dumps(list(fired)), session_id))

    def checkpoint(self, ts: datetime, charges: Iterable[CheckpointRow], *,
                   remaining: Mapping[int, float | None] | None = None,
                   paused: Mapping[int, Mapping[str, Any] | None] | None = None) -> None:
        """For each running session: settle its lease, charge its parts, lease again
        (``remaining`` and ``paused`` are for a household's other machines: unused here)."""
        with self.db.write() as conn:
            for row in charges:
                (session_id, parts, charged_mono, lease_day, fired, paused_s,
                 past_deadline_s) = Checkpoint(*row)
                held = conn.execute("SELECT charged_mono FROM snapshot WHERE session_id = ?",
                                    (session_id,)).get
                if held is not None and charged_mono <= float(held):
                    continue  # already in these books (written from memory: restore_books)
                user, entry = self._settle_lease(conn, session_id)
                for day, seconds in parts:
                    self._add_use(conn, session_id, user, entry, day, seconds)
                self._add_use(conn, session_id, user, entry, lease_day, LEASE_S)
                conn.execute(
                    "UPDATE snapshot SET charged_mono = ?, lease_day = ?, lease_s = ?, "
                    "fired = ?, paused_s = ?, past_deadline_s = ?, checkpoint_at = ? "
                    "WHERE session_id = ?",
                    (charged_mono, lease_day.isoformat(), LEASE_S, json.dumps(list(fired)),
                     paused_s, past_deadline_s, ts.isoformat(), session_id))

    def set_extension(self, ts: datetime, session_id: int, extension_s: int, seconds: int,
                      actor: str, audit_data: Mapping[str, Any]) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE sessions SET extension_s = ? WHERE id = ?",
                         (extension_s, session_id))
            user, entry = conn.execute("SELECT user, entry FROM sessions WHERE id = ?",
                                       (session_id,)).fetchall()[0]
            self.audit(ts, "session_extended",
                       {"session_id": session_id, "seconds": seconds, **audit_data},
                       user=str(user), entry=str(entry), actor=actor)

    def end_session(self, ts: datetime, session_id: int, parts: Parts, reason: str,
                    cooldown_until: datetime | None, *, actor: str = "shepherd",
                    settle_lease: bool = True,
                    audit_data: Mapping[str, Any] | None = None) -> float:
        """Close a session: settle its lease, charge its last piece, start its cooldown.

        ``settle_lease=False`` keeps the second charged ahead (crash recovery: the
        time since the last checkpoint is unknown). Returns the seconds charged.
        """
        with self.db.write() as conn:
            if settle_lease:
                user, entry = self._settle_lease(conn, session_id)
            else:
                user, entry = (str(v) for v in conn.execute(
                    "SELECT user, entry FROM sessions WHERE id = ?", (session_id,)).fetchall()[0])
            for day, seconds in parts:
                self._add_use(conn, session_id, user, entry, day, seconds)
            charged = float(conn.execute("SELECT coalesce(sum(seconds), 0) FROM session_days "
                                         "WHERE session_id = ?", (session_id,)).get)
            conn.execute("UPDATE sessions SET ended_at = ?, end_reason = ?, charged_s = ? "
                         "WHERE id = ?", (ts.isoformat(), reason, charged, session_id))
            conn.execute("DELETE FROM snapshot WHERE session_id = ?", (session_id,))
            if cooldown_until is not None:
                conn.execute(
                    "INSERT INTO cooldowns (user, entry, until) VALUES (?, ?, ?) "
                    "ON CONFLICT (user, entry) DO UPDATE SET until = max(until, excluded.until)",
                    (user, entry, cooldown_until.isoformat()))
            data = {"session_id": session_id, "reason": reason,
                    "charged_s": round(charged, 3), **dict(audit_data or {})}
            if cooldown_until is not None:
                data["cooldown_until"] = cooldown_until.isoformat()
            self.audit(ts, "session_ended", data, user=user, entry=entry, actor=actor)
        return charged

    def apply_kept(self, document: Mapping[str, Any]) -> tuple[int, int, int]:
        """What a daemon kept beside the store while it could not write it (``kept.py``):
        each end and checkpoint whose session is still open in the snapshot, and each
        audit row the log does not hold yet, one transaction. An end is applied once (it
        closes the snapshot row); a checkpoint only past the snapshot's ``charged_mono``;
        an audit row when none of its type, time and actor is there (times are to the
        microsecond). So a document applied twice, or after the store took its changes,
        changes nothing. Returns (ends, checkpoints, audit rows) applied."""
        ends = checkpoints = audits = 0
        with self.db.write() as conn:
            def open_at(session_id: int) -> float | None:  # ids are never used twice
                held = conn.execute("SELECT charged_mono FROM snapshot WHERE session_id = ?",
                                    (session_id,)).get
                return None if held is None else float(held)

            for kept in document.get("checkpoints", []):
                session_id = int(kept["session_id"])
                held = open_at(session_id)
                if held is None or float(kept["charged_mono"]) <= held:
                    continue
                self.checkpoint(datetime.fromisoformat(kept["ts"]), [Checkpoint(
                    session_id, _parts(kept["parts"]), float(kept["charged_mono"]),
                    date.fromisoformat(kept["lease_day"]), tuple(int(f) for f in kept["fired"]),
                    float(kept["paused_s"]), float(kept.get("past_deadline_s", 0.0)))])
                checkpoints += 1
            for kept in document.get("ends", []):
                session_id = int(kept["session_id"])
                if open_at(session_id) is None:
                    continue
                until = kept.get("cooldown_until")
                self.end_session(
                    datetime.fromisoformat(kept["ts"]), session_id, _parts(kept["parts"]),
                    str(kept["reason"]), None if until is None else datetime.fromisoformat(until),
                    actor=str(kept["actor"]), settle_lease=bool(kept["settle_lease"]),
                    audit_data={**dict(kept.get("audit_data") or {}),
                                "kept_while_store_away": True})
                ends += 1
            for row in document.get("audits", []):
                kind, ts, actor = str(row["type"]), datetime.fromisoformat(row["ts"]), str(
                    row["actor"])
                if kind not in audit_log.EVENT_TYPES or conn.execute(
                        "SELECT 1 FROM audit WHERE ts = ? AND type = ? AND actor = ? LIMIT 1",
                        (ts.isoformat(), kind, actor)).get is not None:
                    continue  # written already (or of a Shepherd that knows more kinds)
                self.audit(ts, kind, {**dict(row.get("data") or {}),
                                      "kept_while_store_away": True},
                           user=row.get("user"), entry=row.get("entry"), actor=actor)
                audits += 1
        return ends, checkpoints, audits

    # -- admin actions ------------------------------------------------------------
    def grant(self, ts: datetime, user: str, target: str, day: date, seconds: int, *,
              actor: str, reason: str = "", audit_data: Mapping[str, Any] | None = None,
              expires_at: datetime | None = None, week: bool = False,
              used_before_s: float | None = None,
              taken_from: Sequence[tuple[int, int]] = (), aside_s: int = 0,
              beyond_s: int = 0, beyond_before_s: float = 0.0,
              kept_s: int = 0, raises: tuple[int, int, int, int] | None = None
              ) -> int | None:
        """Change a day's grants by ``seconds`` (negative: taken back; 0: audited only);
        time added may stop counting at ``expires_at`` (``week``: usable on any day of
        the week until then); ``taken_from``: time taken back from such grants. The new
        grant's id, None when nothing was recorded."""
        grant_id: int | None = None
        with self.db.write() as conn:
            for taken_id, part in taken_from:  # all of it taken back: gone
                conn.execute("DELETE FROM grants WHERE id = ? AND seconds <= ?",
                             (taken_id, part))
                conn.execute("UPDATE grants SET seconds = seconds - ? WHERE id = ?",
                             (part, taken_id))
            if seconds:
                conn.execute("INSERT INTO grants (user, target, day, seconds, actor, reason, "
                             "granted_at, expires_at, week, used_before_s, aside_s, beyond_s, "
                             "beyond_before_s, kept_s, raised_s, took_s, week_s, under_s) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (user, target, day.isoformat(), seconds, actor, reason,
                              ts.isoformat(), expires_at.isoformat() if expires_at else None,
                              int(week), used_before_s, aside_s, beyond_s, beyond_before_s,
                              kept_s, *(raises or (0, 0, 0, 0))))
                grant_id = int(conn.last_insert_rowid())
            elif raises is not None:  # a set that changed nothing, or taken from timed
                # grants only: the day's figures as it leaves them go on its last row (the
                # last row's stand; the row a grant taken back in full had is gone:
                # DayRaises.week)
                conn.execute("UPDATE grants SET raised_s = ?, took_s = ?, week_s = ?, "
                             "under_s = ? WHERE id = (SELECT max(id) FROM grants WHERE user = ? "
                             "AND target = ? AND day = ?)",
                             (*raises, user, target, day.isoformat()))
            timed = {"expires_at": expires_at.isoformat(), "week": week} if expires_at else {}
            self.audit(ts, "time_granted", {"target": target, "day": day.isoformat(),
                                            "seconds": seconds, "reason": reason, **timed,
                                            **dict(audit_data or {})},
                       user=user, entry=target, actor=actor)
        return grant_id

    def grant_expired(self, ts: datetime, grant_id: int, user: str, target: str,
                      data: Mapping[str, Any], paid_s: float | None = None) -> None:
        """A timed grant stopped counting: audited once (``expiry_noted``), with what it
        paid for (``paid_s``: what it counts for from then on)."""
        with self.db.write() as conn:
            conn.execute("UPDATE grants SET expiry_noted = 1, paid_s = ? WHERE id = ?",
                         (paid_s, grant_id))
            self.audit(ts, "grant_expired", dict(data), user=user, entry=target,
                       actor="shepherd")

    def clear_cooldown(self, ts: datetime, user: str, entry: str, *, actor: str) -> bool:
        with self.db.write() as conn:
            existed = conn.execute("SELECT until FROM cooldowns WHERE user = ? AND entry = ?",
                                   (user, entry)).get
            conn.execute("DELETE FROM cooldowns WHERE user = ? AND entry = ?", (user, entry))
            self.audit(ts, "cooldown_cleared", {"was_until": existed}, user=user, entry=entry,
                       actor=actor)
        return existed is not None

    def set_locked(self, ts: datetime, user: str, locked: bool, *, actor: str) -> None:
        with self.db.write() as conn:
            if locked:
                conn.execute("INSERT OR IGNORE INTO locks (user, locked_at, actor) "
                             "VALUES (?, ?, ?)", (user, ts.isoformat(), actor))
            else:
                conn.execute("DELETE FROM locks WHERE user = ?", (user,))
            self.audit(ts, "user_locked" if locked else "user_unlocked", {}, user=user,
                       actor=actor)

    def books_lost(self) -> dict[str, Any] | None:
        """Set when this store was made at open from a damaged file whose books could not
        all be read (``salvage``): which tables, and where the file was kept."""
        value = self.meta(salvage.BOOKS_LOST_KEY)
        return None if value is None else dict(json.loads(value))

    def lock_after_damage(self, ts: datetime, users: Iterable[str],
                          lost: Mapping[str, Any]) -> None:
        """Every child locked, because the books were lost (``books_lost``, cleared in the
        same transaction: a crash before it locks them again at the next start)."""
        with self.db.write() as conn:
            for user in users:
                conn.execute("INSERT OR IGNORE INTO locks (user, locked_at, actor) "
                             "VALUES (?, ?, 'shepherd')", (user, ts.isoformat()))
                self.audit(ts, "user_locked", {"why": "store_damaged", **lost}, user=user)
            conn.execute("DELETE FROM meta WHERE key = ?", (salvage.BOOKS_LOST_KEY,))

    # -- time requests ----------------------------------------------------------------
    def add_request(self, ts: datetime, user: str, entry: str, seconds: int, note: str) -> int:
        with self.db.write() as conn:
            conn.execute("INSERT INTO requests (user, entry, seconds, note, requested_at) "
                         "VALUES (?, ?, ?, ?, ?)", (user, entry, seconds, note, ts.isoformat()))
            request_id = int(conn.last_insert_rowid())
            self.audit(ts, "time_requested", {"request_id": request_id, "seconds": seconds,
                                              "note": note}, user=user, entry=entry, actor=user)
        return request_id

    def requests(self, pending_only: bool = True) -> list[TimeRequest]:
        sql = ("SELECT id, user, entry, seconds, note, requested_at, state, answered_by, "
               "granted_s FROM requests")
        if pending_only:
            sql += " WHERE state = 'pending'"
        return [TimeRequest(int(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4]), str(r[5]),
                            str(r[6]), r[7], r[8])
                for r in self.db.conn.execute(sql + " ORDER BY id")]

    def answer_request(self, ts: datetime, request_id: int, approve: bool, seconds: int | None,
                       day: date, *, actor: str, target: str | None = None) -> TimeRequest:
        """Approve (the request becomes a grant, in the same transaction) or decline."""
        with self.db.write() as conn:
            found = [r for r in self.requests() if r.id == request_id]
            if not found:
                raise NoPendingRequest(f"no pending request {request_id}")
            request = found[0]
            granted = (seconds or request.seconds) if approve else None
            conn.execute("UPDATE requests SET state = ?, answered_at = ?, answered_by = ?, "
                         "granted_s = ? WHERE id = ?",
                         ("approved" if approve else "declined", ts.isoformat(), actor, granted,
                          request_id))
            if granted:
                self.grant(ts, request.user, target or request.entry, day, granted,
                           actor=actor, reason=f"request {request_id}")
            self.audit(ts, "request_answered", {"request_id": request_id,
                                                "approved": approve, "granted_s": granted,
                                                **({"budget": target} if target else {})},
                       user=request.user, entry=request.entry, actor=actor)
        return TimeRequest(request.id, request.user, request.entry, request.seconds,
                           request.note, request.requested_at,
                           "approved" if approve else "declined", actor, granted)

    # -- maintenance --------------------------------------------------------------------
    def copy_to(self, target: Path | str, *, durable: bool = True) -> None:
        """Online copy with SQLite's backup API: one consistent moment of the store.

        ``durable=False`` for a copy thrown away after one read: nothing is synced.
        """
        target = Path(target)
        if target.exists():
            raise StoreError(f"{target} already exists; choose a new file name")
        try:
            dest = apsw.Connection(str(target))
            try:
                if not durable:
                    dest.pragma("synchronous", "OFF")
                with dest.backup("main", self.db.conn, "main") as job:
                    while not job.done:
                        job.step(1024)
            finally:
                dest.close()
        except COPY_NOT_WRITTEN as exc:  # the copy's own file: never the store's fault
            for part in (target, Path(f"{target}-journal")):  # not there before: ours
                with contextlib.suppress(OSError):
                    part.unlink(missing_ok=True)
            raise StoreError(f"{target} could not be written ({exc})") from None

    def backup(self, target: Path | str) -> audit_log.VerifyResult:
        """Online copy (``copy_to``); the copy is opened and verified."""
        self.copy_to(target)
        copy = Store.open_readonly(target)
        try:
            return copy.verify_audit()
        finally:
            copy.close()


def _parts(kept: Any) -> list[tuple[date, float]]:
    return [(date.fromisoformat(str(day)), float(seconds)) for day, seconds in kept]
