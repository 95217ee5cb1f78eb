"""Opening the SQLite file safely: pragmas, transactions, bad-file recovery.

- WAL, ``synchronous=FULL``, a busy timeout, foreign keys.
- Every write goes through ``Database.write()``: ``BEGIN IMMEDIATE`` takes the
  write lock up front, so a read-then-write never works from a stale read.
- A file is moved aside (timestamped; a fresh file is created and the caller
  audits it) only when SQLite itself cannot open or verify it: empty, not
  SQLite at all, or failing ``PRAGMA quick_check`` with its WAL applied. A
  header that merely looks short is checked by SQLite first, because the WAL
  may hold the rest (a checkpoint cut short by a full disk).
- A file that is locked, read-only, or on a full disk is never moved aside:
  that is ``StoreUnavailable``, and the caller tries again later.
- The full integrity check is linear in the file, so it runs only when the last
  shutdown was not clean: a clean close leaves a marker recording the file's
  size and modification time, and anything else (a crash, an edit while we were
  stopped) triggers ``PRAGMA quick_check``.
- The live store is opened through SQLite's ``unix-excl`` VFS: the first
  connection takes an exclusive POSIX lock on the file for the whole process,
  and the WAL index lives in this process's heap, shared by its connections
  (the writer, the reader, maintenance), instead of in a ``-shm`` file mapped
  into memory. A mapped file can fault under any write (``chattr +i`` or a
  truncation by its owner kill with SIGBUS, at any moment, so no check before
  a transaction can prevent it); heap memory cannot. The price: no other
  process can read the live store while the daemon holds it. It asks the
  daemon, or reads a copy (``open_readonly`` says so in a sentence).
- Connections of this process to the live store are made only through
  ``open``/``attach`` (never a plain ``open()`` of the file while one is open:
  closing any descriptor of the file drops every POSIX lock the process holds
  on it, and with it the exclusive hold).
- Closing never checkpoints implicitly (``NO_CKPT_ON_CLOSE``): closing is what
  we do when the files have become unwritable or someone else's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import apsw

from shepherd.store import files, salvage
from shepherd.store.files import Recovery
from shepherd.store.schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 2_000
# The live store's VFS: an exclusive hold and a WAL index in heap memory, never a mapped -shm.
LIVE_VFS = "unix-excl"
SQLITE_MAGIC = files.SQLITE_MAGIC
# Errors that say "not now" (a lock, a full disk, a read-only or vanished file), never
# "this file is bad": the store is unavailable until they pass.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    apsw.BusyError, apsw.LockedError, apsw.FullError, apsw.IOError, apsw.CantOpenError,
    apsw.ReadOnlyError, apsw.PermissionsError, apsw.ProtocolError, apsw.AuthError,
    apsw.ConnectionClosedError, apsw.NoMemError, OSError)

# A file whose pages are not a database any more (truncated, overwritten): the open
# connection may still hold what was lost, so the writer rebuilds from it.
DAMAGE_ERRORS: tuple[type[BaseException], ...] = (apsw.CorruptError, apsw.NotADBError)


class StoreError(Exception):
    """The store cannot be used; the message says why and what to do."""


class StoreVersionError(StoreError):
    """The file was written by a newer Shepherd. Never touched, never downgraded."""


class StoreUnavailable(StoreError):
    """Not now: locked, read-only, full, or gone. Worth trying again later."""


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, (StoreUnavailable, *TRANSIENT_ERRORS))


def describe(exc: BaseException) -> str:
    """A sentence for the log and ``health``: what went wrong with the store."""
    if isinstance(exc, apsw.BusyError | apsw.LockedError):
        return "the store is locked by another program"
    if isinstance(exc, apsw.FullError):
        return "the disk holding the store is full"
    if isinstance(exc, apsw.ReadOnlyError | apsw.PermissionsError):
        return "the store file cannot be written (read-only)"
    if isinstance(exc, StoreError):
        return str(exc)
    return f"the store cannot be written: {exc}"


def held_by_daemon(path: Path) -> str:
    """Why another program cannot read a live store, and what to do instead."""
    return (f"{path} is held by the running Shepherd daemon (or another program), and no "
            "other program can read it while it runs: ask the daemon instead (`shepherd "
            "audit`, `shepherd usage`, `shepherd audit verify`, without --db), or make a "
            "copy with `shepherd store backup COPY` and read the copy with --db COPY")


def _unmake(path: Path) -> None:
    """The files of a first store this open made and could not fill (a disk with no byte
    free: SQLite makes the file, then cannot write its first page), removed: the next open
    makes the store afresh, rather than find an empty file and set it aside as a damaged
    store whose books are lost (review-9-s13 L6). Only files still empty: never data."""
    for part in (path, *(files.side_file(path, suffix) for suffix in files.SIDE_SUFFIXES),
                 files.side_file(path, "-journal")):
        with contextlib.suppress(OSError):
            if part.stat().st_size == 0:
                part.unlink()


class Database:
    """One apsw connection with Shepherd's pragmas and transaction discipline."""

    def __init__(self, conn: apsw.Connection, path: Path | None, readonly: bool = False) -> None:
        self.conn = conn
        self.path = path
        self.readonly = readonly
        self.identity = files.identity(path) if path is not None else None
        self._depth = 0

    @staticmethod
    def _connect(path: Path | None, flags: int | None = None, *,
                 vfs: str = LIVE_VFS) -> apsw.Connection:
        if path is None:
            conn = apsw.Connection(":memory:")
        elif flags is None:
            conn = apsw.Connection(str(path), vfs=vfs)
        else:
            conn = apsw.Connection(str(path), flags=flags, vfs=vfs)
        conn.config(apsw.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1)
        conn.setbusytimeout(BUSY_TIMEOUT_MS)
        return conn

    @classmethod
    def open_readonly(cls, path: Path) -> Database:
        """Open a store file for review from another process: a copy, or a store at rest.

        The live store of a running daemon cannot be opened (the daemon holds it
        exclusively): that is a ``StoreUnavailable`` saying what to do instead.
        Never call this in the daemon on its own live store (see ``attach``).
        """
        if not path.exists():
            raise StoreError(f"{path}: no such store file")
        problem = files.header_problem(path)
        if problem in (files.EMPTY, files.NOT_SQLITE):
            raise StoreError(f"{path}: {problem}")
        try:
            db = cls(cls._connect(path, apsw.SQLITE_OPEN_READONLY, vfs="unix"), path,
                     readonly=True)
            version = db.schema_version
        except (apsw.BusyError, apsw.LockedError):
            raise StoreUnavailable(held_by_daemon(path)) from None
        except apsw.Error as exc:
            raise StoreError(f"{path}: SQLite cannot read the file: {exc}") from None
        if version != SCHEMA_VERSION:
            db.conn.close()
            newer = "newer" if version > SCHEMA_VERSION else "older"
            raise StoreVersionError(
                f"{path}: the store has schema version {version}, {newer} than this Shepherd "
                f"reads ({SCHEMA_VERSION})")
        return db

    @classmethod
    def attach(cls, path: Path, readonly: bool = False) -> Database:
        """Another connection to a store this process already has open (reads, maintenance).

        Never opens the file any other way: closing a plain file descriptor would drop
        the POSIX locks this process's connections hold on it. A reader is a read-write
        connection with ``query_only``: ``unix-excl`` keeps its exclusive hold only for
        connections that may write, and a read-only one would lock and unlock the file
        the ordinary way, under the hold.
        """
        try:
            db = cls(cls._connect(path, apsw.SQLITE_OPEN_READWRITE), path, readonly=readonly)
            db.conn.pragma("query_only", "ON" if readonly else "OFF")
            db.conn.pragma("foreign_keys", "ON")
            db.conn.pragma("synchronous", "FULL")
        except DAMAGE_ERRORS:
            raise  # not "not now": the file is damaged (the writer rebuilds it)
        except apsw.Error as exc:
            raise StoreUnavailable(f"{path}: {describe(exc)}") from None
        return db

    @classmethod
    def open(cls, path: Path | None, *, check: bool = True) -> tuple[Database, Recovery | None]:
        """Open (creating or migrating) the store; files SQLite cannot verify are moved aside.

        Raises ``StoreUnavailable`` when the file cannot be used just now (locked,
        read-only, full disk): such a file is never moved aside.
        """
        if path is None:
            db = cls(cls._connect(None), None)
            db._configure()
            db._migrate()
            return db, None
        try:
            return cls._open_file(path, check)
        except StoreError:
            raise
        except TRANSIENT_ERRORS as exc:
            raise StoreUnavailable(f"{path}: {describe(exc)}") from None

    @classmethod
    def _open_file(cls, path: Path, check: bool) -> tuple[Database, Recovery | None]:
        path.parent.mkdir(parents=True, exist_ok=True)
        recovery: Recovery | None = None
        readable = False
        if path.exists():
            problem = cls._unwritable_problem(path)
            if problem is not None:
                raise StoreUnavailable(problem)
            problem = files.header_problem(path)
            readable = problem not in (files.EMPTY, files.NOT_SQLITE)
            if problem is not None and readable:
                # Only a suspicion: let SQLite read the file with its WAL and judge.
                deep = cls._deep_problem(path, force=True)
                problem = None if deep is None else f"{problem}; {deep}"
            elif problem is None and check:
                # The whole file after an unclean shutdown; the books (cheap) always.
                problem = (cls._deep_problem(path)
                           or cls._deep_problem(path, force=True, tables=salvage.BOOKS))
            if problem is not None:
                recovery = files.move_aside(path, problem)
        made = recovery is None and not path.exists()  # a first store, made by this open
        db = cls(cls._connect(path), path)
        if db.conn.readonly("main"):
            # SQLite's silent fallback when the file may not be opened to write although
            # its mode allows it (append-only, a security module): such a connection never
            # writes, so it is not kept (review-9-s14 M3); opened again when it can be.
            db.conn.close()
            raise StoreUnavailable(f"{path}: the store file cannot be opened to write "
                                   "(append-only or refused by the system); fix it and the "
                                   "store comes back")
        try:
            db._configure()
            db._migrate()
            if recovery is not None and recovery.moved_to is not None:
                recovery = db._take_from(recovery, readable)
        except (apsw.NotADBError, apsw.CorruptError) as exc:
            db.conn.close()
            recovery = files.move_aside(path, f"SQLite refused the file: {exc}")
            db = cls(cls._connect(path), path)
            db._configure()
            db._migrate()
            if recovery.moved_to is not None:
                recovery = db._take_from(recovery, readable=True)
        except BaseException:
            db.conn.close()
            if made:
                _unmake(path)
            raise
        db.identity = files.identity(path)
        files.marker(path).unlink(missing_ok=True)  # a crash from now on is an unclean shutdown
        return db, recovery

    def _take_from(self, recovery: Recovery, readable: bool) -> Recovery:
        """Into this fresh store, what the file set aside still holds (``salvage``): a
        file that was there held the books, and what cannot be read of them is not 0."""
        assert recovery.moved_to is not None
        damaged = Path(recovery.moved_to)
        taken = (salvage.salvage(damaged, self.conn, SCHEMA_VERSION) if readable
                 else salvage.nothing_read(self.conn, damaged))
        log.error("store %s: from the damaged file, kept %s; could not read whole: %s",
                  self.path, ", ".join(taken.kept) or "nothing",
                  ", ".join(taken.lost) or "nothing")
        return dataclasses.replace(recovery, kept=taken.kept, lost=taken.lost)

    @staticmethod
    def _unwritable_problem(path: Path, held: bool = False) -> str | None:
        problem = files.unwritable(path, held)
        return None if problem is None else f"{problem}; fix it and the store comes back"

    @staticmethod
    def _deep_problem(path: Path, force: bool = False,
                      tables: tuple[str, ...] | None = None) -> str | None:
        """The integrity check, with the WAL applied: of the whole file (linear in its
        size: only after an unclean shutdown, or ``force``), or of ``tables``."""
        if not force and files.marker_matches(path):
            return None
        if tables is None:
            log.warning("store %s was not closed cleanly: running an integrity check", path)
        try:
            conn = Database._connect(path, apsw.SQLITE_OPEN_READWRITE)
            try:
                problem = salvage.page_problem(conn, tables)
            finally:
                conn.close()
        except TRANSIENT_ERRORS as exc:
            raise StoreUnavailable(f"{path}: {describe(exc)}") from None
        except apsw.Error as exc:
            return f"SQLite could not check the file: {exc}"
        return None if problem is None else f"integrity check failed: {problem}"

    def _configure(self) -> None:
        if self.path is not None:
            mode = str(self.conn.pragma("journal_mode", "wal")).lower()
            if mode != "wal":
                raise StoreError(f"cannot switch {self.path} to WAL (journal mode is {mode})")
        self.conn.pragma("synchronous", "FULL")
        self.conn.pragma("foreign_keys", "ON")

    def _migrate(self) -> None:
        version = int(self.conn.pragma("user_version"))
        if version > SCHEMA_VERSION:
            raise StoreVersionError(
                f"{self.path}: the store has schema version {version}, newer than this "
                f"Shepherd knows ({SCHEMA_VERSION}); upgrade Shepherd, or restore a backup")
        for number in range(version + 1, SCHEMA_VERSION + 1):
            with self.write():
                self.conn.execute(MIGRATIONS[number - 1])
                self.conn.pragma("user_version", number)

    @property
    def schema_version(self) -> int:
        return int(self.conn.pragma("user_version"))

    def problem(self, writing: bool = True) -> str | None:
        """Why this connection must not be touched now, or None.

        Checked before every transaction: the path must still name the file we
        opened, and (``writing``) the database and its WAL must be writable (a write
        that fails is an error SQLite returns, never a fault: there is no mapped
        ``-shm``). Files that only cannot be written can still be read (review-9-s13
        L4: reads, the audit check and a backup go on during such a fault).
        """
        if self.path is None:
            return None
        if files.identity(self.path) != self.identity:
            gone = not self.path.exists()
            return f"{self.path} was {'deleted' if gone else 'replaced'} while in use"
        if self.readonly or not writing:
            return None
        return self._unwritable_problem(self.path, held=True)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[apsw.Connection]:
        """One read transaction: every query inside sees the same moment of the store."""
        if self._depth:
            yield self.conn
            return
        self.conn.execute("BEGIN")
        self._depth = 1
        try:
            yield self.conn
        finally:
            self._depth = 0
            with contextlib.suppress(apsw.Error):
                self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def write(self) -> Iterator[apsw.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction; nested uses join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            if not self.conn.getautocommit():  # a failed COMMIT may leave it open
                with contextlib.suppress(apsw.Error):
                    self.conn.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0

    def close(self, clean: bool = True) -> None:
        """Close; after a clean run, checkpoint and leave the clean-shutdown marker.

        ``clean=False`` only lets go of the connection: nothing is written (the
        files may be unwritable, gone, or someone else's by now).
        """
        clean = clean and self.path is not None and not self.readonly and self.problem() is None
        if clean:
            with contextlib.suppress(apsw.Error):
                self.conn.pragma("wal_checkpoint", "TRUNCATE")
        self.conn.close()
        if clean and self.path is not None:
            with contextlib.suppress(OSError):
                files.write_marker(self.path)
