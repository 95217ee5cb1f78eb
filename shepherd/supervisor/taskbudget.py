"""A task limit per session group, so that sessions cannot take every task the daemon has.

Where the sessions' groups sit under the daemon's own cgroup (the direct backend), they
share its task budget: the unit's ``TasksMax`` is the ``pids.max`` of the group they all
descend from. A fork loop in a session would fill it, and a daemon started again there
could not start a thread. Where the kernel's ``pids`` controller reaches the daemon's
cgroup, each session group gets a ``pids.max`` of that budget less a reserve for the
daemon (``RESERVE``, at most half of it). No ancestor with a finite ``pids.max``: no limit
is written (nothing shared can be filled by a session alone). No controller: nothing
changes; the daemon's start still fails closed (``Daemon.start``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

RESERVE = 128  # tasks kept for the daemon out of a budget it shares with the sessions


def _words(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []


def enable(start: Path, instance: Path, mount: Path) -> bool:
    """Turn the ``pids`` controller on for the instance's children (``+pids`` in its
    ``cgroup.subtree_control``: it holds no process, the daemon is in its leaf), first in
    the start group's when the instance does not have it yet (not at the mount's root: a
    machine-wide change). True when the session groups will have ``pids.max``."""
    if "pids" not in _words(instance / "cgroup.controllers"):
        if start == mount or "pids" not in _words(start / "cgroup.controllers"):
            return False
        try:  # refused (EBUSY) while other processes live in the start group itself
            (start / "cgroup.subtree_control").write_text("+pids")
        except OSError:
            return False
    try:
        (instance / "cgroup.subtree_control").write_text("+pids")
    except OSError:
        return False
    return True


def budget(group: Path, mount: Path) -> int | None:
    """The smallest finite ``pids.max`` of the group and its ancestors below the mount's
    root (which has none); None when every one says ``max`` or has none."""
    found = []
    for where in (group, *group.parents):
        if where == mount or mount not in where.parents:
            break
        with contextlib.suppress(OSError, ValueError):
            text = (where / "pids.max").read_text().strip()
            if text != "max":
                found.append(int(text))
    return min(found) if found else None


def session_limit(instance: Path, mount: Path) -> int | None:
    """The ``pids.max`` for a new session group of the instance: the budget the daemon
    shares with it, less the reserve (at most half the budget); None for no limit."""
    shared = budget(instance, mount)
    if shared is None:
        return None
    return max(1, shared - min(RESERVE, shared // 2))
