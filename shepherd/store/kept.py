"""What the store could not take yet, kept in a preallocated file beside it (review-9-s12 H1).

While the store cannot be written (a full disk, a read-only file), the daemon
enforces from memory: each session's time since the fault and the ends it saw
are held in memory until the store returns. A crash, a clean stop or a reboot
before then would drop them. So, while the store is away, the daemon also
writes them here, at every checkpoint and at every end, and at a clean stop:

- the file is **preallocated** (``posix_fallocate``) when the daemon starts, and
  afterwards only overwritten in place with ``pwrite`` and ``fdatasync``: no
  block is ever allocated, so the writes work on a full disk (on ext4, XFS and
  tmpfs; a copy-on-write file system such as btrfs may still refuse them);
- two slots, written in turn, each a header (generation, length, SHA-256) then
  the JSON document: a write cut short by a power cut leaves the other slot,
  and a torn or damaged slot is never read as books;
- the document is the set of store changes still owed, in the store's own
  terms: ``ends`` (``Store.end_session``'s arguments), ``checkpoints``
  (``Checkpoint`` rows) and ``audits`` (the audit rows not yet written, up to
  ``core.KEPT_AUDIT_BYTES``: review-9-s13 L2). At start, before the books are read
  and the crash rules run, ``Store.apply_kept`` applies each one whose session is
  still open in the store's snapshot (an end once; a checkpoint only past the
  snapshot's ``charged_mono``) and each audit row the log does not hold yet, so
  applying it twice changes nothing; then the file is cleared.

The file is root's, mode 0600, in the daemon's state directory: a child can
neither read nor write it. If it cannot be made or preallocated (the disk was
already full when the daemon first started, the name taken), the daemon says so
in its log and ``health`` (``kept_file``) and fails closed: launches are denied
(``store_unavailable``) until it can be made (tried again at each launch).

``KeptWriter`` does the writing on a thread of its own (the store's writer thread is
the one waiting for the store to return): the loop hands it each new document and
never waits on a write or an fsync; only the newest document waiting is written
(each holds everything still owed), and ``synced`` tells the loop when every
document handed so far is on disk, so the daemon says a session ended only after
its end is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import logging
import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

KEPT_NAME = "kept-while-store-away"
SLOT_BYTES = 128 * 1024
SIZE = 2 * SLOT_BYTES
MAGIC = b"SHPKEPT1"
HEADER = struct.Struct(">8sQI32s")  # magic, generation, length, sha256 of the document


class KeptFile:
    """The preallocated file: ``open`` once, ``save`` (blocking: a write and an fsync)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._generation = 0
        self.problem: str | None = None  # why it cannot be used, in a sentence
        self.write_problem: str | None = None  # why the last save failed (None: it did not)

    def open(self) -> bool:
        """Open (creating it, 0600) and preallocate; False (and ``problem``) if it cannot."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                         0o600)
        except OSError as exc:
            self._failed(f"cannot open {self.path}: {exc.strerror or exc}")
            return False
        try:
            os.fchmod(fd, 0o600)
            if os.fstat(fd).st_size < SIZE or not _allocated(fd):
                _preallocate(fd)
                os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            self._failed(f"cannot preallocate {self.path}: {exc.strerror or exc}")
            return False
        self._fd = fd
        self.problem = None
        found = self._slots()
        self._generation = max((g for g, _ in found), default=0)
        return True

    def _failed(self, problem: str) -> None:
        if problem != self.problem:  # tried again at each launch: said once
            log.error("the file that keeps a store fault's time: %s (launches are denied "
                      "until it can be made)", problem)
        self.problem = problem

    @property
    def usable(self) -> bool:
        return self._fd >= 0

    def _slots(self, fd: int | None = None) -> list[tuple[int, dict[str, Any]]]:
        found = []
        for slot in range(2):
            try:
                raw = os.pread(self._fd if fd is None else fd, SLOT_BYTES, slot * SLOT_BYTES)
            except OSError as exc:
                log.error("could not read %s: %s", self.path, exc)
                continue
            if len(raw) < HEADER.size:
                continue
            magic, generation, length, digest = HEADER.unpack_from(raw)
            body = raw[HEADER.size:HEADER.size + length]
            if magic != MAGIC or length > SLOT_BYTES - HEADER.size or len(body) != length:
                continue
            if hashlib.sha256(body).digest() != digest:
                log.warning("%s: slot %d fails its checksum (a write cut short): ignored",
                            self.path, slot)
                continue
            try:
                document = json.loads(body)
            except ValueError:
                continue
            if isinstance(document, dict):
                found.append((int(generation), document))
        return found

    def load(self) -> dict[str, Any]:
        """The newest whole document ({} when none: never written, or cleared). Read
        even when the file cannot be opened to write (a file system gone read-only at a
        start after a reboot, review-9-s14b H-A): what it holds is time owed, and must be
        counted now and written to the store when it returns, never cleared unread."""
        if self._fd >= 0:
            found = self._slots()
        else:
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            except FileNotFoundError:
                return {}
            except OSError as exc:
                log.error("could not read %s: %s", self.path, exc.strerror or exc)
                return {}
            try:
                found = self._slots(fd)
            finally:
                os.close(fd)
        if not found:
            return {}
        return max(found, key=lambda pair: pair[0])[1]

    def save(self, document: dict[str, Any]) -> bool:
        """Over the older slot, then ``fdatasync``: False (said in the log) if it failed."""
        if self._fd < 0:
            return False
        body = json.dumps(document, separators=(",", ":")).encode()
        if len(body) > SLOT_BYTES - HEADER.size:
            log.error("%s: %d bytes of time owed to the store do not fit in %d: not kept",
                      self.path, len(body), SLOT_BYTES - HEADER.size)
            return False
        generation = self._generation + 1
        data = HEADER.pack(MAGIC, generation, len(body), hashlib.sha256(body).digest()) + body
        try:
            os.pwrite(self._fd, data, (generation % 2) * SLOT_BYTES)
            os.fdatasync(self._fd)
        except OSError as exc:
            problem = f"could not write {self.path}: {exc.strerror or exc}"
            if problem != self.write_problem:  # at every checkpoint while it lasts: said once
                log.error("%s: the time owed to the store is not kept beside it (a stop, a "
                          "crash or a reboot now would lose its exact record; it is written "
                          "when the store returns)", problem)
            self.write_problem = problem
            return False
        if self.write_problem is not None:
            log.warning("%s can be written again: the time owed to the store is kept",
                        self.path)
            self.write_problem = None
        self._generation = generation
        return True

    def clear(self) -> bool:
        """Nothing owed (a document with no changes, as new as any before it)."""
        return self.save({})

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _preallocate(fd: int) -> None:
    """Every block of the file, now: ``posix_fallocate``, or where the file system has
    none, zeros written over what is not there yet."""
    try:
        os.posix_fallocate(fd, 0, SIZE)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        size = os.fstat(fd).st_size
        if size < SIZE:
            os.pwrite(fd, bytes(SIZE - size), size)


def _allocated(fd: int) -> bool:
    """Whether every byte of the file has a block (a sparse file is allocated again)."""
    stat = os.fstat(fd)
    return stat.st_blocks * 512 >= SIZE


class KeptWriter:
    """The kept file's own thread: ``save`` hands it a document (only the newest one
    waiting is written), ``synced`` answers once every document handed so far is
    written (or failed, said in the log), ``call`` runs anything else on it."""

    def __init__(self, kept: KeptFile) -> None:
        self.kept = kept
        self._cond = threading.Condition()
        self._document: dict[str, Any] | None = None  # the newest not yet written
        self._calls: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._waiting: list[asyncio.Future[bool]] = []  # settled with the next write
        self._closing = False
        self._busy = False  # a write or call under way on the thread
        self._last = True  # whether the last write went
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="kept-file", daemon=True)
        self._thread.start()

    def save(self, document: dict[str, Any]) -> asyncio.Future[bool]:
        """Written soon, off the loop: the future says whether it (or a newer one) was."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        with self._cond:
            if self._thread is None or self._closing:
                future.set_result(self.kept.save(document))  # not started, or the last
                return future
            self._document = document
            self._waiting.append(future)
            self._cond.notify()
        return future

    def synced(self) -> asyncio.Future[bool]:
        """Settled once every document handed so far is written (True) or failed."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        with self._cond:
            if self._thread is None or (self._document is None and not self._busy):
                future.set_result(self._last)
            else:
                self._waiting.append(future)
        return future

    async def call(self, work: Callable[[], T]) -> T:
        """``work`` on the thread, in order with the writes (open, load)."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        with self._cond:
            if self._thread is None or self._closing:
                return work()
            self._calls.append((work, future))
            self._cond.notify()
        return await future

    async def close(self) -> None:
        """Write what is waiting, then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._document is None and not self._calls and not self._waiting \
                        and not self._closing:
                    self._cond.wait()
                if self._document is None and not self._calls and not self._waiting:
                    return
                document, self._document = self._document, None
                waiting, self._waiting = self._waiting, []
                calls, self._calls = self._calls, []
                self._busy = True
            for work, called in calls:
                try:
                    self._settle(called, work(), None)
                except Exception as exc:  # handed back to the caller
                    self._settle(called, None, exc)
            if document is not None:
                try:
                    written = self.kept.save(document)
                except Exception:  # the thread must not die
                    log.exception("could not keep the time owed to the store")
                    written = False
                self._last = written
            for future in waiting:  # handed before this write began: it holds theirs
                self._settle(future, self._last, None)
            with self._cond:
                self._busy = False

    def _settle(self, future: asyncio.Future[Any], result: Any,
                exc: BaseException | None) -> None:
        def settle() -> None:
            if future.done():
                return
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(result)

        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(settle)
