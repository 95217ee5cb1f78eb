"""Per-session log files the program writes directly, kept to a size cap by the daemon.

The program gets an ``O_APPEND`` descriptor of ``session-N.log`` as its stdout
and stderr: its output never passes through the daemon, so a daemon crash
cannot break its pipe (no ``SIGPIPE``), and it runs on to be adopted. The cap
is kept by rotation off the event loop: when the file grows past the cap, its
last ``cap`` bytes are kept as ``session-N.log.1`` and the file is emptied in
place (the program's appends then start again at the beginning). So a
session's logs hold the latest output and at most twice the cap, plus what a
program writes between two checks (one second apart while sessions run).

A resource limit on file size (``RLIMIT_FSIZE``) was not used: it would apply
to every file the program writes (a game's saves), and kill it with ``SIGXFSZ``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

LOG_CAP_BYTES = 1024 * 1024


class SessionLogs:
    def __init__(self, directory: Path, cap: int = LOG_CAP_BYTES) -> None:
        self.directory = directory
        self.cap = cap
        self.live: set[int] = set()
        self._capping: asyncio.Task[None] | None = None

    def path(self, session_id: int) -> Path:
        return self.directory / f"session-{session_id}.log"

    def open(self, session_id: int) -> int:
        """An append-only descriptor for the program's output (the caller closes it)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path(session_id),
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW,
                     0o600)
        self.live.add(session_id)
        return fd

    def follow(self, session_id: int) -> None:
        """Keep an adopted session's log capped too."""
        self.live.add(session_id)

    def done(self, session_id: int) -> None:
        """The session ended: cap its log one last time, then leave it."""
        self.live.discard(session_id)
        self._cap_in_thread([self.path(session_id)])

    def maintain(self) -> None:
        """Check every live log against the cap, in a worker thread (one check at a time)."""
        self._cap_in_thread([self.path(s) for s in self.live])

    def _cap_in_thread(self, paths: list[Path]) -> None:
        if not paths or (self._capping is not None and not self._capping.done()):
            return
        self._capping = asyncio.ensure_future(asyncio.to_thread(cap_all, paths, self.cap))

    async def settle(self) -> None:
        """Wait for a running check (tests and clean shutdown)."""
        if self._capping is not None:
            with contextlib.suppress(Exception):
                await self._capping


def cap_all(paths: list[Path], cap: int) -> None:
    for path in paths:
        try:
            cap_file(path, cap)
        except OSError as exc:
            log.warning("could not cap %s: %s", path, exc)


def cap_file(path: Path, cap: int) -> bool:
    """Rotate the file when it is past ``cap``: its tail to ``.1``, itself emptied in place."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        size = os.fstat(fd).st_size
        if size <= cap:
            return False
        os.lseek(fd, size - cap, os.SEEK_SET)
        kept = path.with_name(path.name + ".1")
        partial = path.with_name(path.name + ".1.tmp")
        with open(partial, "wb") as out:
            left = cap
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                out.write(chunk)
                left -= len(chunk)
        os.replace(partial, kept)
        os.ftruncate(fd, 0)
        return True
    finally:
        os.close(fd)
