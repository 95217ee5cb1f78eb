"""Reading ``/proc``: which processes belong to a session's tree."""

from __future__ import annotations

import contextlib
import os
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


def all_processes() -> list[ProcInfo]:
    infos = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            info = read_proc(int(name))
            if info is not None:
                infos.append(info)
    return infos


def has_marker(pid: int, marker: bytes) -> bool:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/environ", "rb") as handle:
        return marker in handle.read().split(b"\0")
    return False


def session_members(sid: int, known: set[int], marker: bytes, uid: int) -> set[int]:
    """Living members: same session id, descendants of known members, or the marker.

    A program that calls ``setsid`` and double-forks leaves the session and its
    parent, but keeps the marker in its environment.
    """
    infos = [p for p in all_processes() if p.state not in ("Z", "X")]
    members = {p.pid for p in infos if p.sid == sid or p.pid in known}
    children: dict[int, list[int]] = {}
    for p in infos:
        children.setdefault(p.ppid, []).append(p.pid)
    stack = list(members)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in members:
                members.add(child)
                stack.append(child)
    for p in infos:
        if p.pid not in members and p.uid == uid and p.pid != os.getpid() and has_marker(
                p.pid, marker):
            members.add(p.pid)
    return members


def reap_children() -> None:
    """Collect exit statuses of our own children and adopted orphans (no zombies)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
