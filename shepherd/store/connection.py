"""Opening the SQLite file safely: pragmas, transactions, corrupt-file recovery.

- WAL, ``synchronous=FULL``, a busy timeout, foreign keys.
- Every write goes through ``Database.write()``: ``BEGIN IMMEDIATE`` takes the
  write lock up front, so a read-then-write never works from a stale read.
- A file that is not a healthy SQLite database (empty, random bytes, truncated,
  a corrupted page) is moved aside with a timestamped name and a fresh file is
  created; the caller audits what happened.
- The full integrity check is linear in the file, so it runs only when the last
  shutdown was not clean: a clean close leaves a marker recording the file's
  size and modification time, and anything else (a crash, an edit while we were
  stopped) triggers ``PRAGMA quick_check``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import apsw

from shepherd.store.schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5_000
SQLITE_MAGIC = b"SQLite format 3\x00"


class StoreError(Exception):
    """The store cannot be used; the message says why and what to do."""


class StoreVersionError(StoreError):
    """The file was written by a newer Shepherd. Never touched, never downgraded."""


@dataclass(frozen=True)
class Recovery:
    """A bad file that was moved aside, for the ``store_recovered`` audit event."""

    problem: str
    moved_to: str


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".clean")


def _header_problem(path: Path) -> str | None:
    """Cheap checks on the file header; ``None`` when it looks like a whole database."""
    size = path.stat().st_size
    if size == 0:
        return "the file is empty (zero bytes)"
    with path.open("rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        return "the file is not an SQLite database (bad header)"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65_536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return f"the header names an impossible page size ({page_size})"
    pages = int.from_bytes(header[28:32], "big")
    change_counter = int.from_bytes(header[24:28], "big")
    valid_for = int.from_bytes(header[92:96], "big")
    if pages and valid_for == change_counter and size < pages * page_size:
        return f"the file is truncated ({size} bytes, the header says {pages * page_size})"
    return None


def _move_aside(path: Path, problem: str) -> Recovery:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    _marker(path).unlink(missing_ok=True)
    log.error("store %s was unusable (%s); moved aside to %s, starting a fresh store",
              path, problem, target)
    return Recovery(problem, str(target))


class Database:
    """One apsw connection with Shepherd's pragmas and transaction discipline."""

    def __init__(self, conn: apsw.Connection, path: Path | None, readonly: bool = False) -> None:
        self.conn = conn
        self.path = path
        self.readonly = readonly
        self._depth = 0

    @classmethod
    def open_readonly(cls, path: Path) -> Database:
        """Open a store file for review (a backup, or beside a running daemon)."""
        if not path.exists():
            raise StoreError(f"{path}: no such store file")
        problem = _header_problem(path)
        if problem is not None:
            raise StoreError(f"{path}: {problem}")
        try:
            conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
            conn.setbusytimeout(BUSY_TIMEOUT_MS)
            db = cls(conn, path, readonly=True)
            version = db.schema_version
        except apsw.Error as exc:
            raise StoreError(f"{path}: SQLite cannot read the file: {exc}") from None
        if version != SCHEMA_VERSION:
            conn.close()
            newer = "newer" if version > SCHEMA_VERSION else "older"
            raise StoreVersionError(
                f"{path}: the store has schema version {version}, {newer} than this Shepherd "
                f"reads ({SCHEMA_VERSION})")
        return db

    @classmethod
    def open(cls, path: Path | None, *, check: bool = True) -> tuple[Database, Recovery | None]:
        """Open (creating or migrating) the store; bad files are moved aside."""
        if path is None:
            db = cls(apsw.Connection(":memory:"), None)
            db._configure()
            db._migrate()
            return db, None
        path.parent.mkdir(parents=True, exist_ok=True)
        recovery: Recovery | None = None
        if path.exists():
            problem = _header_problem(path)
            if problem is None and check:
                problem = cls._deep_problem(path)
            if problem is not None:
                recovery = _move_aside(path, problem)
        db = cls(apsw.Connection(str(path)), path)
        try:
            db._configure()
            db._migrate()
        except (apsw.NotADBError, apsw.CorruptError) as exc:
            db.conn.close()
            recovery = _move_aside(path, f"SQLite refused the file: {exc}")
            db = cls(apsw.Connection(str(path)), path)
            db._configure()
            db._migrate()
        _marker(path).unlink(missing_ok=True)  # a crash from now on is an unclean shutdown
        return db, recovery

    @staticmethod
    def _deep_problem(path: Path) -> str | None:
        """Run the linear integrity check only when the last shutdown was not clean."""
        marker = _marker(path)
        try:
            recorded = json.loads(marker.read_text())
            stat = path.stat()
            if recorded == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}:
                return None
        except (OSError, ValueError):
            pass
        log.warning("store %s was not closed cleanly: running an integrity check", path)
        try:
            conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READWRITE)
            try:
                conn.setbusytimeout(BUSY_TIMEOUT_MS)
                rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check")]
            finally:
                conn.close()
        except apsw.BusyError:
            raise StoreError(f"{path} is locked by another process") from None
        except (apsw.CorruptError, apsw.NotADBError) as exc:
            return f"integrity check failed: {exc}"
        except apsw.Error as exc:
            return f"SQLite could not check the file: {exc}"
        if rows != ["ok"]:
            return "integrity check failed: " + "; ".join(rows[:3])
        return None

    def _configure(self) -> None:
        self.conn.setbusytimeout(BUSY_TIMEOUT_MS)
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
        except BaseException:
            self._depth = 0
            self.conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self.conn.execute("COMMIT")

    def close(self) -> None:
        """Close and leave the clean-shutdown marker."""
        self.conn.close()
        if self.path is not None and not self.readonly and self.path.exists():
            stat = self.path.stat()
            marker = _marker(self.path)
            marker.write_text(json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}))
