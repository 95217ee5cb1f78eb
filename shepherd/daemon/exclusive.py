"""One daemon per state directory and per socket, for the daemon's whole life.

Two daemons on one state directory would both recover and charge the same
sessions (the instance id is the state directory's); two on one socket would
leave the first running unreachable. So before anything is read or recovered
the daemon takes an exclusive ``flock`` on the state directory itself (opened
read-only: it needs no block of the disk, so a first start on a disk with no
byte free still starts and fails closed, review-9-s13 L6), on
``<state>/daemon.lock`` (what older daemons lock) and on ``<socket>.lock``
beside its socket, writes its pid into each file when the disk takes it (a full
disk leaves a file empty, or not made: the pid is only for the words), and keeps
them open until it exits (the kernel releases them when it dies, ``kill -9``
included; they are close-on-exec, so no session program inherits them).
A socket file is replaced only when nothing answers on it: a daemon of an
older version (no lock) or any other program listening there is left alone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket
import stat
from dataclasses import dataclass, field
from pathlib import Path

from shepherd.ipc.server import socket_directory_problem

log = logging.getLogger(__name__)

STATE_LOCK = "daemon.lock"


class CannotStart(Exception):
    """Another daemon holds the state directory or the socket (or a lock cannot be
    taken at all); the message says which, in a sentence."""


NO_ROOM = (errno.ENOSPC, errno.EDQUOT)  # a full disk (or quota): nothing new written
# A file system that cannot flock a directory opened read-only (NFS emulates flock with
# byte-range locks, which want a file open to write): the lock file alone, as before.
NO_DIRECTORY_LOCK = (errno.EBADF, errno.ENOLCK, errno.EINVAL, errno.EOPNOTSUPP)


def _holder(fd: int) -> str:
    """`` (pid N)`` of the daemon that wrote the lock file, when it says; else ``""``."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip())
        return f" (pid {pid})"
    return ""


def _holder_of(path: Path) -> str:
    """``_holder`` of a lock file by its path (``""`` when it cannot be read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return ""
    try:
        return _holder(fd)
    finally:
        os.close(fd)


def _taken(what: str, holder: str) -> CannotStart:
    return CannotStart(f"another Shepherd daemon{holder} is running on {what}; "
                       "stop it first, or give this one its own")


def _take_directory(state_dir: Path, what: str) -> int | None:
    """The state directory's fd, flock'ed (no block of the disk needed); ``CannotStart``
    when another daemon holds it; None where a directory cannot be locked."""
    fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise _taken(what, _holder_of(state_dir / STATE_LOCK)) from None
        if exc.errno in NO_DIRECTORY_LOCK:
            return None
        raise
    return fd


def _take(path: Path, what: str, optional: bool = False) -> int | None:
    """The lock file's fd, locked and holding our pid when the disk takes it;
    ``CannotStart`` when taken. ``optional``: a file that cannot be made for want of
    room is done without (None): the state directory's own lock is held. On a file
    system gone read-only (review-9-s14 H1: ext4 after a disk error) the file is locked
    as it is, opened to read (``flock`` needs no write), without our pid."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno != errno.EROFS:
            if optional and exc.errno in NO_ROOM:
                return None  # not there, so no older daemon holds it either
            raise
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            if optional:
                return None  # not there, so no older daemon holds it either
            raise exc from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _holder(fd)
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise _taken(what, holder) from None
        raise
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as exc:  # no room for the pid (or read-only): the lock holds all the same
        if exc.errno not in (*NO_ROOM, errno.EBADF, errno.EINVAL, errno.EROFS):
            os.close(fd)
            raise
    return fd


def _answers(path: Path) -> bool:
    """True when a program accepts connections on the socket file."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(2.0)
        probe.connect(str(path))
    except OSError:
        return False  # refused (stale), gone, or not a socket
    finally:
        probe.close()
    return True


def _private(state_dir: Path) -> None:
    """The state directory is the daemon's alone (0700, as the shipped unit's
    ``StateDirectoryMode=``), however it was started: the store in it holds every child's
    history, and a child who could open it could hold a lock on it across a restart and
    keep every launch denied (review-9-s14 M2). Said, never fatal, when it cannot be."""
    try:
        found = os.stat(state_dir)
        if found.st_uid == os.geteuid() and found.st_mode & 0o077:
            os.chmod(state_dir, stat.S_IMODE(found.st_mode) & 0o700)
            log.warning("the state directory %s could be read by others (mode %o): it is "
                        "the daemon's alone now (700)", state_dir, stat.S_IMODE(found.st_mode))
    except OSError as exc:
        log.warning("the state directory %s could not be made the daemon's alone: %s",
                    state_dir, exc.strerror or exc)


@dataclass
class Exclusive:
    """The daemon's two locks; ``release`` at exit (or let the kernel do it)."""

    fds: list[int] = field(default_factory=list)

    @classmethod
    def take(cls, state_dir: Path, socket_path: Path) -> Exclusive:
        """Lock the state directory, then the socket, and clear a stale socket file."""
        held = cls()
        try:
            state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            _private(state_dir)
            what = f"the state directory {state_dir}"
            directory = _take_directory(state_dir, what)
            held.keep(directory)
            held.keep(_take(state_dir / STATE_LOCK, what, optional=directory is not None))
            socket_path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            # Checked again now it exists: another may have made it since start-up's check.
            unsafe = socket_directory_problem(socket_path)
            if unsafe is not None:
                raise CannotStart(unsafe)
            held.keep(_take(socket_path.with_name(socket_path.name + ".lock"),
                            f"the socket {socket_path}"))
            if _answers(socket_path):
                raise CannotStart(f"a program answers on the socket {socket_path} (a Shepherd "
                                  "daemon of another version?); stop it first, or give this "
                                  "one its own socket")
            with contextlib.suppress(FileNotFoundError):
                socket_path.unlink()  # left by a daemon that died: nobody answers on it
        except OSError as exc:
            held.release()
            raise CannotStart(f"cannot lock {exc.filename or state_dir}: "
                              f"{exc.strerror or exc}") from None
        except BaseException:
            held.release()
            raise
        return held

    def keep(self, fd: int | None) -> None:
        if fd is not None:
            self.fds.append(fd)

    def release(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()
