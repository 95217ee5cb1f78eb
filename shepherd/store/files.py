"""The store's files on disk: header checks, side files, identity, moving aside.

SQLite keeps a store in the database file and its write-ahead log (``-wal``).
A ``-shm`` beside them is another program's WAL index, or an older Shepherd's:
the daemon keeps its index in memory (``connection.LIVE_VFS``) and never maps,
reads or writes that file, so nothing done to it can fault the daemon; it is
only moved along with the store. This module answers questions about the
files without opening a connection:

- whether the main file's header looks like a whole database (cheap, but the
  WAL may hold newer pages, so only SQLite has the last word);
- whether the database and its WAL can be written (a write SQLite cannot make
  is an error it returns; the check saves the attempt, it guards nothing);
- whether the path still names the file a connection opened (a deleted or
  replaced file goes on accepting writes into the old inode, unnoticed);
- whether a file a connection has open was damaged in place (truncated, or
  overwritten with something that is not a database): SQLite itself would not
  notice while the pages it needs sit in its cache;
- moving a bad or foreign file aside under a timestamped name (never deleting).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
SIDE_SUFFIXES = ("-wal", "-shm")
EMPTY = "the file is empty (zero bytes)"
NOT_SQLITE = "the file is not an SQLite database (bad header)"


@dataclass(frozen=True)
class Recovery:
    """A bad file that was moved aside, or a lost file recreated, for ``store_recovered``."""

    problem: str
    moved_to: str | None
    kept: tuple[str, ...] = ()  # tables taken whole from a damaged file (``salvage``)
    lost: tuple[str, ...] = ()  # tables that could not be read whole


@dataclass(frozen=True)
class FileIdentity:
    device: int
    inode: int


def side_file(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def marker(path: Path) -> Path:
    """The clean-shutdown marker beside the store."""
    return side_file(path, ".clean")


def identity(path: Path) -> FileIdentity | None:
    """Which file the path names now; None when there is none."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return FileIdentity(stat.st_dev, stat.st_ino)


def unwritable(path: Path, held: bool = False) -> str | None:
    """A sentence naming the first store file that cannot be written, or None.

    Asked as a write would be: an open to write (never creating the file, closed at
    once). ``access`` alone says yes where the kernel refuses every such open: ext4
    gone read-only after an error (``errors=remount-ro`` leaves the mount ``rw``,
    ``emergency_ro``: review-9-s14b L-E). While this process holds the database file
    open in SQLite (``held``) only ``access`` asks of it: closing a descriptor of the
    file would drop SQLite's POSIX locks; its WAL, which carries none, is opened
    either way (and exists while a connection is open), so a file system gone
    read-only is still seen.
    """
    for candidate in (path, side_file(path, "-wal")):
        try:
            if not os.access(candidate, os.W_OK):
                if candidate.exists():
                    return f"{candidate} cannot be written (read-only or immutable)"
                if candidate == path:
                    return f"{candidate} is missing"
                continue
            if held and candidate == path:
                continue
            fd = os.open(candidate, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
            os.close(fd)
        except FileNotFoundError:
            if candidate == path:
                return f"{candidate} is missing"
        except OSError as exc:
            if exc.errno == errno.EROFS:
                return f"{candidate} cannot be written: its file system is read-only"
            if exc.errno in (errno.EACCES, errno.EPERM):
                return f"{candidate} cannot be written (read-only or immutable)"
            return f"{candidate} cannot be checked: {exc.strerror}"
    return None


def wal_has_frames(path: Path) -> bool:
    """True when a write-ahead log beside the file holds pages (a WAL header is 32 bytes)."""
    try:
        return side_file(path, "-wal").stat().st_size > 32
    except OSError:
        return False


def header_problem(path: Path) -> str | None:
    """Cheap checks on the main file's header; ``None`` when it looks like a whole database.

    A problem other than ``EMPTY`` or ``NOT_SQLITE`` is only a suspicion: pages
    the header counts may sit in the WAL (a checkpoint cut short by a full
    disk leaves exactly that), so the caller lets SQLite verify before judging.
    Never call this on a file this process has open in SQLite: closing any
    descriptor of a file drops the process's POSIX locks on it (use ``Watch``).
    """
    size = path.stat().st_size
    if size == 0:
        return EMPTY
    with path.open("rb") as handle:
        header = handle.read(100)
    return _judge(size, header)


def _judge(size: int, header: bytes) -> str | None:
    if size == 0:
        return EMPTY
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        return NOT_SQLITE
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


def probe(path: Path, expected: FileIdentity | None) -> int | None:
    """A descriptor on the store file for ``damage``, kept open as long as the connection:
    closing it while SQLite has the file open would drop SQLite's locks (``Watch``)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    stat = os.fstat(fd)
    if expected is None or FileIdentity(stat.st_dev, stat.st_ino) != expected:
        os.close(fd)  # not the file the connection has: it holds no locks of ours
        return None
    return fd


WAL_MAGICS = (0x377F0682, 0x377F0683)  # checksums in little- or big-endian words


def wal_header_problem(header: bytes) -> str | None:
    """Why 32 bytes are not a WAL header SQLite wrote (magic, version, checksum), or None."""
    if len(header) < 32:
        return "its write-ahead log is shorter than its header"
    magic = int.from_bytes(header[0:4], "big")
    if magic not in WAL_MAGICS or int.from_bytes(header[4:8], "big") != 3007000:
        return "its write-ahead log does not start as SQLite's"
    order: Literal["little", "big"] = "big" if magic & 1 else "little"
    s0 = s1 = 0
    for i in range(0, 24, 8):
        s0 = (s0 + int.from_bytes(header[i:i + 4], order) + s1) & 0xFFFFFFFF
        s1 = (s1 + int.from_bytes(header[i + 4:i + 8], order) + s0) & 0xFFFFFFFF
    if (s0, s1) != (int.from_bytes(header[24:28], "big"), int.from_bytes(header[28:32], "big")):
        return "its write-ahead log's header fails its checksum"
    return None


class Watch:
    """What the writer last saw of the store it has open, to notice damage in place.

    SQLite does not notice a file truncated or overwritten under it while its cache
    and its WAL index (in this process's memory) hold what it needs: it goes on
    writing, and a checkpoint or the next start finds the damage, when the daemon's
    memory is gone. Between two transactions of the daemon's connections the files
    only ever grow (no auto-vacuum; the WAL is reused from its start, never cut,
    until the clean close), and the WAL always starts with a header SQLite wrote.
    So: an empty file, a header that is not SQLite's, a file or WAL smaller than at
    the last look, a WAL gone or with a header that fails its checksum, is damage.
    Garbage written over pages in the middle, leaving sizes and headers alone, is
    not seen here: the writer's checks of the pages find it (``StoreWriter.check_pages``),
    or SQLite when it reads such a page (``DAMAGE_ERRORS``).

    The descriptor on the database (``probe``) stays open as long as the connection:
    closing it while SQLite has the file open would drop SQLite's locks.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.db_size = 0
        self.wal_size = 0

    def look(self) -> str | None:
        """A sentence when the file or its WAL was damaged since the last look."""
        try:
            size = os.fstat(self.fd).st_size
            problem = _judge(size, os.pread(self.fd, 100, 0))
        except OSError:
            return None
        if problem is not None and not problem.startswith("the file is truncated"):
            return problem  # (a checkpoint in progress may look truncated for a moment)
        if size < self.db_size:
            return f"the file shrank from {self.db_size} to {size} bytes"
        wal = side_file(self.path, "-wal")
        try:
            with wal.open("rb") as handle:  # not the database file: no lock of ours on it
                wal_size = os.fstat(handle.fileno()).st_size
                header = handle.read(32)
        except FileNotFoundError:
            wal_size, header = 0, b""
            if self.wal_size:
                return "its write-ahead log was deleted"
        except OSError:
            return None
        if wal_size < self.wal_size:
            return f"its write-ahead log shrank from {self.wal_size} to {wal_size} bytes"
        if wal_size and (wal_problem := wal_header_problem(header)) is not None:
            return wal_problem
        self.db_size, self.wal_size = size, wal_size
        return None

    def close(self) -> None:
        """Only ever after the connection on the same file closed."""
        with contextlib.suppress(OSError):
            os.close(self.fd)


def sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def move_aside(path: Path, problem: str, label: str = "corrupt") -> Recovery:
    """Move the file (and its side files) to ``NAME.LABEL-STAMP``; never delete anything."""
    target = path.with_name(f"{path.name}.{label}-{stamp()}")
    moved = False
    if path.exists():
        os.replace(path, target)
        moved = True
    for suffix in SIDE_SUFFIXES:
        side = side_file(path, suffix)
        if side.exists():
            os.replace(side, side_file(target, suffix))
    marker(path).unlink(missing_ok=True)
    sync_directory(path.parent)
    log.error("store %s: %s; moved aside to %s", path, problem, target)
    return Recovery(problem, str(target) if moved else None)


def write_marker(path: Path) -> None:
    """Record the file's size and mtime: a matching marker at open means a clean shutdown."""
    stat = path.stat()
    marker(path).write_text(json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}))


def marker_matches(path: Path) -> bool:
    try:
        recorded = json.loads(marker(path).read_text())
        stat = path.stat()
    except (OSError, ValueError):
        return False
    return bool(recorded == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
