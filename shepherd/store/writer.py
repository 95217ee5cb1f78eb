"""The store's one writer: every change in order, one transaction each, off the event loop.

The daemon hands ``StoreWriter`` changes (functions of a ``Store``, each one
transaction); a single thread applies them in the order given and answers
through asyncio futures, so the event loop never waits on SQLite, an fsync or
a lock.

When a change fails for a reason that passes (a lock, a full disk, a read-only
file, an unwritable ``-shm``), the store is *unavailable*:

- changes submitted with ``keep=True`` (accounting, the audit trail) stay queued,
  in order, and are written when it returns;
- other changes fail at once with ``StoreUnavailable``, so their caller can
  answer that nothing changed;
- the thread tries again with backoff (0.1 s, doubling, at most 5 s); the first
  success writes a ``store_recovered`` audit row and tells the daemon.

Before every transaction the writer checks that the path still names the file
it opened, that the file still starts as a database, and that every store file
can be written. A deleted or replaced file, or one damaged in place (truncated,
overwritten with garbage: SQLite reports it as corrupt at the first read of a
page it no longer holds, or not at all while its cache holds everything), is
rebuilt at once from the writer's still-open connection, whose cache and
write-ahead log hold what the file lost: the copy is checked (integrity, schema,
audit trail) before it takes the path; the file found there is moved aside,
never deleted; a ``store_recovered`` row says what happened. A copy that fails
the check (pages the connection never held are lost with the file) is not used:
the store stays unavailable, launches are denied, enforcement goes on from
memory, and the log and ``health`` say to restore a backup.

A change that fails for its own reasons (a constraint, a missing row) fails
alone: the store stays available.

Reads (audit pages, usage history, time requests) run on a second thread with
their own connection; verify, backup and retention pruning each open their own
connection on a third. None of them runs on the loop, and pruning deletes in
small batches so the write lock is never held for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import apsw

from shepherd.store import files
from shepherd.store.audit import VerifyResult
from shepherd.store.connection import (
    DAMAGE_ERRORS,
    Database,
    StoreError,
    StoreUnavailable,
    StoreVersionError,
    describe,
    is_transient,
)
from shepherd.store.schema import SCHEMA_VERSION
from shepherd.store.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0
MAX_KEPT = 10_000  # queued changes while unavailable; past it, droppable ones are refused


@dataclass(frozen=True)
class StoreState:
    """What the daemon is told when the store goes away or comes back."""

    available: bool
    problem: str = ""
    first_open: bool = False  # the store became usable for the first time since start
    recovered: dict[str, Any] | None = None  # what the store_recovered row says


@dataclass(eq=False)
class _Job:
    change: Callable[[Store], Any]
    future: asyncio.Future[Any]
    keep: bool
    droppable: bool


class StoreWriter:
    """Owns the store's write connection and the thread that uses it."""

    def __init__(self, path: Path | None, now: Callable[[], datetime],
                 on_state: Callable[[StoreState], None] | None = None) -> None:
        self.path = path
        self.now = now
        self.on_state = on_state
        # Loop-side view, updated through call_soon_threadsafe.
        self.available = False
        self.problem = "the store has not been opened yet"
        self.dropped = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._store: Store | None = None
        self._cond = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._down_since: float | None = None
        self._down_problem = ""
        self._ever_open = False
        self._note: dict[str, Any] | None = None  # a store_recovered row still to write
        self._stopping = False
        self._abandon = False
        self._backoff = BACKOFF_FIRST_S
        self._wake = threading.Event()  # set to cut a backoff short: shutting down
        self._fatal: StoreVersionError | None = None
        self._thread: threading.Thread | None = None
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="store-read")
        self._reader_store: Store | None = None
        self._probe: int | None = None  # a descriptor on the open store file (files.probe)
        self._maintenance = ThreadPoolExecutor(1, thread_name_prefix="store-maint")

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> bool:
        """Start the thread and open the store once; True when it is usable."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()
        with contextlib.suppress(StoreUnavailable):
            await self.submit(lambda store: None)
        if self._fatal is not None:
            await self.close(wait_s=0)
            raise self._fatal
        return self.available

    async def close(self, wait_s: float = 5.0) -> None:
        """Write what is queued (waiting at most ``wait_s`` while unavailable), then close."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join, wait_s)
            if thread.is_alive():
                with self._cond:
                    lost = sum(1 for job in self._queue if job.keep)
                    self._abandon = True
                    self._cond.notify_all()
                self._wake.set()
                log.error("the store stayed unavailable (%s): %d change(s) could not be "
                          "written", self._down_problem, lost)
                await asyncio.get_running_loop().run_in_executor(None, thread.join)
        await asyncio.get_running_loop().run_in_executor(self._reader, self._close_reader)
        self._reader.shutdown()
        self._maintenance.shutdown()

    # -- submitting -------------------------------------------------------------------
    def submit(self, change: Callable[[Store], T], *, keep: bool = False,
               droppable: bool = False) -> asyncio.Future[T]:
        """Queue one transaction; ``keep``: while the store is unavailable, hold it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._cond:
            refused = None
            if self._stopping:
                refused = "the daemon is shutting down"
            elif self._down_since is not None and not keep:
                refused = self._down_problem
            elif self._down_since is not None and droppable and len(self._queue) >= MAX_KEPT:
                self.dropped += 1
                refused = self._down_problem
            if refused is not None:
                future.set_exception(StoreUnavailable(refused))
                future.exception()  # a caller that does not wait must not warn
                return future
            self._queue.append(_Job(change, future, keep, droppable))
            self._cond.notify()
        return future

    def keep(self, change: Callable[[Store], Any], *, droppable: bool = False) -> None:
        """Fire and forget a change that must be written, now or when the store returns."""
        future = self.submit(change, keep=True, droppable=droppable)
        future.add_done_callback(_log_failure)

    def check(self) -> None:
        """Cheap, on the loop: if the file was deleted or replaced, heal it now (damage in
        place is found by the writer before its next transaction)."""
        store = self._store
        if store is not None and store.db.path is not None and \
                files.identity(store.db.path) != store.db.identity:
            self.keep(lambda s: None)

    # -- reads and maintenance, off the loop, on their own connections ---------------
    async def read(self, query: Callable[[Store], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self._read, query)

    async def maintain(self, task: Callable[[Store], T], *, write: bool = False) -> T:
        """Run a long task (verify, backup, prune) on a connection of its own."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._maintenance, self._maintain, task, write)

    async def verify(self) -> VerifyResult:
        """The audit chain checked in a process of its own (see ``verify_job``)."""
        if self.path is None:
            return await self.maintain(lambda store: store.verify_audit())
        if self._store is not None and (problem := self._store.db.problem()) is not None:
            raise StoreUnavailable(problem)
        # subprocess.run on a thread: it waits for its own child even if a subreaper
        # reaped it first (asyncio's child watchers would not).
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "shepherd.store.verify_job", str(self.path)],
            capture_output=True, text=True, check=False)
        try:
            answer = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise StoreUnavailable(f"the audit check did not finish: {done.stderr.strip()}"
                                   ) from None
        if "error" in answer:
            raise StoreUnavailable(str(answer["error"]))
        return VerifyResult(**answer)

    def _read(self, query: Callable[[Store], T]) -> T:
        store = self._reader_store
        if store is not None and store.db.problem() is not None:
            self._close_reader()
            store = None
        if store is None:
            store = self._side_store(write=False)
            self._reader_store = store
        try:
            return query(store)
        except Exception as exc:
            if is_transient(exc):
                self._close_reader()
                raise StoreUnavailable(describe(exc)) from None
            raise

    def _close_reader(self) -> None:
        if self._reader_store is not None:
            with contextlib.suppress(apsw.Error):
                self._reader_store.close(clean=False)
            self._reader_store = None

    def _maintain(self, task: Callable[[Store], T], write: bool) -> T:
        store = self._side_store(write)
        try:
            return task(store)
        except Exception as exc:
            if is_transient(exc):
                raise StoreUnavailable(describe(exc)) from None
            raise
        finally:
            with contextlib.suppress(apsw.Error):
                store.close(clean=False)

    def _side_store(self, write: bool) -> Store:
        # Reads go on while writes fail (a lock, a full disk); not while the files are wrong.
        if self.path is None or self._store is None:
            raise StoreUnavailable(self._down_problem or "the store is not open")
        problem = self._store.db.problem()
        if problem is not None:
            raise StoreUnavailable(problem)
        return Store(Database.attach(self.path, readonly=not write))

    # -- the writer thread ----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue and not self._stopping:
                    # Idle: sleep until work arrives; while unavailable, wake to try again.
                    self._cond.wait(self._backoff if self._down_since is not None else None)
                if not self._queue and self._stopping:
                    break
                job = self._queue[0] if self._queue else None
            if job is None:
                if self._down_since is not None:
                    self._attempt()
                continue
            self._perform(job)
            with self._cond:
                if self._queue and self._queue[0] is job:
                    self._queue.popleft()
        if self._store is not None:
            with contextlib.suppress(apsw.Error, OSError):
                self._store.close(clean=self._down_since is None)
            self._store = None
        self._close_probe()

    def _open_probe(self) -> None:
        self._close_probe()
        if self._store is not None and self._store.db.path is not None:
            self._probe = files.probe(self._store.db.path, self._store.db.identity)

    def _close_probe(self) -> None:
        # Only ever after the connection on the same file closed (see files.probe).
        if self._probe is not None:
            with contextlib.suppress(OSError):
                os.close(self._probe)
            self._probe = None

    def _attempt(self) -> str | None:
        problem = self._usable()
        if problem is None:
            self._backoff = BACKOFF_FIRST_S
        else:
            self._mark_down(problem)
            self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)
        return problem

    def _perform(self, job: _Job) -> None:
        rebuilt = False  # once per change: a change that finds damage again is not retried
        while True:
            problem = self._attempt()
            if problem is None:
                try:
                    result = job.change(self._store)  # type: ignore[arg-type]
                except DAMAGE_ERRORS as exc:  # a page the file lost: rebuild, then try again
                    problem = f"SQLite found it damaged ({exc})"
                    if not rebuilt:
                        rebuilt = True
                        healed = self._heal_damage(problem)
                        if healed is None:
                            continue
                        problem = healed
                    self._mark_down(problem)
                except Exception as exc:
                    if not is_transient(exc):
                        self._resolve(job, exc)
                        return
                    problem = describe(exc)
                    self._mark_down(problem)
                else:
                    self._resolve(job, None, result)
                    return
            if not job.keep or self._abandon:
                self._resolve(job, StoreUnavailable(problem))
                return
            self._wake.wait(self._backoff)

    def _usable(self) -> str | None:
        """None when the store can take a transaction now; otherwise why not."""
        first = not self._ever_open
        if self._store is None:
            try:
                self._store = Store.open(self.path, self.now())
                self._open_probe()
            except StoreVersionError as exc:
                self._fatal = exc
                return str(exc)
            except (StoreError, apsw.Error, OSError) as exc:
                return describe(exc)
            self._ever_open = True
        db = self._store.db
        if db.path is not None and files.identity(db.path) != db.identity:
            try:
                self._rescue()
            except (StoreError, apsw.Error, OSError) as exc:
                return f"the store file is gone and could not be recreated: {describe(exc)}"
        elif self._probe is not None and (damage := files.damage(self._probe)) is not None:
            problem = self._heal_damage(damage)
            if problem is not None:
                return problem
        problem = self._store.db.problem() if self._store is not None else "no store"
        if problem is not None:
            return problem
        if self._down_since is not None or self._note is not None or (first and self._ever_open):
            return self._recovered(first)
        return None

    def _heal_damage(self, damage: str) -> str | None:
        """The file was damaged in place: rebuild it from the open copy; None when done."""
        assert self.path is not None
        why = f"{self.path} was damaged while the daemon ran: {damage}"
        try:
            self._rescue(why, label="damaged")
        except (StoreError, apsw.Error, OSError) as exc:
            log.error("%s; the daemon's copy cannot replace it: %s", why, describe(exc))
            return (f"{why}, and the daemon's copy is incomplete ({describe(exc)}); launches "
                    "are denied until a backup is put in its place or the daemon is restarted "
                    "(which moves the damaged file aside and starts a fresh store)")
        return None

    def _rescue(self, why: str | None = None, label: str = "replaced") -> None:
        """The path lost our file: put the open copy back, move any stranger aside."""
        assert self._store is not None and self.path is not None
        path = self.path
        gone = not path.exists()
        why = why or f"{path} was {'deleted' if gone else 'replaced'} while the daemon ran"
        rescue = files.side_file(path, f".rescue-{files.stamp()}")
        try:
            copy = apsw.Connection(str(rescue))
            try:
                with copy.backup("main", self._store.db.conn, "main") as backup:
                    backup.step(-1)
                _check_copy(copy)
            finally:
                copy.close()
        except BaseException:
            rescue.unlink(missing_ok=True)  # our own half-made copy, never the store
            raise
        self._store.close(clean=False)
        self._store = None
        self._close_probe()
        # The side files at the path were our connection's: set them aside on their own, so
        # neither our copy nor a stranger's file is ever read with a WAL not its own.
        stale = path.with_name(f"{path.name}.stale-{files.stamp()}")
        for suffix in files.SIDE_SUFFIXES:
            with contextlib.suppress(FileNotFoundError):
                os.replace(files.side_file(path, suffix), files.side_file(stale, suffix))
        moved = None if gone else files.move_aside(path, why, label=label)
        os.replace(rescue, path)
        files.sync_directory(path.parent)
        self._store = Store.open(path, check=False)
        self._open_probe()
        log.error("%s: recreated it from the daemon's open copy", why)
        self._note = {"problem": why, "action": "recreated from the daemon's open copy",
                      "moved_to": moved.moved_to if moved else None}

    def _recovered(self, first: bool) -> str | None:
        """Write the ``store_recovered`` row (or nothing, at a first clean open); tell the loop."""
        assert self._store is not None
        note = self._note or {}
        if self._down_since is not None:
            note = {**note, "problem": note.get("problem", self._down_problem),
                    "unavailable_s": round(time.monotonic() - self._down_since, 1),
                    "kept_changes": len(self._queue)}
        if note:
            try:
                self._store.audit(self.now(), "store_recovered", note)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                return describe(exc)
            log.warning("store available again: %s", note)
        self._note = None
        with self._cond:
            self._down_since = None
        self._report(StoreState(True, "", first_open=first, recovered=note or None))
        return None

    def _mark_down(self, problem: str) -> None:
        with self._cond:
            changed = self._down_since is None or problem != self._down_problem
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.error("store unavailable, launches are denied until it returns: %s",
                          problem)
            self._down_problem = problem
            # Changes that must not wait fail now; the one in hand is answered by the caller.
            waiting = [job for job in list(self._queue)[1:] if not job.keep]
            for job in waiting:
                self._queue.remove(job)
        for job in waiting:
            self._resolve(job, StoreUnavailable(problem))
        if changed:
            self._report(StoreState(False, problem))

    # -- talking to the loop ------------------------------------------------------------
    def _report(self, state: StoreState) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(self._apply_state, state)

    def _apply_state(self, state: StoreState) -> None:
        self.available = state.available
        self.problem = state.problem
        if self.on_state is not None:
            self.on_state(state)

    def _resolve(self, job: _Job, exc: BaseException | None, result: Any = None) -> None:
        def settle() -> None:
            if job.future.done():
                return
            if exc is not None:
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)

        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(settle)


def _check_copy(copy: apsw.Connection) -> None:
    """A rebuilt store must be whole before it takes the path: intact pages, the schema this
    daemon writes, and an audit trail (a copy of a file read as empty would pass the rest)."""
    rows = [str(r[0]) for r in copy.execute("PRAGMA quick_check")]
    if rows != ["ok"]:
        raise StoreError("integrity check failed: " + "; ".join(rows[:3]))
    version = int(copy.pragma("user_version"))
    if version != SCHEMA_VERSION:
        raise StoreError(f"the copy has schema version {version}, not {SCHEMA_VERSION}")
    if not copy.execute("SELECT 1 FROM audit LIMIT 1").get:
        raise StoreError("the copy holds no audit trail")


def _log_failure(future: asyncio.Future[Any]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None and not isinstance(exc, StoreUnavailable):
        log.error("a store change failed: %s", exc, exc_info=exc)
    elif exc is not None:
        log.warning("a change was not written: %s", exc)
