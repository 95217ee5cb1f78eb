"""The store's files on disk: header checks, side files, identity, moving aside.

SQLite keeps a store in up to three files: the database, its write-ahead log
(``-wal``) and the shared-memory index (``-shm``, mapped into memory). This
module answers questions about them without opening a connection:

- whether the main file's header looks like a whole database (cheap, but the
  WAL may hold newer pages, so only SQLite has the last word);
- whether every file can be written. A mapped ``-shm`` that became unwritable
  (``chattr +i``) kills the process with SIGBUS at the next write into the
  mapping, so the store never touches a connection while this says no;
- whether the path still names the file a connection opened (a deleted or
  replaced file goes on accepting writes into the old inode, unnoticed);
- whether a file a connection has open was damaged in place (truncated, or
  overwritten with something that is not a database): SQLite itself would not
  notice while the pages it needs sit in its cache;
- moving a bad or foreign file aside under a timestamped name (never deleting).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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


def unwritable(path: Path) -> str | None:
    """A sentence naming the first store file that cannot be written, or None."""
    for candidate in (path, *(side_file(path, s) for s in SIDE_SUFFIXES)):
        try:
            if not os.access(candidate, os.W_OK):
                if candidate.exists():
                    return f"{candidate} cannot be written (read-only or immutable)"
                if candidate == path:
                    return f"{candidate} is missing"
        except OSError as exc:
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
    descriptor of a file drops the process's POSIX locks on it (use ``damage``).
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
    closing it while SQLite has the file open would drop SQLite's locks."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    stat = os.fstat(fd)
    if expected is None or FileIdentity(stat.st_dev, stat.st_ino) != expected:
        os.close(fd)  # not the file the connection has: it holds no locks of ours
        return None
    return fd


def damage(fd: int) -> str | None:
    """A sentence when the file open on ``fd`` (a ``probe``) no longer starts as a database.

    Only what cannot be a passing state of a live store: an empty file or a header
    that is not SQLite's (a checkpoint in progress may leave a file shorter than its
    header says for a moment, so that is left to SQLite's own reads).
    """
    try:
        problem = _judge(os.fstat(fd).st_size, os.pread(fd, 100, 0))
    except OSError:
        return None
    if problem is None or problem.startswith("the file is truncated"):
        return None
    return problem


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
