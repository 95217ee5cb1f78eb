"""The store's one writer: every change in order, one transaction each, off the event loop.

The daemon hands ``StoreWriter`` changes (functions of a ``StateStore``, each one
transaction); a single thread applies them in the order given and answers
through asyncio futures, so the event loop never waits on SQLite, an fsync or
a lock.

When a change fails for a reason that passes (a lock, a full disk, a read-only
file), the store is *unavailable*:

- changes submitted with ``keep=True`` (accounting, the audit trail) stay queued,
  in order, and are written when it returns;
- other changes fail at once with ``StoreUnavailable``, so their caller can
  answer that nothing changed;
- the thread tries again with backoff (0.1 s, doubling, at most 5 s); the first
  success writes a ``store_recovered`` audit row and tells the daemon.

Before every transaction the writer asks its backend (``protocol.StoreBackend``)
whether the store can be used: for an SQLite file, that the path still names
the file it opened, that neither it nor its WAL was damaged in place, and that
every store file can be written (a deleted, replaced or damaged file is
recreated from the open connection and audited, see ``sqlite_backend``); for a
household's PostgreSQL, that the connection is alive (else it connects again).
When the backend rebuilt a store damaged in place (from the open copy, or
afresh), the writer asks the daemon for its books (``memory``, read on the
loop) and writes them over it before any other change, so the time the daemon
knows of is kept.

Pages damaged in the middle of the files (sizes and headers whole) are found by
reading them again off the loop (``check_pages``: the books every ``BOOKS_CHECK_S``,
the whole file every ``WHOLE_CHECK_S``, the books before a clean close) and healed
the same way.

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
import functools
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from shepherd.store.audit import VerifyResult
from shepherd.store.connection import StoreError, StoreUnavailable, StoreVersionError
from shepherd.store.protocol import Books, StateStore, StoreBackend
from shepherd.store.sqlite_backend import (
    SqliteBackend,
    picture_places,
    picture_prefix,
    verify_job_command,
)
from shepherd.store.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0
MAX_KEPT = 10_000  # queued changes while unavailable; past it, droppable ones are refused
MEMORY_WAIT_S = 10.0  # for the daemon's books, when a store was made afresh
# How often the stored pages are read again and checked (``scrub``): the books' tables
# (a few ms), and the whole file (linear: 0.6-1.2 s at 100,000 audit rows, BENCHMARKS.md).
BOOKS_CHECK_S = 30.0
WHOLE_CHECK_S = 600.0
CHECK_ENV = "SHEPHERD_STORE_CHECK_S"  # tests: both intervals, in seconds


@dataclass(frozen=True)
class StoreState:
    """What the daemon is told when the store goes away or comes back."""

    available: bool
    problem: str = ""
    first_open: bool = False  # the store became usable for the first time since start
    recovered: dict[str, Any] | None = None  # what the store_recovered row says


@dataclass(eq=False)
class _Job:
    change: Callable[[StateStore], Any]
    future: asyncio.Future[Any]
    keep: bool
    droppable: bool
    picture: bool = False  # run on ``backend.picture()``, not on the store (``picture``)
    quiet: bool = False  # no one waits for its success: said at the loop's next wake (``keep``)


class StoreWriter:
    """Owns the store's write connection and the thread that uses it."""

    def __init__(self, backend: StoreBackend | Path | None, now: Callable[[], datetime],
                 on_state: Callable[[StoreState], None] | None = None,
                 memory: Callable[[], Books | None] | None = None) -> None:
        # A path (or None: in memory) is an SQLite store.
        self.backend: StoreBackend = (backend if backend is not None
                                      and not isinstance(backend, Path)
                                      else SqliteBackend(backend))
        self.now = now
        self.on_state = on_state
        # Called on the loop: the daemon's books (None: it holds none yet), for a fresh store.
        self.memory = memory
        self._restore_pending = False  # a fresh store still without the daemon's books
        # Loop-side view, updated through call_soon_threadsafe.
        self.available = False
        self.problem = "the store has not been opened yet"
        self.dropped = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._store: StateStore | None = None
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
        self._reader_store: StateStore | None = None
        self._maintenance = ThreadPoolExecutor(1, thread_name_prefix="store-maint")
        books_s, whole_s = _check_intervals()
        self._check_every = (books_s, whole_s)
        started = time.monotonic()  # (the books are checked at every start)
        self._next_check = (started + books_s, started + whole_s)
        self._checking = False
        self._checked: Hashable = None  # the store's fingerprint at the last page check
        self._wake_pending = False  # the writer is woken once the loop's turn is over
        # the answers of the job in hand, held to go to the loop with the check after it
        self._holding: _Job | None = None
        self._held: list[Callable[[], None]] = []
        self._held_loud = False  # of those, one the loop must hear now (a failure)
        # answers no one waits for, taken by the loop when it next wakes (``take_later``)
        self._later: list[Callable[[], None]] = []

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> bool:
        """Start the thread and open the store once; True when it is usable."""
        self._loop = asyncio.get_running_loop()
        if self.path is not None:  # copies an audit check left behind when we crashed
            prefix = picture_prefix(self.path)  # (left by a kill during a read)
            stale_copies = [*self.path.parent.glob(f"{self._verify_prefix}*"),
                            *(stale for place in picture_places(self.path)
                              for stale in place.glob(f"{prefix}*"))]
            for stale in stale_copies:
                await asyncio.to_thread(shutil.rmtree, stale, True)
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
        self.take_later()

    # -- submitting -------------------------------------------------------------------
    def submit(self, change: Callable[[StateStore], T], *, keep: bool = False,
               droppable: bool = False, quiet: bool = False) -> asyncio.Future[T]:
        """Queue one transaction; ``keep``: while the store is unavailable, hold it;
        ``quiet``: its success is said to the loop when the loop next wakes, not at once
        (a failure is said at once)."""
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
            self._queue.append(_Job(change, future, keep, droppable, quiet=quiet))
        self._wake_writer(loop)
        return future

    def _wake_writer(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake the writer's thread once the loop has run what it was running: woken at
        once, it waited for the interpreter's lock while the loop went on, and the two
        handed it back and forth (an idle daemon's one write every ten minutes woke them
        8 times, issue 13). The jobs queued meanwhile go together."""
        if not self._wake_pending:
            self._wake_pending = True
            loop.call_soon(self._notify_writer)

    def _notify_writer(self) -> None:
        self._wake_pending = False
        with self._cond:
            self._cond.notify()

    def picture(self, query: Callable[[StateStore], T]) -> asyncio.Future[T]:
        """``query`` on the store as last written while it cannot be opened to write
        (``StoreBackend.picture``: for an SQLite file, a private copy), on the writer's
        thread, so that no connection of this process is open on the file meanwhile
        (when the writer holds it open after all, through its connection).
        ``StoreUnavailable`` when it cannot be read this way either."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        with self._cond:  # kept in the queue by a fault (``_mark_down``), never refused
            self._queue.append(_Job(query, future, keep=True, droppable=False, picture=True))
            self._cond.notify()
        return future

    def keep(self, change: Callable[[StateStore], Any], *, droppable: bool = False,
             quiet: bool = False) -> asyncio.Future[Any]:
        """A change that must be written, now or when the store returns (its failure is
        said in the log; the future, for whoever wants to know when it was written).
        ``quiet``: no one waits for it, so its success wakes no one (an idle daemon's
        trusted time, written every ten minutes, woke the loop for nothing: issue 13);
        the loop takes it at its next wake (``take_later``)."""
        future = self.submit(change, keep=True, droppable=droppable, quiet=quiet)
        future.add_done_callback(_log_failure)
        return future

    def check(self) -> None:
        """Cheap, on the loop (at each of the daemon's ticks): the answers no one waited
        for; if the file was deleted or replaced, heal it now; when a check of the stored
        pages is due, start it off the loop."""
        self.take_later()
        store = self._store
        if store is not None and self.backend.moved(store):
            self.keep(lambda s: None)
        self.check_pages()

    def check_pages(self, *, books_now: bool = False) -> None:
        """Cheap, on the loop (at each of the daemon's ticks): damage in the middle of a
        file (sizes and headers whole) is seen by nothing else until SQLite happens to
        read the page, so the pages are read again off the loop, every ``BOOKS_CHECK_S``
        the books', every ``WHOLE_CHECK_S`` all of them. (The books' check is mostly made
        by the writer's thread, right after the write that changed them: ``_check_after_write``.)
        ``books_now``: the books' pages now if anything wrote them since they were last
        read (the daemon, once its start's writes are done: at its first tick, a minute
        in, the check cost an idle daemon 3 to 12 wake-ups, issue 13, session 26; taken
        then for a fight over the interpreter's lock with the tick, most likely reads from
        the disk of pages the machine had dropped from its cache, which is what session 27
        traced for the whole file's check: ``SqliteBackend._read_ahead``)."""
        if self._store is None or not self.available or self._stopping:
            return
        now = time.monotonic()
        with self._cond:  # (the writer's thread checks the books too)
            if self._queue:  # a write to come: the check follows it, from the writer's
                # thread (started here, the two ran side by side: 7 and 20 wake-ups at
                # an idle daemon's tick that wrote the trusted time; issue 13, session 26)
                if books_now:
                    self._next_check = (min(self._next_check[0], now), self._next_check[1])
                return
            whole = now >= self._next_check[1]
            if not self._claim_check(self._store, now, whole, due=books_now):
                return
        loop = asyncio.get_running_loop()

        def start() -> None:  # once the loop's turn is over (``_wake_writer``)
            if self._stopping:  # (its thread is let go at the close)
                with self._cond:
                    self._checking = False
                return
            self._maintenance.submit(self._check_quietly, whole, loop)

        loop.call_soon(start)

    def _claim_check(self, store: StateStore, now: float, whole: bool,
                     due: bool = False) -> bool:
        """(Under the lock.) Whether a check of the pages starts now (the books', or
        ``whole``), and if so, it is marked as running and the next one scheduled. The
        books' check waits for a change of the files: while nothing wrote them since the
        last check their pages are as read, and the check stays due (a write in flight
        is checked after it). ``due``: the books' check is due now, whenever it was due."""
        books_at, whole_at = self._next_check
        if self._checking or (not whole and not due and now < books_at):
            return False
        seen = self.backend.fingerprint(store)
        if not whole and seen is not None and seen == self._checked:
            return False
        books_s, whole_s = self._check_every
        self._next_check = (now + books_s, now + whole_s if whole else whole_at)
        self._checked = seen
        self._checking = True
        return True

    def _books_due(self) -> bool:
        """(Under the lock.) A check of the books' pages is due, none running."""
        return not self._checking and time.monotonic() >= self._next_check[0]

    def _check_after_write(self) -> Callable[[], None] | None:
        """On the writer's thread, its queue empty after a write: the books' check when
        one is due, there and then; what it found, for the loop with the write's answer
        (None: nothing checked, or nothing found). At the next tick the files are as
        checked, so an idle daemon wakes no other thread for it: the trusted time written
        every ten minutes and the check that followed at the next tick were 11 of an idle
        daemon's 21 wake-ups in ten minutes (issue 13).

        The whole file's check, when due or due within the books' interval (a tenth of its
        own at most), starts here too, on the maintenance thread (it takes long enough to
        hold up the next write): an idle daemon's one write every ten minutes carries it,
        where the tick that started it woke that thread while the loop or the write still
        ran (3 to 20 wake-ups for a 2 ms check; issue 13, session 26). Most of those waits,
        perf showed in session 27, were the check's reads from the disk, one page at a
        time, of pages the machine had dropped from its cache, not the interpreter's lock:
        the whole check now reads ahead (``SqliteBackend._read_ahead``). It checks the
        books' pages as well."""
        store = self._store
        loop = self._loop
        if store is None or self._down_since is not None or self._stopping:
            return None
        now = time.monotonic()
        with self._cond:
            books_s, whole_s = self._check_every
            whole = loop is not None and now >= self._next_check[1] - min(books_s, whole_s / 10)
            if not self._claim_check(store, now, whole=whole):
                return None
        if whole:
            assert loop is not None
            self._maintenance.submit(self._check_quietly, True, loop)
            return None
        return self._check_now(whole=False)

    def _check_now(self, whole: bool) -> Callable[[], None] | None:
        """Off the loop, a check claimed: the pages read again; what it found, for the loop
        (None: nothing, and the check is over: a clean check tells nobody, issue 13)."""
        found: str | None = None
        failed: BaseException | None = None
        try:
            found = self._scrub(whole)
        except Exception as exc:
            failed = exc
        if found is None and failed is None:
            with self._cond:
                self._checking = False
            return None
        return functools.partial(self._pages_checked, found, failed)

    def _scrub(self, whole: bool) -> str | None:
        store = self._store
        if store is None:
            return None
        try:
            return self.backend.scrub(store, whole)
        except Exception as exc:
            if isinstance(exc, StoreUnavailable) or self.backend.is_transient(exc):
                return None  # (a check cut short by a lock or a full disk proves nothing)
            raise

    def _check_quietly(self, whole: bool, loop: asyncio.AbstractEventLoop) -> None:
        """On the maintenance thread: a check of the pages; the loop hears of it only when
        it found damage or failed (a clean check woke it for nothing, issue 13)."""
        told = self._check_now(whole)
        if told is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(told)

    def _pages_checked(self, found: str | None, exc: BaseException | None) -> None:
        """On the loop: a check of the pages ended (``found``: the damage it found)."""
        with self._cond:
            self._checking = False
        if exc is not None:
            log.error("the check of the store's pages failed: %s", exc, exc_info=exc)
            return
        if found is not None:
            log.error("the store's pages are damaged (%s): it is rebuilt before the next "
                      "change, with the daemon's books", found)
            self.keep(lambda s: None)  # the writer heals before it

    # -- reads and maintenance, off the loop, on their own connections ---------------
    async def read(self, query: Callable[[StateStore], T]) -> T:
        if self._unopened():
            return await self.picture(query)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self._read, query)

    async def maintain(self, task: Callable[[StateStore], T], *, write: bool = False) -> T:
        """Run a long task (verify, backup, prune) on a connection of its own."""
        if not write and self._unopened():
            return await self.picture(task)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._maintenance, self._maintain, task, write)

    def _unopened(self) -> bool:
        """The writer holds no connection: the store could not be opened (a start while
        its files cannot be written, another program holds it). Reads, the audit check
        and a backup then go on from the store as last written (``picture``: for an
        SQLite file, a copy made on the writer's thread), not refused as a store that
        cannot be read where only writing fails (review-9-s14b L-F). (SQLite opens a
        file in WAL mode to read only with a ``-shm`` it maps, which the daemon never
        does, and cannot make in a directory that cannot be written.)"""
        return (self._store is None and self.path is not None and self._thread is not None
                and not self._stopping)

    @property
    def path(self) -> Path | None:
        """The SQLite file (None: in memory, or a household store)."""
        return self.backend.path if isinstance(self.backend, SqliteBackend) else None

    @property
    def _verify_prefix(self) -> str:
        assert self.path is not None
        return f".{self.path.name}.verify-"

    async def verify(self) -> VerifyResult:
        """The audit chain checked in a process of its own (see ``verify_job``).

        An SQLite store cannot be opened by that process (this one holds it
        exclusively): it checks a consistent copy made here, off the loop, in a
        private directory (``_copy_to_check``), removed afterwards.
        """
        command = self.backend.verify_command()
        if command is None:
            return await self.maintain(lambda store: store.verify_audit())
        place: Path | None = None  # (a store that cannot be read: ``maintain`` says so)
        try:
            if self.path is not None:
                place = await self._copy_to_check()
                command = verify_job_command(place / self.path.name)
            # subprocess.run on a thread: it waits for its own child even if a subreaper
            # reaped it first (asyncio's child watchers would not).
            done = await asyncio.to_thread(subprocess.run, command, capture_output=True,
                                           text=True, check=False)
        finally:
            if place is not None:
                await asyncio.to_thread(shutil.rmtree, place, True)
        try:
            answer = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise StoreUnavailable(f"the audit check did not finish: {done.stderr.strip()}"
                                   ) from None
        if "error" in answer:
            raise StoreUnavailable(str(answer["error"]))
        return VerifyResult(**answer)

    async def _copy_to_check(self) -> Path:
        """A private directory holding a copy of the store for the audit check: beside the
        store, else where a picture is made (``picture_places``: a file system gone
        read-only, or no room beside the store). ``StoreUnavailable`` when the store
        cannot be read; naming each place's trouble when no copy can be written."""
        assert self.path is not None
        path = self.path
        problems: list[str] = []
        places = [(path.parent, self._verify_prefix),  # (elsewhere, named for this store:
                  *((where, picture_prefix(path))  # removed at the next start as a picture)
                    for where in picture_places(path)[1:])]
        for where, prefix in places:
            try:
                place = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=prefix,
                                                     dir=where))
            except OSError as exc:
                problems.append(f"{where}: {exc.strerror}")
                continue
            try:
                await self.maintain(functools.partial(_copy_for_check, place / path.name))
            except StoreUnavailable:
                await asyncio.to_thread(shutil.rmtree, place, True)
                raise
            except StoreError as exc:  # no room there for the copy
                await asyncio.to_thread(shutil.rmtree, place, True)
                problems.append(str(exc))
                continue
            return place
        raise StoreUnavailable("no copy of the store can be written to check it ("
                               + "; ".join(problems) + ")")

    def _read(self, query: Callable[[StateStore], T]) -> T:
        """A read on the reads' own connection; one that worked before and fails now
        (the server restarted, a link dropped meanwhile) is tried once on a new one."""
        while True:
            store = self._reader_store
            if store is not None and self.backend.problem(store) is not None:
                self._close_reader()
                store = None
            reused = store is not None
            if store is None:
                store = self._side_store(write=False)
                self._reader_store = store
            try:
                with self.backend.bounded(store):
                    return query(store)
            except Exception as exc:
                if not self.backend.is_transient(exc):
                    raise
                self._close_reader()
                if not reused or isinstance(exc, StoreUnavailable):  # (not after a wait)
                    raise StoreUnavailable(self.backend.describe(exc)) from None

    def _close_reader(self) -> None:
        if self._reader_store is not None:
            with contextlib.suppress(Exception):
                self._reader_store.close(clean=False)
            self._reader_store = None

    def _maintain(self, task: Callable[[StateStore], T], write: bool) -> T:
        store = self._side_store(write)
        try:
            with self.backend.bounded(store, maintenance=True):
                return task(store)
        except Exception as exc:
            if self.backend.is_transient(exc):
                raise StoreUnavailable(self.backend.describe(exc)) from None
            raise
        finally:
            with contextlib.suppress(Exception):
                store.close(clean=False)

    def _side_store(self, write: bool) -> StateStore:
        if self._store is None:
            raise StoreUnavailable(self._down_problem or "the store is not open")
        try:
            return self.backend.side(self._store, write)
        except StoreUnavailable:
            raise
        except Exception as exc:
            if self.backend.is_transient(exc):
                raise StoreUnavailable(self.backend.describe(exc)) from None
            raise

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
            # the last job queued, a check of the books' pages due: its answer waits for
            # the check, so that the loop is woken once for both
            with self._cond:
                self._holding = job if len(self._queue) == 1 and self._books_due() else None
                self._held_loud = False
            try:
                if job.picture:
                    self._look(job)
                else:
                    self._perform(job)
                with self._cond:
                    if self._queue and self._queue[0] is job:
                        self._queue.popleft()
                    idle = not self._queue
                checked = self._check_after_write() if idle and not job.picture else None
            finally:
                with self._cond:
                    held, self._held, self._holding = self._held, [], None
                quiet = job.quiet and not self._held_loud and checked is None
                self._to_loop([*held, *([checked] if checked is not None else [])], quiet)
        if self._store is not None and self._down_since is None:
            # A last look before a clean close, which checkpoints the WAL into the file
            # and marks it as needing no check: damage found now (the books' pages read
            # again, too) is healed first, while the daemon still holds its books.
            with contextlib.suppress(Exception):
                self.backend.scrub(self._store, whole=False)
            with contextlib.suppress(Exception):
                self._attempt()
        if self._store is not None:
            with contextlib.suppress(Exception):
                self.backend.close(self._store, clean=self._down_since is None)
            self._store = None
        self.backend.drop_picture()

    def _attempt(self) -> str | None:
        problem = self._usable()
        if problem is None:
            self._backoff = BACKOFF_FIRST_S
        else:
            self._mark_down(problem)
            self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)
        return problem

    def _perform(self, job: _Job) -> None:
        while True:
            problem = self._attempt()
            if problem is None:
                try:
                    with self.backend.bounded(self._store):  # type: ignore[arg-type]
                        result = job.change(self._store)  # type: ignore[arg-type]
                except Exception as exc:
                    if not self.backend.is_transient(exc):
                        self._resolve(job, exc)
                        return
                    problem = self.backend.describe(exc)
                    self._mark_down(problem)
                else:
                    self._resolve(job, None, result)
                    return
            if not job.keep or self._abandon:
                self._resolve(job, StoreUnavailable(problem))
                return
            self._pause()

    def _pause(self) -> None:
        """The backoff before a change that waits for the store is tried again; reads of
        the store as last written (``picture``) queued behind it are answered meanwhile,
        not once the store returns."""
        until = time.monotonic() + self._backoff
        while not self._wake.is_set():
            with self._cond:
                looks = [job for job in list(self._queue)[1:] if job.picture]
                for job in looks:
                    self._queue.remove(job)
                left = until - time.monotonic()
                if not looks:
                    if left <= 0 or self._abandon:
                        return
                    self._cond.wait(left)
                    continue
            for job in looks:
                self._look(job)

    def _look(self, job: _Job) -> None:
        """A ``picture`` job: the store as last written. Open here (it opened, but cannot
        take a transaction yet): read through the writer's own connection; else a copy."""
        try:
            if self._store is not None:
                with self.backend.bounded(self._store):
                    result = job.change(self._store)
            else:
                with self.backend.picture() as store:
                    result = job.change(store)
        except StoreUnavailable as exc:  # (no copy could be read: said by ``picture``)
            self._resolve(job, exc)
            return
        except Exception as exc:  # a StoreError of the query's own passes as it is (a
            if not self.backend.is_transient(exc):  # backup's target that cannot be
                self._resolve(job, exc)  # written is not a store that cannot be read)
                return
            self._resolve(job, StoreUnavailable(self.backend.describe(exc)))
            return
        self._resolve(job, None, result)

    def _usable(self) -> str | None:
        """None when the store can take a transaction now; otherwise why not."""
        first = not self._ever_open
        if self._store is None:
            try:
                self._store = self.backend.open(self.now())
            except StoreVersionError as exc:
                self._fatal = exc
                return str(exc)
            except Exception as exc:
                if not (isinstance(exc, StoreError) or self.backend.is_transient(exc)):
                    raise
                return self.backend.describe(exc)
            self._ever_open = True
        prepared = self.backend.prepare(self._store)
        self._store = prepared.store
        if prepared.note is not None:
            self._note = prepared.note
        self._restore_pending = self._restore_pending or prepared.fresh
        if prepared.problem is not None:
            return prepared.problem
        if self._store is None:
            return "the store is not open"
        if self._restore_pending:
            problem = self._restore()
            if problem is not None:
                return problem
        if self._down_since is not None or self._note is not None or (first and self._ever_open):
            return self._recovered(first)
        return None

    def _restore(self) -> str | None:
        """Write the daemon's books into a store made afresh; None when done."""
        assert self._store is not None
        try:
            books = self._from_loop()
        except Exception as exc:
            return f"the daemon's books could not be read for the new store: {exc}"
        if books is not None:
            restore = getattr(self._store, "restore_books", None)
            if restore is None:
                return "this store cannot take the daemon's books"
            try:
                restore(self.now(), books)
            except Exception as exc:
                if not self.backend.is_transient(exc):
                    # not worth waiting for, but never the end of this thread (it ended,
                    # and every change after waited for ever: review-15-s22 F0): the store
                    # stays unavailable, launches refused, and it is tried again
                    log.exception("the daemon's books could not be written into the new "
                                  "store")
                    return f"the daemon's books could not be written into the new store: {exc}"
                return self.backend.describe(exc)
            log.warning("the daemon's books were written into the new store: %d day(s) of "
                        "use, %d running session(s)", len({k[2] for k in books.accounting.usage}),
                        len(books.sessions))
            if self._note is not None:
                self._note = {**self._note, "sessions_kept": len(books.sessions)}
        self._restore_pending = False
        return None

    def _from_loop(self) -> Books | None:
        """The daemon's books, read on the loop (this thread waits; the loop never waits
        on this thread, so this cannot deadlock)."""
        if self.memory is None or self._loop is None:
            return None
        memory = self.memory
        answer: Future[Books | None] = Future()

        def read() -> None:
            try:
                answer.set_result(memory())
            except BaseException as exc:
                answer.set_exception(exc)

        try:
            self._loop.call_soon_threadsafe(read)
        except RuntimeError:  # the loop is closed: nothing in memory any more
            return None
        return answer.result(timeout=MEMORY_WAIT_S)

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
                if not self.backend.is_transient(exc):
                    raise
                return self.backend.describe(exc)
            log.warning("store available again: %s", note)
        self._note = None
        with self._cond:
            self._down_since = None
        self._report(StoreState(True, "", first_open=first, recovered=note or None))
        return None

    @property
    def down_since(self) -> float | None:
        """Since when (monotonic) the store could not be written, this run; None when it
        can, or when it never could be since the daemon started."""
        return self._down_since

    def _mark_down(self, problem: str) -> None:
        with self._cond:
            changed = self._down_since is None or problem != self._down_problem
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.error("store unavailable, launches are denied until it returns: %s",
                          problem)
            self._down_problem = problem
            # The loop hears that the store is away before any refusal for it, here or
            # ``submit``'s (which reads ``_down_since`` under this lock): an answer "cannot
            # record time right now" must never meet a daemon that calls the store fine
            # (this thread may lose the CPU between the two; CI, ci20a and s20's last).
            if changed:
                self._report(StoreState(False, problem))
            # Changes that must not wait fail now; the one in hand is answered by the caller.
            waiting = [job for job in list(self._queue)[1:] if not job.keep]
            for job in waiting:
                self._queue.remove(job)
        for job in waiting:
            self._resolve(job, StoreUnavailable(problem))

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

        with self._cond:
            if job is self._holding:  # handed over with the check that follows it
                self._held.append(settle)
                self._held_loud = self._held_loud or exc is not None
                return
        self._to_loop([settle], quiet=job.quiet and exc is None)

    def _to_loop(self, calls: list[Callable[[], None]], quiet: bool = False) -> None:
        """Run ``calls`` on the loop, in order, with one wake-up of it (``quiet``: when it
        next wakes, with the answers no one waited for before them)."""
        if not calls or self._loop is None:
            return
        with self._cond:
            if quiet:
                self._later.extend(calls)
                return
            calls, self._later = [*self._later, *calls], []

        def run_all() -> None:
            for call in calls:
                try:
                    call()
                except Exception:  # one answer's failure must not keep the others
                    log.exception("error handing the store's answers to the daemon")

        with contextlib.suppress(RuntimeError):  # the loop is closed
            self._loop.call_soon_threadsafe(run_all)

    def take_later(self) -> None:
        """On the loop: the answers no one waited for (``quiet`` changes written), in the
        order they came."""
        with self._cond:
            later, self._later = self._later, []
        for call in later:
            try:
                call()
            except Exception:
                log.exception("error handing the store's answers to the daemon")


def _check_intervals() -> tuple[float, float]:
    """How often the books' pages and the whole file are checked (``CHECK_ENV``: both)."""
    value = os.environ.get(CHECK_ENV)
    if value:
        try:
            every = float(value)
        except ValueError:
            log.warning("%s=%r is not a number of seconds: ignored", CHECK_ENV, value)
        else:
            if every > 0:
                return every, every
    return BOOKS_CHECK_S, WHOLE_CHECK_S


def _log_failure(future: asyncio.Future[Any]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None and not isinstance(exc, StoreUnavailable):
        log.error("a store change failed: %s", exc, exc_info=exc)
    elif exc is not None:
        log.warning("a change was not written: %s", exc)


def _copy_for_check(copy: Path, store: StateStore) -> None:
    _sqlite(store).copy_to(copy, durable=False)  # thrown away after one read


def _sqlite(store: StateStore) -> Store:
    assert isinstance(store, Store), "only an SQLite store is copied for the audit check"
    return store
