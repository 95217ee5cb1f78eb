"""How the writer keeps an SQLite store file open, checked and healed (one machine).

Before every transaction the path must still name the file the writer opened,
the file and its WAL must not be damaged in place (``files.Watch``: truncated,
or overwritten with something that is not SQLite's), and every store file must
be writable. A deleted or replaced file is recreated at once from the writer's
still-open connection (nothing is lost; a replacement is moved aside, never
deleted). So is a file damaged in place, when that copy is whole (checked:
integrity, schema, audit trail), else a fresh store is made (pages the
connection never held are gone with the file); either way the writer then asks
the daemon to write its own books over it (``StoreWriter.memory``: the use of
the days it holds, grants, locks, cooldowns, the running sessions): a copy
that passes its check may still hold stale pages (a page the WAL lost is read
from the older file), and the books are what the daemon enforces. The
damaged file is moved aside, never deleted; ``store_recovered`` says what was
done. SQLite's own "malformed" or "not a database" inside a transaction is
damage too. Side connections (reads, maintenance) are attached to the same
file, never opened any other way, so the writer's POSIX locks are never dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import stat
import sys
import tempfile
import threading
from collections.abc import Hashable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

import apsw

from shepherd.store import files, salvage
from shepherd.store.connection import (
    DAMAGE_ERRORS,
    Database,
    StoreError,
    StoreUnavailable,
    describe,
    is_transient,
)
from shepherd.store.protocol import Prepared, StateStore
from shepherd.store.schema import SCHEMA_VERSION
from shepherd.store.store import Store

log = logging.getLogger(__name__)
MOVED_UNHEALED = "the store file is gone and could not be recreated: "
# Each of the daemon's connections keeps at most this much of the file in memory (SQLite's
# default is 2,000 KiB each). The books are a few pages, read at start and then held in
# memory by the daemon; audit pages walk indexes; the operating system caches the file.
CACHE_KIB = 512
PICTURE_PREFIX = ".picture-"  # a copy read while the store cannot be opened
# (``SqliteBackend.picture``), removed afterwards, and at the next start wherever it was
# made (``picture_places``: a kill during the read leaves it)


def _small_cache(store: Store) -> Store:
    store.db.conn.pragma("cache_size", -CACHE_KIB)
    return store


class SqliteBackend:
    """The embedded store: one file (or memory, ``path=None``, for tests)."""

    name = "sqlite"

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._watch: files.Watch | None = None  # on the writer's open file
        self._suspect: str | None = None  # SQLite called the file damaged in a transaction
        # The last copy read by ``picture``, while the live files stay as they were then:
        # (their stamp, its directory, it open)
        self._kept: tuple[Hashable, Path, Store] | None = None
        # The pages' checks' own connection, kept open for the writer's store it was
        # opened for (``scrub``), and the lock that keeps the two threads that check
        # (the writer's, the maintenance one) off it at once.
        self._scrub_side: tuple[Store, Store] | None = None
        self._scrub_lock = threading.Lock()

    def open(self, now: datetime) -> StateStore:
        self.drop_picture()  # open: reads go through the store itself
        try:
            store = _small_cache(Store.open(self.path, now))
        except (apsw.Error, OSError) as exc:
            raise StoreUnavailable(describe(exc)) from None
        self._start_watch(store)
        return store

    def prepare(self, store: StateStore) -> Prepared:
        assert isinstance(store, Store)
        note = None
        fresh = False
        if self.moved(store):
            try:
                store, note = self._rescue(store)
            except (StoreError, apsw.Error, OSError) as exc:
                return Prepared(None, f"{MOVED_UNHEALED}{describe(exc)}")
        elif (damage := self._damage()) is not None:
            try:
                store, note = self._heal_damage(store, damage)
            except (StoreError, apsw.Error, OSError) as exc:
                return Prepared(None, f"{damage}, and no store could be made in its place: "
                                f"{describe(exc)}")
            fresh = True  # the copy may hold stale pages too (a page read from the WAL cut
            # short comes from the older file): the daemon's books go over it either way
        problem = store.db.problem()
        if problem is not None and note is None and self.moved(store):
            # Replaced after the look above (the writer was preempted between the two, CI
            # at load 7): healed now as well, not left unavailable (launches refused,
            # health not ok) until the writer's backoff ends.
            try:
                store, note = self._rescue(store)
            except (StoreError, apsw.Error, OSError) as exc:
                return Prepared(None, f"{MOVED_UNHEALED}{describe(exc)}")
            problem = store.db.problem()
        return Prepared(store, problem, note, fresh=fresh)

    def _damage(self) -> str | None:
        """A sentence when the writer's file was damaged in place since the last look."""
        suspect, self._suspect = self._suspect, None
        found = self._watch.look() if self._watch is not None else None
        if found is None and suspect is None:
            return None
        return f"{self.path} was damaged while the daemon ran: {found or suspect}"

    def _start_watch(self, store: Store) -> None:
        self._stop_watch()
        if store.db.path is not None:
            fd = files.probe(store.db.path, store.db.identity)
            if fd is not None:
                self._watch = files.Watch(store.db.path, fd)
                self._watch.look()

    def _stop_watch(self) -> None:
        # Only ever after the connection on the same file closed (see files.probe).
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def close(self, store: StateStore, clean: bool) -> None:
        """Close the writer's store; a clean close only after a last look for damage (a
        clean close checkpoints the WAL into the file and marks it as not to be checked)."""
        assert isinstance(store, Store)
        if clean and self._watch is not None and self._watch.look() is not None:
            clean = False
        with self._scrub_lock:
            self._drop_scrub_side()
        try:
            store.close(clean=clean)
        finally:
            self._stop_watch()

    def moved(self, store: StateStore) -> bool:
        assert isinstance(store, Store)
        return store.db.path is not None and files.identity(store.db.path) != store.db.identity

    @contextlib.contextmanager
    def picture(self) -> Iterator[StateStore]:
        """The store as its files stand, when it cannot be opened to write (another
        program holds it, its files are read-only): a private copy of the file and its
        WAL, opened and checked (SQLite applies the WAL to it), removed afterwards.

        Only while no connection of this process is open on the file (the writer's
        thread, its store not open): closing the descriptor the copy was read through
        drops every POSIX lock this process holds on the file. A copy made while
        another program writes may be torn: it must pass SQLite's check, and is never
        taken whole when it does not. ``StoreUnavailable`` when no copy can be read.
        """
        if self.path is None:
            raise StoreUnavailable("the store is in memory")
        # Taken before the copy: a change while it is made gives the next read a new one.
        stamp = self._live_stamp()
        if self._kept is not None and stamp is not None and self._kept[0] == stamp:
            yield self._kept[2]  # nothing changed the files since it was copied (reads15)
            return
        self.drop_picture()
        problems: list[str] = []
        prefix = picture_prefix(self.path)
        for where in picture_places(self.path):
            place: Path | None = None
            try:
                place = Path(tempfile.mkdtemp(prefix=prefix, dir=where))
                copy = place / self.path.name
                # The WAL first: a checkpoint between the two copies leaves the file's
                # copy newer, and the WAL's frames the same pages again. (Two checkpoints
                # and commits between them could mix versions: SQLite's check below.)
                wal = Path(f"{self.path}-wal")
                if wal.exists():
                    shutil.copyfile(wal, f"{copy}-wal")
                shutil.copyfile(self.path, copy)
                store = Store.open(copy)
            except (OSError, StoreError, apsw.Error) as exc:
                problems.append(f"{where}: {describe(exc)}")
                if place is not None:
                    shutil.rmtree(place, ignore_errors=True)
                continue
            if store.recovery is not None:  # SQLite could not verify the copy
                with contextlib.suppress(Exception):
                    store.close(clean=False)
                shutil.rmtree(place, ignore_errors=True)
                raise StoreUnavailable(f"a copy of {self.path} could not be read whole: "
                                       f"{store.recovery.problem}")
            # Kept for the next read while the files stay as they are: a TUI's refresh
            # during a long fault copies nothing, nor checks the copy again (reads15).
            self._kept = (stamp, place, store) if stamp is not None else None
            try:
                yield store
            finally:
                if self._kept is None:
                    self._forget(place, store)
            return
        raise StoreUnavailable(f"{self.path} could not be copied to be read ("
                               + "; ".join(problems) + ")")

    def drop_picture(self) -> None:
        """Remove the copy ``picture`` kept (the store opened, or the writer stops)."""
        kept, self._kept = self._kept, None
        if kept is not None:
            self._forget(kept[1], kept[2])

    @staticmethod
    def _forget(place: Path, store: Store) -> None:
        with contextlib.suppress(Exception):
            store.close(clean=False)
        shutil.rmtree(place, ignore_errors=True)

    def _live_stamp(self) -> Hashable:
        """What every change of the live file or its WAL moves (any writer's: identity,
        size, change and modification times; the WAL's absence too). None: not known."""
        assert self.path is not None
        stamps: list[tuple[int, int, int, int] | None] = []
        for name in (self.path, Path(f"{self.path}-wal")):
            try:
                st = os.stat(name)
            except FileNotFoundError:
                if name == self.path:
                    return None
                stamps.append(None)
            except OSError:
                return None
            else:
                stamps.append((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        return tuple(stamps)

    def side(self, store: StateStore | None, write: bool) -> StateStore:
        # Reads go on while writes fail (a lock, a full disk, files that cannot be written);
        # not while the files are wrong.
        if self.path is None or store is None:
            raise StoreUnavailable("the store is not open")
        assert isinstance(store, Store)
        problem = store.db.problem(writing=write)
        if problem is not None:
            raise StoreUnavailable(problem)
        return _small_cache(Store(Database.attach(self.path, readonly=not write)))

    def scrub(self, store: StateStore, whole: bool) -> str | None:
        """Read the pages again from the disk, on a side connection (its own page cache,
        emptied first: what the writer holds in memory is read afresh), and check them:
        the books' tables (cheap), or the whole file (``whole``: linear in its size).
        Damage found is a suspicion the writer heals before its next transaction; said
        here. The side connection is kept for the next check while it names the
        writer's file: an idle daemon's check on a connection opened afresh (as root,
        SQLite's open chowns the WAL) blocked its thread 3 to 14 times for a 2 ms check,
        most often right after a write; a kept one, its cache emptied, 0 (a bare script
        on this machine's disk, 6 s between writes: 0-7 against 0; issue 13, session
        26)."""
        with self._scrub_lock:
            found, kept = self._check_pages(store, whole)
            if found is not None and kept:
                # Said on the connection kept between checks: checked again on a fresh one
                # before it is taken for damage (review-14-s33 M3: once "fts5: corruption
                # found reading blob", the files set aside whole; what a kept connection
                # holds of fts5's index may be what was wrong).
                first = found
                found, _ = self._check_pages(store, whole)
                if found is None:
                    log.warning("a check of the store's pages on the connection kept for "
                                "the checks said: %s; on a fresh connection it found "
                                "nothing: not taken for damage", first)
        if found is not None:
            self._suspect = found
        return found

    def _check_pages(self, store: StateStore, whole: bool) -> tuple[str | None, bool]:
        """(Under ``_scrub_lock``.) One check (``scrub``): what it found, and whether it
        ran on the connection kept from an earlier check (dropped when it found damage)."""
        try:
            side, kept = self._scrub_side_for(store)
        except DAMAGE_ERRORS as exc:  # (its first page is read at once)
            return f"a check of its pages found damage ({exc})", False
        try:
            side.db.conn.pragma("shrink_memory")  # every page read again
            if whole:
                self._read_ahead()
            found = salvage.page_problem(side.db.conn, None if whole else salvage.BOOKS)
        except BaseException:
            self._drop_scrub_side()
            raise
        if found is not None:
            self._drop_scrub_side()
        return found, kept

    def _read_ahead(self) -> None:
        """Before a check of every page: ask the kernel to read the store's files into
        memory now, in large reads, where the check reads them one page at a time. A page
        the machine had dropped from its cache was read from the disk alone, each read a
        wait of the checking thread: an idle daemon's check ten minutes in, of a 0.5 MB
        file, waited 12 to 20 times (perf's sched_switch: ``filemap_read`` under
        ``pread64``), a bare script 97 times, and with this once at most (issue 13,
        session 27). Through the descriptors SQLite holds, found in /proc/self/fd: one of
        our own, closed after, would drop every POSIX lock this process holds on the file
        (``connection``). Advice only: a descriptor closed meanwhile, or its number
        reused, costs nothing but the advice."""
        if self.path is None or not hasattr(os, "posix_fadvise"):
            return
        wanted: set[tuple[int, int]] = set()
        for name in (self.path, Path(f"{self.path}-wal")):
            with contextlib.suppress(OSError):
                st = os.stat(name)
                wanted.add((st.st_dev, st.st_ino))
        try:
            held = os.listdir("/proc/self/fd")
        except OSError:
            return
        for entry in held:
            if not wanted:
                return
            with contextlib.suppress(OSError, ValueError):
                fd = int(entry)
                st = os.fstat(fd)
                if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) in wanted:
                    wanted.discard((st.st_dev, st.st_ino))
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)

    def _scrub_side_for(self, store: StateStore) -> tuple[Store, bool]:
        """(Under ``_scrub_lock``.) The checks' connection to the writer's ``store``: the
        one kept, while it was opened for that store and its file is still the one
        opened; else a new one. True: the one kept."""
        kept = self._scrub_side
        if kept is not None and kept[0] is store and kept[1].db.problem(writing=False) is None:
            return kept[1], True
        self._drop_scrub_side()
        side = self.side(store, write=False)
        assert isinstance(store, Store) and isinstance(side, Store)
        self._scrub_side = (store, side)
        return side, False

    def _drop_scrub_side(self) -> None:
        """(Under ``_scrub_lock``.)"""
        if self._scrub_side is not None:
            with contextlib.suppress(apsw.Error):
                self._scrub_side[1].close(clean=False)
            self._scrub_side = None

    def fingerprint(self, store: StateStore) -> Hashable:
        """The database file's and its WAL's identity, size and last change: every write
        (ours, or damage from outside) moves one of them. None when one cannot be read."""
        if self.path is None:
            return None
        try:
            # (Not the change time: a side connection's open, as root, chowns the WAL.)
            return tuple((st.st_ino, st.st_size, st.st_mtime_ns)
                         for st in (os.stat(self.path), os.stat(f"{self.path}-wal")))
        except OSError:
            return None

    def bounded(self, store: StateStore,
                maintenance: bool = False) -> AbstractContextManager[None]:
        return contextlib.nullcontext()  # a local file: SQLite's busy timeout bounds it

    def verify_command(self) -> list[str] | None:
        """The live file is held by this process alone: the writer runs this command on a
        copy of it (``StoreWriter.verify``, through ``verify_job_command``)."""
        if self.path is None:
            return None
        return verify_job_command(self.path)

    def problem(self, store: StateStore) -> str | None:
        assert isinstance(store, Store)
        return store.db.problem()

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, DAMAGE_ERRORS):  # the writer's next look rebuilds the file
            self._suspect = f"SQLite found it damaged ({exc})"
            return True
        return is_transient(exc)

    def describe(self, exc: BaseException) -> str:
        return describe(exc)

    def _heal_damage(self, store: Store, damage: str) -> tuple[Store, dict[str, object]]:
        """Damage in place: rebuilt from the open copy when it is whole, else a fresh store
        the daemon's books are written into (the note asks the writer to)."""
        try:
            store, note = self._rescue(store, damage, label="damaged")
            return store, {**note, "in_place": True}
        except (StoreError, apsw.Error, OSError) as exc:
            incomplete = describe(exc)
        assert self.path is not None
        log.error("%s; the daemon's open copy is incomplete (%s): making a fresh store for "
                  "the daemon's own books", damage, incomplete)
        store.close(clean=False)
        self._stop_watch()
        moved = self._set_aside(damage, "damaged")
        fresh = Store.open(self.path, check=False)
        self._start_watch(fresh)
        return fresh, {"problem": damage, "action": "made afresh from the daemon's books",
                       "in_place": True,
                       "incomplete_copy": incomplete,
                       "moved_to": moved.moved_to if moved else None}

    def _set_aside(self, why: str, label: str) -> files.Recovery | None:
        """The files at the path: the side files on their own (never read with a WAL not
        their own), the database under ``label``; None when it was gone."""
        assert self.path is not None
        path = self.path
        stale = path.with_name(f"{path.name}.stale-{files.stamp()}")
        for suffix in files.SIDE_SUFFIXES:
            with contextlib.suppress(FileNotFoundError):
                os.replace(files.side_file(path, suffix), files.side_file(stale, suffix))
        return files.move_aside(path, why, label=label) if path.exists() else None

    def _rescue(self, store: Store, why: str | None = None,
                label: str = "replaced") -> tuple[Store, dict[str, object]]:
        """The path lost our file (or it was damaged): put the open copy back, once it is
        checked whole; move any stranger aside."""
        assert self.path is not None
        path = self.path
        gone = not path.exists()
        why = why or f"{path} was {'deleted' if gone else 'replaced'} while the daemon ran"
        rescue = files.side_file(path, f".rescue-{files.stamp()}")
        try:
            copy = apsw.Connection(str(rescue))
            try:
                with copy.backup("main", store.db.conn, "main") as backup:
                    backup.step(-1)
                _check_copy(copy)
            finally:
                copy.close()
        except BaseException:
            rescue.unlink(missing_ok=True)  # our own half-made copy, never the store
            raise
        store.close(clean=False)
        self._stop_watch()
        moved = self._set_aside(why, label)
        os.replace(rescue, path)
        files.sync_directory(path.parent)
        healed = Store.open(path, check=False)
        self._start_watch(healed)
        # A side connection's word of damage until now was of the file set aside (a read
        # or a check met the stranger): the copy in its place was checked whole above.
        self._suspect = None
        log.error("%s: recreated it from the daemon's open copy", why)
        return healed, {"problem": why, "action": "recreated from the daemon's open copy",
                        "moved_to": moved.moved_to if moved else None}


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


def picture_places(path: Path) -> list[Path]:
    """Where a copy of the store at ``path`` is made to be read: beside it, else in the
    temporary directory ($TMPDIR as given: not ``tempfile``'s own choice, which would go
    on to the working directory)."""
    return list(dict.fromkeys([path.parent, Path(os.environ.get("TMPDIR") or "/tmp")]))


def picture_prefix(path: Path) -> str:
    """The name a copy of this store's directory begins with: its own (another store's
    copies in a shared temporary directory are never taken for it)."""
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    return f"{PICTURE_PREFIX}{path.name}-{digest}-"


def verify_job_command(path: Path) -> list[str]:
    """The audit check of an SQLite file, in a process of its own."""
    return [sys.executable, "-m", "shepherd.store.verify_job", str(path)]
