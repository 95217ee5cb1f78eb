"""One daemon per state directory and per socket, for the daemon's whole life.

Two daemons on one state directory would both recover and charge the same
sessions (the instance id is the state directory's); two on one socket would
leave the first running unreachable. So before anything is read or recovered
the daemon takes an exclusive ``flock`` on ``<state>/daemon.lock`` and on
``<socket>.lock`` beside its socket, writes its pid into each, and keeps both
open until it exits (the kernel releases them when it dies, ``kill -9``
included; the files are close-on-exec, so no session program inherits them).
A socket file is replaced only when nothing answers on it: a daemon of an
older version (no lock) or any other program listening there is left alone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from shepherd.ipc.server import socket_directory_problem

STATE_LOCK = "daemon.lock"


class CannotStart(Exception):
    """Another daemon holds the state directory or the socket (or a lock cannot be
    taken at all); the message says which, in a sentence."""


def _holder(fd: int) -> str:
    """`` (pid N)`` of the daemon that wrote the lock file, when it says; else ``""``."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip())
        return f" (pid {pid})"
    return ""


def _take(path: Path, what: str) -> int:
    """The lock file's fd, locked and holding our pid; ``CannotStart`` when taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _holder(fd)
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise CannotStart(f"another Shepherd daemon{holder} is running on {what}; "
                              "stop it first, or give this one its own") from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
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


@dataclass
class Exclusive:
    """The daemon's two locks; ``release`` at exit (or let the kernel do it)."""

    fds: list[int] = field(default_factory=list)

    @classmethod
    def take(cls, state_dir: Path, socket_path: Path) -> Exclusive:
        """Lock the state directory, then the socket, and clear a stale socket file."""
        held = cls()
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            held.fds.append(_take(state_dir / STATE_LOCK, f"the state directory {state_dir}"))
            socket_path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            # Checked again now it exists: another may have made it since start-up's check.
            unsafe = socket_directory_problem(socket_path)
            if unsafe is not None:
                raise CannotStart(unsafe)
            held.fds.append(_take(socket_path.with_name(socket_path.name + ".lock"),
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

    def release(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()
