"""Per-session log files, kept to a size cap by the daemon.

The daemon opens an ``O_APPEND`` descriptor of ``session-N.log`` for the
session's starter; since session 31 the program itself gets a pipe, and a pump
in the session (opened by root, then the child's account) appends what comes to
the log, and keeps its tail in ``.1`` before a write that would take it past the
cap (``starter.start_pump``): the program holds no descriptor of this file
(review-14-s30b H1; what follows about descriptors a program holds is kept for
logs an earlier version left, and as a second wall).
Its output never passes through the daemon, so a daemon crash cannot break its
pipe (no ``SIGPIPE``), and it runs on to be adopted. The cap
is kept by rotation off the event loop: when the file grows past the cap, its
last ``cap`` bytes are kept as ``session-N.log.1`` and the file is emptied in
place (the program's appends then start again at the beginning). So a
session's logs hold the latest output and at most twice the cap, plus what a
program writes between two checks (half a second apart while sessions run).

A descriptor outlives its session when the program passed it on (``SCM_RIGHTS``)
to a process outside the session. So an ended session's log is kept capped (at
every clock check, also while no session runs) until no process holds it open for
writing any more: a read lease is refused while one does (``F_SETLEASE``). A
daemon started again does the same for the logs an earlier run left.

A program can also take disk space through the descriptor without writing:
``fallocate`` (``O_APPEND`` does not stop it) extends the file at once, or with
``FALLOC_FL_KEEP_SIZE`` holds blocks past its end that its size never shows
(review-14-s30 F1: the whole free space in one call, kept after the session). So
the cap is on the space a log holds (its blocks) as well as its size: blocks held
past the end are given back in place (``ftruncate`` to its own size frees them),
and a log that must be emptied is emptied even when the disk is too full to keep
its tail (the tail is lost, the space comes back). A log no process can write any
more is looked at once more after the last writer is gone, never before it.

Logs of sessions that ended more than ``LOG_KEEP_DAYS`` ago are removed (at the
first check of a daemon's run, and at most hourly as sessions end); and all the
logs together are kept within ``LOGS_BUDGET_BYTES``, the oldest ended sessions'
removed first, at a check after a session ended (at most every ``TRIM_EVERY_S``; one put off is made
at a later check, also when no session runs any more): a
child's launches, each leaving up to twice the cap, filled 225 MiB in 20 s
(review-14-s31 M-1). The pump makes ``.1`` at its start (it cannot later); one left
empty is removed at the log's last look.

A resource limit on file size (``RLIMIT_FSIZE``) was not used: it would apply
to every file the program writes (a game's saves), and kill it with ``SIGXFSZ``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

LOG_CAP_BYTES = 1024 * 1024
LOG_KEEP_DAYS = 30  # an ended session's log is removed after this long
LOGS_BUDGET_BYTES = 64 * 1024 * 1024  # all the logs together, the oldest ended removed first
TRIM_EVERY_S = 10.0  # the budget looked at no more often (sessions that end in a loop)
PRUNE_EVERY_S = 3600.0
FULL_DISK = (errno.ENOSPC, errno.EDQUOT)
# Blocks a file may hold past its size by the file system's own doing (whole blocks, a
# small preallocation for appends): never taken for a program's ``fallocate``
BLOCK_SLACK = 64 * 1024


class SessionLogs:
    def __init__(self, directory: Path, cap: int = LOG_CAP_BYTES,
                 budget: int = LOGS_BUDGET_BYTES) -> None:
        self.directory = directory
        self.cap = cap
        self.budget = budget
        self.live: set[int] = set()
        # Ended sessions whose log a process may still write (an earlier run's: all).
        self.ended: set[int] = set()
        self._swept = False
        # Logs that could not be capped: said once each until they can be (a read-only
        # state directory failed every checkpoint: 2.4 lines a second, review-9-s15 L-2).
        self._uncapped: set[Path] = set()
        self._capping: asyncio.Task[None] | None = None
        self._pruned_at = -PRUNE_EVERY_S  # monotonic: the last removal of old logs
        self._trimmed_at = -TRIM_EVERY_S  # monotonic: the last look at the logs' budget
        # A look at the budget put off (``TRIM_EVERY_S``): made at a later check, sessions
        # or not (what the last sessions' pumps wrote after it stayed past the budget until
        # another session ended: review-14-s34 L1).
        self._trim_owed = False

    def path(self, session_id: int) -> Path:
        return self.directory / f"session-{session_id}.log"

    def open(self, session_id: int) -> int:
        """An append-only descriptor for the program's output (the caller closes it)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.live.add(session_id)  # first: the removal of old logs asks it before each
        try:
            return os.open(self.path(session_id),
                           os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW,
                           0o600)
        except OSError:
            self.live.discard(session_id)
            raise

    def follow(self, session_id: int) -> None:
        """Keep an adopted session's log capped too."""
        self.live.add(session_id)

    def done(self, session_id: int) -> None:
        """The session ended: its log is capped until nothing can write it any more."""
        self.live.discard(session_id)
        self.ended.add(session_id)
        self.maintain()

    @property
    def idle(self) -> bool:
        """Nothing to keep capped (no log any process may still write)."""
        return self._swept and not self.live and not self.ended and not self._trim_owed

    def maintain(self) -> None:
        """Check every log that may be written against the cap, in a worker thread (one
        check at a time); the first check also looks for logs an earlier run left."""
        if self.idle or (self._capping is not None and not self._capping.done()):
            return
        self._capping = asyncio.ensure_future(self._check(sorted(self.live),
                                                          sorted(self.ended)))

    async def _check(self, live: list[int], ended: list[int]) -> None:
        sweep = not self._swept
        looked, written = await asyncio.to_thread(self._cap_and_look, live, ended, sweep)
        self._swept = True
        self.ended = (self.ended - looked) | (written - self.live)

    def _cap_and_look(self, live: list[int], ended: list[int],
                      sweep: bool) -> tuple[set[int], set[int]]:
        """In a thread: caps the logs; then which ended ones (and, in a sweep, which logs
        left by an earlier run) were looked at, and which of those are still written."""
        looked = set(ended)
        if sweep:
            looked |= self._left_here() - set(live)
        # Who may still write, asked first: a log without a writer now has none later
        # (root's file, in root's directory), so capping it next is its last look; asked
        # after the cap, a writer's last ``fallocate`` between the two went unseen.
        written = {s for s in looked if open_for_writing(self.path(s))}
        cap_all([self.path(s) for s in live + sorted(looked)], self.cap, self._uncapped)
        if (sweep or ended) and time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            self._prune(set(live) | written)
        for session_id in looked - written:  # its last look: an empty tail kept is none
            with contextlib.suppress(OSError):
                kept = kept_path(self.path(session_id))
                if os.lstat(kept).st_size == 0:
                    os.unlink(kept)
        if sweep or ended or self._trim_owed:
            # (not at every check: a stat of every log, review-14-s31b L-1)
            self._trim_owed = not sweep and time.monotonic() - self._trimmed_at < TRIM_EVERY_S
            if not self._trim_owed:
                self._trimmed_at = time.monotonic()
                self._trim(set(live) | written)
        return looked, written

    def _trim(self, keep: set[int]) -> None:
        """All the logs together within ``LOGS_BUDGET_BYTES`` (the blocks they hold): the
        oldest ended sessions' removed first, the ones in ``keep`` (running, or written by
        some process still) never (review-14-s31 M-1: 212 launches of a program that
        wrote 2 MiB each left 225 MiB in 20 s, each kept for 30 days).

        The total is summed as the directory is read, nothing kept per log: a month of
        logs is thousands of files, and a list of them made every ``TRIM_EVERY_S`` while
        sessions end left the daemon's heap fragmented (10,000 logs: its memory grew by
        6-8 MiB over the sessions, issue 13). Only past the budget are they listed."""
        total = sum(held for _, _, _, held in self._log_files())
        if total <= self.budget:
            return
        sizes: dict[int, tuple[float, int]] = {}  # session -> (last written, bytes held)
        for session_id, _, written, held in self._log_files():
            newest, before = sizes.get(session_id, (0.0, 0))
            sizes[session_id] = (max(newest, written), before + held)
        removed = 0
        for session_id in sorted((s for s in sizes if s not in keep), key=lambda s: sizes[s]):
            if total <= self.budget:
                break
            if session_id in self.live:  # (a number used again, opened meanwhile)
                continue
            for file in self._files(session_id):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(file)
            total -= sizes[session_id][1]
            removed += 1
        log.info("session logs past %d MiB: the oldest %d session(s)' logs removed",
                 self.budget >> 20, removed)

    def _log_files(self) -> Iterator[tuple[int, str, float, int]]:
        """Each session log file here (the log, its kept tail, a tail being made) as it is
        read: its session, name, last write (mtime) and the bytes it holds (its blocks)."""
        try:
            found = os.scandir(self.directory)
        except OSError:
            return
        with found:
            for entry in found:
                session_id = log_session(entry.name)
                if session_id is None:
                    continue
                try:
                    status = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                yield session_id, entry.name, status.st_mtime, status.st_blocks * 512

    def _files(self, session_id: int) -> list[Path]:
        path = self.path(session_id)
        return [path, kept_path(path), partial_path(path)]

    def _prune(self, keep: set[int]) -> None:
        """Remove the log files of sessions not in ``keep`` last written ``LOG_KEEP_DAYS``
        ago (as the directory is read, like ``_trim``)."""
        before = time.time() - LOG_KEEP_DAYS * 86400
        removed = 0
        for session_id, name, written, _ in self._log_files():
            if written >= before or session_id in keep or session_id in self.live:
                continue  # (live: a number used again, opened meanwhile)
            with contextlib.suppress(OSError):
                os.unlink(self.directory / name)
                removed += 1
        if removed:
            log.info("removed %d session log file(s) older than %d days", removed,
                     LOG_KEEP_DAYS)

    def _left_here(self) -> set[int]:
        """The sessions whose log is here (``session-N.log``)."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return set()
        return {session_id for name in names if name.endswith(".log")
                and (session_id := log_session(name)) is not None}

    async def settle(self) -> None:
        """Wait for a running check (tests and clean shutdown)."""
        if self._capping is not None:
            with contextlib.suppress(Exception):
                await self._capping


def cap_all(paths: list[Path], cap: int, uncapped: set[Path]) -> None:
    """Each log capped; a failure said once per path while it lasts (``uncapped``: the
    paths that failed last time, kept up to date)."""
    for path in paths:
        try:
            cap_file(path, cap)
        except OSError as exc:
            if path not in uncapped:
                log.warning("could not cap %s: %s (said once until it can be)", path, exc)
                uncapped.add(path)
        else:
            if path in uncapped:
                uncapped.discard(path)
                log.info("%s can be capped again", path)


def open_for_writing(path: Path) -> bool:
    """Whether any process holds the file open for writing: the kernel refuses a read
    lease then. Where leases cannot be taken (a file system without them,
    ``fs.leases-enable`` off), it may be: True (it is kept capped)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return False
    except OSError as exc:
        if exc.errno != errno.EAGAIN:
            log.debug("no lease on %s (%s): it is kept capped", path, exc)
        return True
    finally:
        os.close(fd)


def cap_file(path: Path, cap: int) -> bool:
    """Rotate the file when it is past ``cap``: its tail to ``.1``, itself emptied in place
    (its tail lost when the disk is too full to keep it). Blocks it holds past its end
    beyond ``cap`` (``fallocate`` with ``KEEP_SIZE``) are given back, its text kept.
    True when it was changed."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        status = os.fstat(fd)
        size, held = status.st_size, status.st_blocks * 512
        if size <= cap:
            if held <= size + cap + BLOCK_SLACK:
                return False
            os.ftruncate(fd, size)  # the blocks past the end are freed, the text kept
            return True
        try:
            _keep_tail(fd, size, cap, path)
        except OSError as exc:
            if exc.errno not in FULL_DISK:
                raise
            log.warning("%s: the disk is too full to keep the last %d bytes of it; it is "
                        "emptied without them", path, cap)
        os.ftruncate(fd, 0)  # (every block, past the end too)
        return True
    finally:
        os.close(fd)


LOG_NAME = re.compile(r"session-([0-9]+)\.log(?:\.1(?:\.tmp)?)?")


def log_session(name: str) -> int | None:
    """The session a log file's name is of (``session-N.log``, ``.log.1``, ``.log.1.tmp``)."""
    match = LOG_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


def kept_path(path: Path) -> Path:
    """Where a log's tail is kept when it is emptied: ``session-N.log.1``."""
    return path.with_name(path.name + ".1")


def partial_path(path: Path) -> Path:
    """The tail's copy while it is made (``_keep_tail``): ``session-N.log.1.tmp``."""
    return path.with_name(path.name + ".1.tmp")


def _keep_tail(fd: int, size: int, cap: int, path: Path) -> None:
    """The last ``cap`` bytes of the file to ``.1`` (a partial copy removed on failure)."""
    os.lseek(fd, size - cap, os.SEEK_SET)
    kept, partial = kept_path(path), partial_path(path)
    try:
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
                          | os.O_NOFOLLOW, 0o600), "wb") as out:
            left = cap
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                out.write(chunk)
                left -= len(chunk)
        os.replace(partial, kept)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
