"""The direct backend: sessions as process trees of the daemon (user mode, tests).

Each session starts in a new session and process group, with the daemon as
child subreaper so orphaned descendants come back to it. Members are tracked
through ``/proc`` (session id, parentage, and the environment marker that
survives ``setsid``), each watched with a pidfd so an exit is noticed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shepherd.supervisor.account import SESSION_MARKER, Account
from shepherd.supervisor.proctree import read_proc, reap_children, session_members

log = logging.getLogger(__name__)

PR_SET_CHILD_SUBREAPER = 36
LOG_CAP_BYTES = 1024 * 1024


def become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


@dataclass
class SessionTree:
    session_id: int
    sid: int
    leader_start: int
    uid: int
    members: set[int] = field(default_factory=set)
    watched: dict[int, int] = field(default_factory=dict)  # pid -> pidfd
    on_empty: Callable[[int], None] | None = None
    ended: bool = False

    @property
    def marker(self) -> bytes:
        return f"{SESSION_MARKER}={self.session_id}".encode()

    def describe(self) -> dict[str, Any]:
        return {"backend": "direct", "pid": self.sid, "sid": self.sid,
                "leader_start": self.leader_start, "uid": self.uid}


class DirectBackend:
    name = "direct"

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.trees: dict[int, SessionTree] = {}
        self.subreaper = become_subreaper()

    # -- start ------------------------------------------------------------------
    def spawn(self, session_id: int, command: Sequence[str], account: Account,
              env: dict[str, str], on_empty: Callable[[int], None]) -> dict[str, Any]:
        """Start the command; raise OSError when it cannot be started."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        read_end, write_end = os.pipe()
        as_other = account.uid != os.getuid()
        try:
            process = subprocess.Popen(
                list(command), env=env, cwd=account.home if os.path.isdir(account.home) else "/",
                stdin=subprocess.DEVNULL, stdout=write_end, stderr=write_end,
                start_new_session=True, close_fds=True,
                user=account.uid if as_other else None,
                group=account.gid if as_other else None,
                extra_groups=list(account.groups) if as_other else None)
        finally:
            os.close(write_end)
        self._copy_output(read_end, self.log_dir / f"session-{session_id}.log")
        info = read_proc(process.pid)
        tree = SessionTree(session_id, process.pid, info.start if info else 0, account.uid,
                           {process.pid}, on_empty=on_empty)
        self.trees[session_id] = tree
        self._watch(tree, process.pid)
        return tree.describe()

    def adopt(self, session_id: int, process: dict[str, Any],
              on_empty: Callable[[int], None]) -> bool:
        """Take back a session left by a previous daemon, if any of its processes live."""
        if process.get("backend") != "direct":
            return False
        tree = SessionTree(session_id, int(process.get("sid", 0)),
                           int(process.get("leader_start", 0)), int(process.get("uid", -1)),
                           on_empty=on_empty)
        leader = read_proc(tree.sid)
        known = {tree.sid} if leader and leader.start == tree.leader_start else set()
        tree.members = session_members(tree.sid, known, tree.marker, tree.uid)
        if not tree.members:
            return False
        self.trees[session_id] = tree
        for pid in tree.members:
            self._watch(tree, pid)
        return True

    def _copy_output(self, fd: int, path: Path) -> None:
        """Copy the session's output to its log, up to the cap; the rest is dropped."""
        loop = asyncio.get_running_loop()
        handle = path.open("ab")
        os.set_blocking(fd, False)

        def readable() -> None:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(fd)
                os.close(fd)
                handle.close()
                return
            room = LOG_CAP_BYTES - handle.tell()
            if room > 0:
                handle.write(data[:room])
                handle.flush()

        loop.add_reader(fd, readable)

    # -- watching -----------------------------------------------------------------
    def _watch(self, tree: SessionTree, pid: int) -> None:
        if pid in tree.watched:
            return
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return
        tree.watched[pid] = fd
        asyncio.get_running_loop().add_reader(fd, self._member_exited, tree, pid)

    def _unwatch(self, tree: SessionTree, pid: int) -> None:
        fd = tree.watched.pop(pid, None)
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)

    def _member_exited(self, tree: SessionTree, pid: int) -> None:
        self._unwatch(tree, pid)
        self.refresh(tree)

    def refresh(self, tree: SessionTree) -> set[int]:
        """Rescan the tree; when nobody is left, tell the daemon once."""
        reap_children()
        tree.members = session_members(tree.sid, tree.members, tree.marker, tree.uid)
        for pid in list(tree.watched):
            if pid not in tree.members:
                self._unwatch(tree, pid)
        for pid in tree.members:
            self._watch(tree, pid)
        if not tree.members and not tree.ended:
            tree.ended = True
            self.trees.pop(tree.session_id, None)
            if tree.on_empty is not None:
                tree.on_empty(tree.session_id)
        return tree.members

    def refresh_all(self) -> None:
        for tree in list(self.trees.values()):
            self.refresh(tree)

    # -- stopping -------------------------------------------------------------------
    def _signal_all(self, tree: SessionTree, signum: int) -> None:
        with contextlib.suppress(OSError):
            os.killpg(tree.sid, signum)
        for pid in tree.members:
            with contextlib.suppress(OSError):
                os.kill(pid, signum)

    async def stop(self, session_id: int, grace: float) -> None:
        """SIGTERM to every member, SIGKILL to what is left after ``grace``."""
        tree = self.trees.get(session_id)
        if tree is None:
            return
        self.refresh(tree)
        self._signal_all(tree, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while loop.time() < deadline and not tree.ended:
            await asyncio.sleep(min(0.05, max(deadline - loop.time(), 0)))
            self.refresh(tree)
        for _ in range(20):  # a tree that forks while being killed is killed again
            if tree.ended:
                return
            self._signal_all(tree, signal.SIGKILL)
            await asyncio.sleep(0.02)
            self.refresh(tree)
        log.error("session %d: processes %s survived SIGKILL", session_id, sorted(tree.members))
