"""Reading ``/proc``: a process's parent, session, start time, state and owner.

A process runs as long as any of its threads does. Its main thread (the leader,
whose id is the pid) may exit first (``pthread_exit``): it stays a zombie, and
``/proc/PID`` then says nothing about the program (no ``exe``, an empty
``cmdline``; its ``cgroup`` is where the leader was, not where the process runs),
while ``/proc/PID/task/TID`` of a live thread still does (``task_dir``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    sid: int
    start: int  # clock ticks after boot: with the pid, identifies a process
    state: str
    uid: int


def read_proc(pid: int) -> ProcInfo | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode(errors="replace")
        uid = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return ProcInfo(pid, int(fields[1]), int(fields[3]), int(fields[19]), fields[0], uid)


def _state(path: str) -> str | None:
    try:
        with open(f"{path}/stat", "rb") as handle:
            raw = handle.read()
        return raw[raw.rindex(b")") + 2:raw.rindex(b")") + 3].decode()
    except (OSError, ValueError):
        return None


def live_thread(pid: int) -> int | None:
    """A running thread of the process: the pid itself while its leader runs, else
    another thread that runs (a process whose main thread exited); None when none does
    (gone, or a zombie)."""
    state = _state(f"/proc/{pid}")
    if state is None:
        return None
    if state not in ("Z", "X"):
        return pid
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for task in tasks:
        if task != str(pid) and _state(f"/proc/{pid}/task/{task}") not in (None, "Z", "X"):
            return int(task)
    return None


def task_dir(pid: int) -> str:
    """Where ``/proc`` tells about the program a process runs: ``/proc/PID``, or a live
    thread's ``/proc/PID/task/TID`` when the main thread has exited (reads through a
    gone process's directory fail as they would anyway)."""
    tid = live_thread(pid)
    return f"/proc/{pid}" if tid is None or tid == pid else f"/proc/{pid}/task/{tid}"


def tgid_of(tid: int) -> int | None:
    """The process (thread group) a thread belongs to, or None when it is gone."""
    try:
        with open(f"/proc/{tid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


_protected: tuple[int, int, frozenset[int], tuple[int, ...]] | None = None
"""The last walk up ``protected`` made: this process, its parent, the set, and a pidfd
of each ancestor walked through (close-on-exec, as every pidfd)."""
_protected_lock = threading.Lock()  # (threads of the daemon's ask too: one closes the fds)


def protected() -> set[int]:
    """Processes nothing a policy says may ever move or stop: init, this daemon, and the
    daemon's own ancestors (its supervisor, the shell that started it). A policy whose
    child is this daemon's own account (user mode, as root too) must not reach them.

    The walk up is made again only when one of the ancestors walked through has exited
    (its pidfd readable), or this process or its parent is another (a fork, a
    reparenting): a child's storm of refused starts walked it several times a refusal,
    a tenth of the daemon's loop (session 38's py-spy). Not kept for a while: a freed
    pid can be taken again within a millisecond (review-14-s38b F2: a child who first
    forks until the kernel's counter sits below it)."""
    with _protected_lock:
        return _protected_now()


def _protected_now() -> set[int]:
    global _protected
    me, parent = os.getpid(), os.getppid()
    kept = _protected
    if kept is not None and kept[:2] == (me, parent):
        try:
            exited = select.select(kept[3], [], [], 0)[0] if kept[3] else []
        except OSError:
            exited = [-1]
        if not exited:
            return set(kept[2])
    _protected = None
    if kept is not None and kept[0] == me:
        for fd in kept[3]:
            with contextlib.suppress(OSError):
                os.close(fd)
    found = _walk_up(me, parent)
    fds: list[int] = []
    try:
        for pid in sorted(found - {1, me}):
            fds.append(os.pidfd_open(pid))
    except OSError:  # (gone meanwhile, or no pidfds here: walked each time)
        for fd in fds:
            os.close(fd)
        return found
    if _walk_up(me, parent) != found:  # (one exited before its pidfd was opened)
        for fd in fds:
            os.close(fd)
        return found
    _protected = (me, parent, frozenset(found), tuple(fds))
    return found


def _walk_up(me: int, parent: int) -> set[int]:
    found = {1, me}
    pid = parent
    while pid > 1 and pid not in found:
        found.add(pid)
        info = read_proc(pid)
        if info is None:
            break
        pid = info.ppid
    return found


def is_process(pid: int, start: int | None) -> bool:
    """The pid still names the process that started at ``start`` (any that runs, when
    None): a decision made about a process is never carried out on a stranger."""
    info = read_proc(pid)
    return info is not None and (start is None or info.start == start)


READ_STARVED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM})
"""What a read of ``/proc`` raises when the daemon is short of descriptors or memory:
never taken for a process gone (raised; the caller looks again)."""


def read_bytes(path: str, limit: int) -> bytes:
    """A ``/proc`` file's first ``limit`` bytes, through bare descriptor calls: no file
    object per read (a look at a child's program start reads a few ``/proc`` files, on
    the loop: review-9-s10 L3). One read gives all a ``/proc`` file has up to the limit;
    a read that ends on a page's edge is read on (a file given a page at a time).
    ``OSError`` as ``open`` raises it."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = [os.read(fd, limit)]
        got = len(chunks[0])
        while 0 < got < limit and got % 4096 == 0:
            chunk = os.read(fd, limit - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


def real_uid(pid: int) -> int | None:
    """The process's real uid (whose process it is), or None when it is gone. Not the
    owner of ``/proc/PID``: that is the effective uid, and root's for a process that is
    not dumpable."""
    try:
        raw = read_bytes(f"/proc/{pid}/status", 4096)  # its Uid line is among the first
    except OSError as exc:
        if exc.errno in READ_STARVED:  # the daemon is short, the process is not gone
            raise
        return None
    at = raw.find(b"\nUid:")
    try:
        return int(raw[at + 5:].split(None, 1)[0]) if at >= 0 else None
    except (ValueError, IndexError):
        return None


def children(pid: int) -> list[int]:
    """The process's children, from every thread's ``children`` file (empty when it is gone)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as handle:
                found.extend(int(p) for p in handle.read().split())
        except OSError:
            continue
    return found


def kill_tree(root: int, rounds: int = 20) -> None:
    """Without cgroups: SIGKILL a process and its descendants through pidfds, until none is
    left (what a fork loop adds between two rounds is caught by the next)."""
    for _ in range(rounds):
        pids, todo = [], [root]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo.extend(children(pid))
        alive = 0
        spared = protected()
        for pid in pids:
            if pid in spared:
                continue
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
                alive += 1
            os.close(fd)
        if not alive:
            return
