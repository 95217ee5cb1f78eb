"""This machine's part in a household: what the daemon does beyond one machine.

With ``[household]`` the daemon's store is the household's PostgreSQL (through
the same writer and ``StateStore`` seam as SQLite), and this module adds:

- **hearing the others**: a listener (``LISTEN``) reports other machines'
  changes; each starts one read of the household (coalesced, on the writer's
  thread so it follows this machine's own writes), whose result replaces the
  engine's view of the others (``Engine.set_household``) and the household's
  grants, cooldowns and locks; deadlines are recomputed at once;
- **the local journal**: every checkpoint and session end goes to the journal
  first (synced to disk while the store is away) and is applied by the writer
  in order, exactly once (``PgStore.apply_journal``); so running sessions keep
  being charged through a partition, and the seconds reach the household when
  it returns.

Launch decisions need no code here: ``StateStore.launch`` hands the engine the
household as it stands inside the transaction that records the launch.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from shepherd.engine import Engine, Household, Instant, RemoteSession, TimedGrant
from shepherd.policy import Policy as PolicyModel
from shepherd.store import HouseholdView, SnapshotRow, StateStore
from shepherd.store.connection import StoreError, StoreUnavailable
from shepherd.store.household.listen import Listener
from shepherd.store.household.store import PgStore
from shepherd.store.journal import Journal
from shepherd.store.store import Store
from shepherd.store.writer import StoreWriter

log = logging.getLogger("shepherd.daemon")

# Kinds of notification that carry an event for this machine's listeners.
EVENTS = {"requested": "time_requested", "answered": "request_answered"}


class Host(Protocol):
    """What the household link needs of the daemon."""

    engine: Engine
    writer: StoreWriter

    def now(self) -> Instant: ...

    def history_start(self, now: Instant) -> date: ...

    def household_changed(self) -> None: ...

    def publish_remote(self, kind: str, data: dict[str, Any], user: str | None) -> None: ...

    def policy_differs(self, machines: list[str]) -> None: ...


@dataclass
class _Waiting:
    seq: int
    future: asyncio.Future[int]


@dataclass
class HouseholdLink:
    url: str
    machine: str
    state_dir: Path
    host: Host
    journal: Journal = field(init=False)
    listener: Listener | None = None
    _exec: ThreadPoolExecutor = field(init=False)
    _refresh_queued: bool = False
    _refresh_again: bool = False
    _apply_queued: bool = False
    _apply_again: bool = False
    _waiting: list[_Waiting] = field(default_factory=list)
    _cooldowns: dict[tuple[str, str], datetime] = field(default_factory=dict)
    refreshed: int = 0  # views applied (health, tests)
    policy_hash: str = ""  # this machine's (``policy_hash``), published to the others
    differs: list[str] = field(default_factory=list)  # machines whose policy is not ours
    # This machine's SQLite history from before the household, not (all) copied in by
    # ``store migrate``: why, in a sentence (status and log); None when none is missing.
    unmigrated: str | None = None

    def __post_init__(self) -> None:
        self.journal = Journal(self.state_dir / "household-journal.jsonl")
        self.local_path = self.state_dir / "household-sessions.json"
        self._exec = ThreadPoolExecutor(1, thread_name_prefix="household-journal")

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        self.listener = Listener(self.url, self.machine, asyncio.get_running_loop(),
                                 self._heard)
        self.listener.start()

    async def close(self) -> None:
        if self.listener is not None:
            await asyncio.to_thread(self.listener.stop)
        self._exec.shutdown(wait=True)
        self.journal.applied(0, compact=True)  # a clean stop: nothing waits, start afresh

    def replay(self) -> None:
        """At start: whatever the journal still holds goes to the store first (those the
        store has already applied are skipped there, by its mark)."""
        self._apply()

    def loaded(self, store: StateStore) -> int:
        """On the writer's thread at load, before the books are read: every record made
        so far is applied first (those whose writing to the journal is still under way
        too), so the books read next hold them all: a session's end waiting in the
        journal is not found running in the store's snapshot (and closed again), nor a
        checkpoint charged both there and again from the snapshot read before it.
        Returns the store's mark for this machine's journal."""
        assert isinstance(store, PgStore)
        self.check_moved_in(store)
        with contextlib.suppress(RuntimeError):  # (closed: nothing is written any more)
            self._exec.submit(lambda: None).result()  # the appends under way are written
        mark = store.journal_mark()
        self.journal.start_after(mark)
        waiting = self.journal.pending()
        if waiting:
            log.warning("household journal: %d record(s) made before this read were not "
                        "yet in the household store; applying them (each once)",
                        len(waiting))
            try:
                mark = store.apply_journal(waiting)
            except StoreUnavailable:
                raise
            except StoreError as exc:  # left to the journal's own application (said there)
                log.error("could not apply the household journal: %s", exc)
            else:
                self.journal.applied(mark)
        return mark

    def check_moved_in(self, store: PgStore) -> None:
        """On the writer's thread: is this machine's SQLite history from before the
        household (``shepherd.db`` in its state directory) all in the household store?
        If not, its use today is not counted (a fresh budget): said loudly, in the log
        and in ``status``, until ``store migrate`` copies it (heard while running)."""
        path = self.state_dir / "shepherd.db"
        said = unmigrated(path, store.imported_head(), self.machine, self.url)
        if said is not None and said != self.unmigrated:
            log.error("%s", said)
        elif said is None and self.unmigrated is not None:
            log.warning("this machine's history from before the household is now in the "
                        "household store (store migrate)")
        self.unmigrated = said

    # -- hearing the others ---------------------------------------------------------------
    def _heard(self, payload: dict[str, Any]) -> None:
        kind = str(payload.get("k", ""))
        if kind == "disconnected":
            return
        if kind == "migrated" and payload.get("m") == self.machine:
            def check(store: StateStore) -> None:
                assert isinstance(store, PgStore)
                self.check_moved_in(store)

            self.host.writer.keep(check)
        if kind in EVENTS and isinstance(payload.get("e"), dict):
            self.host.publish_remote(EVENTS[kind], dict(payload["e"]), payload.get("u"))
        self.refresh()

    def refresh(self) -> None:
        """Read the household again (one read at a time; one more if asked meanwhile)."""
        if self._refresh_queued:
            self._refresh_again = True
            return
        if not self.host.writer.available:
            return
        self._refresh_queued = True
        since = self.host.history_start(self.host.now())

        def read(store: StateStore) -> tuple[float, HouseholdView | None]:
            return time.monotonic(), store.household(since)

        future = self.host.writer.submit(read)
        future.add_done_callback(self._refreshed)

    def _refreshed(self, future: asyncio.Future[tuple[float, HouseholdView | None]]) -> None:
        self._refresh_queued = False
        again, self._refresh_again = self._refresh_again, False
        if future.cancelled() or future.exception() is not None:
            if not future.cancelled():
                log.debug("household read failed: %s", future.exception())
        else:
            read_mono, view = future.result()
            if view is not None:
                self.apply_view(view, read_mono)
        if again:
            self.refresh()

    def apply_view(self, view: HouseholdView, read_mono: float) -> None:
        """The household as read at ``read_mono``: into the engine, then deadlines again."""
        engine = self.host.engine
        engine.set_household(to_household(view, read_mono))
        cooldowns = dict(view.cooldowns)
        for key, until in self._cooldowns.items():  # ends not in the store yet
            if key not in cooldowns or cooldowns[key] < until:
                cooldowns[key] = until
        # Timed grants are the household's (ids are the store's); one not recorded
        # (a negative id) stays this machine's. An expiry any machine noted is noted.
        timed = [*(g for gid, g in engine.timed.items() if gid < 0),
                 *(TimedGrant(g.id, g.user, g.target, g.day, g.seconds, g.expires_at, g.week,
                              g.paid_s, g.used_before_s, g.signed_after_s,
                              g.beyond_before_s)
                   for g in view.timed_grants)]
        engine.set_books(cooldowns=cooldowns, grants=view.grants, timed=timed,
                         expiries_noted=view.expiries_noted, locked=view.locked,
                         aside=view.aside, beyond=view.beyond, kept=view.kept,
                         raises=view.raises)
        differs = sorted(m for m, digest in view.policies.items()
                         if self.policy_hash and digest != self.policy_hash)
        if differs != self.differs:
            self.differs = differs
            self.host.policy_differs(differs)
        self.refreshed += 1
        self.host.household_changed()

    def publish_policy(self, policy: PolicyModel) -> None:
        """This machine's policy changed (or it started): tell the household, compare."""
        digest = self.policy_hash = policy_hash(policy)

        def publish(store: StateStore) -> None:
            assert isinstance(store, PgStore)
            store.publish_policy(digest)

        self.host.writer.keep(publish)
        self.refresh()

    # -- the journal ----------------------------------------------------------------------
    def checkpoint(self, ts: datetime, rows: list[dict[str, Any]]) -> None:
        """A checkpoint of this machine's sessions: journal, then the store."""
        self.record({"kind": "checkpoint", "ts": ts.isoformat(), "rows": rows})

    def record(self, record: Mapping[str, Any],
               cooldown: tuple[str, str, datetime] | None = None) -> asyncio.Future[int]:
        """Journal a record, then apply it; the future resolves once it is in the store."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        if cooldown is not None:
            user, entry, until = cooldown
            self._cooldowns[(user, entry)] = until
        sync = not self.host.writer.available  # it will wait here: make it survive a crash
        appended = loop.run_in_executor(self._exec, lambda: self.journal.append(record,
                                                                                 sync=sync))

        def journaled(result: asyncio.Future[int]) -> None:
            if result.exception() is not None:
                log.error("could not write the household journal: %s", result.exception())
                if not done.done():
                    done.set_exception(result.exception())  # type: ignore[arg-type]
                return
            self._waiting.append(_Waiting(result.result(), done))
            self._apply()

        appended.add_done_callback(journaled)
        return done

    def _apply(self) -> None:
        if self._apply_queued:
            self._apply_again = True
            return
        self._apply_queued = True
        journal = self.journal

        def apply(store: StateStore) -> int:
            assert isinstance(store, PgStore)
            mark = store.apply_journal(journal.pending())
            journal.applied(mark)
            return mark

        future = self.host.writer.submit(apply, keep=True)
        future.add_done_callback(self._applied)

    def _applied(self, future: asyncio.Future[int]) -> None:
        self._apply_queued = False
        again, self._apply_again = self._apply_again, False
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            log.error("could not apply the household journal: %s", exc)
            for waiting in self._waiting:
                if not waiting.future.done():
                    waiting.future.set_exception(exc)
            self._waiting.clear()
            return
        mark = future.result()
        still = []
        for waiting in self._waiting:
            if waiting.seq <= mark:
                if not waiting.future.done():
                    waiting.future.set_result(mark)
            else:
                still.append(waiting)
        self._waiting = still
        if not still:
            self._cooldowns.clear()
        if again or still:
            self._apply()

    # -- this machine's own crash snapshot, kept locally too ------------------------------
    def keep_local(self, rows: list[dict[str, Any]]) -> None:
        """This machine's running sessions as they stand (a crash snapshot of its own).

        The household store holds them too, but a daemon restarted while the store
        cannot be reached must still know what it left running, and until when: each
        row is a ``SnapshotRow`` with ``ends_mono``, its deadline on this boot's
        monotonic clock. Written in order with the journal, replaced atomically.
        """
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().run_in_executor(
                self._exec, lambda: write_local(self.local_path, rows))

    def load_local(self) -> list[tuple[SnapshotRow, float | None]]:
        """What :meth:`keep_local` last kept: (snapshot, deadline on the monotonic clock)."""
        try:
            rows = json.loads(self.local_path.read_text())
        except FileNotFoundError:
            return []
        except ValueError as exc:
            log.error("the local copy of this machine's sessions is unreadable: %s", exc)
            return []
        kept = []
        for row in rows:
            kept.append((SnapshotRow(
                int(row["session_id"]), str(row["user"]), str(row["entry"]),
                datetime.fromisoformat(row["started_at"]), str(row["boot_id"]),
                float(row["started_mono"]), float(row["charged_mono"]),
                int(row["extension_s"]), tuple(int(f) for f in row["fired"]),
                dict(row["process"]), None, 0.0, float(row["paused_s"]),
                float(row.get("past_deadline_s", 0.0))),
                None if row.get("ends_mono") is None else float(row["ends_mono"])))
        return kept

    def status(self, local_books: bool = False) -> dict[str, str | None]:
        """What a parent must know of this machine's link, each a sentence (or None).
        ``local_books``: the daemon started while the household store could not be read,
        and runs on this machine's own local copy of its sessions."""
        cut_off = None
        if local_books:
            cut_off = ("Shepherd started while the household store could not be reached: "
                       "a program still running from before the restart keeps the "
                       "deadline it had before the link went down; today's use and "
                       "budgets are not known here until "
                       "the link is back (they are in the household store, this "
                       "computer's use before the restart too), so they are not shown; "
                       "nothing can start meanwhile.")
        return {"unmigrated": self.unmigrated, "local_books": cut_off}

    def store_away(self) -> None:
        """The store went away: what waits in the journal must survive a crash."""
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().run_in_executor(self._exec, self.journal.sync)


def policy_hash(policy: PolicyModel) -> str:
    """What must be the same on every machine of a household: the whole policy but for
    the machine's own name (as parsed: comments and layout do not count)."""
    data = policy.model_dump(mode="json")
    if isinstance(data.get("household"), dict):
        data["household"].pop("machine", None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def unmigrated(path: Path, imported: tuple[int, str] | None, machine: str,
               url: str) -> str | None:
    """Why this machine's SQLite history at ``path`` is not (all) in the household store
    whose copy of it ends at ``imported`` (``store migrate``'s mark), or None if it is."""
    if not path.exists():
        return None
    command = (f"stop Shepherd's old daemon if it still runs, then run `shepherd store "
               f"migrate --to \"{url}\" --db {path} --machine {machine}`")
    try:
        old = Store.open_readonly(path)
        try:
            head = old.meta("audit_head")
        finally:
            old.close()
        mark = None if head is None else json.loads(head)
        own = None if mark is None else (int(mark["id"]), str(mark["hash"]))
    except Exception as exc:  # StoreError, or a file not ours: the load goes on
        return (f"This machine's history from before the household ({path}) could not be "
                f"read to see whether it was copied into the household store ({exc}); "
                f"{command}.")
    if own is None or own == imported:
        return None
    what = ("is not in the household store" if imported is None else
            "has rows written since `store migrate` last copied it")
    return (f"This machine's history from before the household ({path}) {what}: the "
            f"use, grants and requests it holds are not counted here, so a child may get a "
            f"fresh budget; {command} (a running household daemon hears it at once).")


def write_local(path: Path, rows: list[dict[str, Any]]) -> None:
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(rows, default=str).encode())  # a crash of the daemon,
        # not of the machine, is what it is for: after a reboot its sessions are gone
    finally:
        os.close(fd)
    os.replace(temporary, path)


def to_household(view: HouseholdView, read_mono: float) -> Household:
    """Place the other machines' sessions on this machine's monotonic clock."""
    sessions = []
    for row in view.sessions:
        seen = read_mono - row.age_s
        sessions.append(RemoteSession(row.machine, row.session_id, row.user, row.entry,
                                      row.started_at, seen,
                                      None if row.remaining_s is None
                                      else seen + row.remaining_s, row.pause))
    return Household(dict(view.usage), tuple(sessions))
