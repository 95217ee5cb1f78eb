"""The daemon instance's id: in every marker, unit name and cgroup it makes.

Derived from the state directory's real path and a random token kept in that
directory, so a daemon restarted on the same state recognises its own
sessions, while two daemons (two state directories, or a copy of one) never
share an id and never touch each other's sessions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
from pathlib import Path

from shepherd.supervisor.cgroups import cgroup2_mount
from shepherd.supervisor.proctree import ProcInfo, read_proc, real_uid
from shepherd.supervisor.starter import PUMP_NAME

log = logging.getLogger(__name__)

TOKEN_FILE = "instance-id"


def instance_id(state_dir: Path) -> str:
    """12 hex digits; the token is created on first use (a fresh one each time if unwritable)."""
    path = state_dir / TOKEN_FILE
    token = ""
    with contextlib.suppress(OSError):
        token = path.read_text().strip()
    if len(token) < 16 or not all(c in "0123456789abcdef" for c in token):
        token = secrets.token_hex(16)
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(TOKEN_FILE + ".tmp")
            partial.write_text(token + "\n")
            os.replace(partial, path)
        except OSError as exc:
            log.error("cannot keep the instance id in %s (%s): sessions left by a crash "
                      "will not be recognised after a restart", path, exc)
    where = os.path.realpath(state_dir)
    return hashlib.sha256(f"{where}\0{token}".encode()).hexdigest()[:12]


def known_instance_id(state_dir: Path) -> str | None:
    """The id a daemon on this state directory had, without making one (None: none yet)."""
    token = ""
    with contextlib.suppress(OSError):
        token = (state_dir / TOKEN_FILE).read_text().strip()
    if len(token) < 16 or not all(c in "0123456789abcdef" for c in token):
        return None
    where = os.path.realpath(state_dir)
    return hashlib.sha256(f"{where}\0{token}".encode()).hexdigest()[:12]


_GROUP = re.compile(r"shepherd-([0-9a-f]{12})")
_UNIT = re.compile(r"shepherd-([0-9a-f]{12})-session-\d+\.(?:scope|service)")


def holding_instance(cgroup: str) -> tuple[str, str] | None:
    """The Shepherd instance whose subtree holds a process in this cgroup v2 path, if
    any, with the path of that subtree (whose owner says whether it can be believed):
    the innermost ``shepherd-<id>/...`` group (its sessions, refusals, and the daemon's
    own leaf, where its starter runs for a moment), or a ``shepherd-<id>-session-N``
    unit of the systemd backend. Only a name: anyone may make a group so named where
    they may make groups (a child, in the subtree their user manager delegates)."""
    parts = [p for p in cgroup.split("/") if p]
    for index in range(len(parts) - 1, -1, -1):
        unit = _UNIT.fullmatch(parts[index])
        if unit is not None:
            return unit.group(1), "/" + "/".join(parts[:index + 1])
        group = _GROUP.fullmatch(parts[index])
        if group is not None and index + 1 < len(parts):
            return group.group(1), "/" + "/".join(parts[:index + 1])
    return None


def held_elsewhere(cgroup: str, own: str, mount: Path | None = None) -> bool:
    """A process in this cgroup v2 path is held by another Shepherd instance (than
    ``own``), as far as this daemon may believe: by the name (``holding_instance``),
    and by the owner of that instance's subtree, root or this daemon's own account.
    A child can name a group of their own (in the subtree their user manager delegates
    to them) like another daemon's, but it is theirs, not root's: in system mode it
    hides nothing. In user mode the daemon runs as the child, who could stop it anyway.
    ``mount``: the cgroup2 mount (found when not given)."""
    held = holding_instance(cgroup)
    if held is None or held[0] == own:
        return False
    mount = mount or cgroup2_mount()
    if mount is None:
        return False
    try:
        owner = (mount / held[1].lstrip("/")).stat().st_uid
    except OSError:
        return False
    return owner in (0, os.geteuid())


# -- process-tree sessions (no cgroup of their own) ----------------------------------------
STARTER_TAIL = b"/shepherd/supervisor/starter.py"
MAX_ANCESTORS = 1024  # deeper than this, a process is not taken for a session's (fail closed)
KEEPER_ARGS_MAX = 1 << 20  # a keeper's command line is its daemon's (the policy's command)
KEEPER_HEAD = 4096  # read first: a keeper's interpreter, -I -S and starter path fit in it
_ID = re.compile(r"[0-9a-f]{12}")


def kept_elsewhere(pid: int, own: str) -> bool:
    """The process is in another Shepherd instance's (than ``own``) process-tree
    session (``keeper_of``)."""
    kept = keeper_of(pid)
    return kept is not None and kept[0] != own


def keeper_of(pid: int) -> tuple[str, int] | None:
    """The instance and session of the process-tree session the process is in, if any:
    its nearest ancestor that is a session's keeper (``starter.py`` in keeper mode: a
    child subreaper, so every process of the session stays its descendant), believed
    only when the keeper runs as root or as this daemon's own account (``_keeper``).

    Nothing the child controls makes it so: a process's real uid is set only by root (a
    set-user-id program the child runs keeps the child's, though its effective uid, and
    so the owner of its ``/proc`` directory, is root's), a root process's command line
    only by itself, and a process never gets a new ancestor
    (orphans go up, to the nearest subreaper or init). A child who copies a keeper's
    command line into a process of their own (instance id and all) runs it as
    themselves, and what it starts is theirs. Each step checks that the parent started
    no later than its child (a pid used again is not an ancestor); a parent that exited
    meanwhile is followed through the child's new parent. Deeper than ``MAX_ANCESTORS``:
    not believed (the daemon fails closed)."""
    child = read_proc(pid)
    trusted = {0, os.geteuid()}
    for _ in range(MAX_ANCESTORS):
        if child is None or child.ppid <= 1:
            return None
        parent = _parent(child)
        if parent is None:
            return None
        kept = _keeper(parent.pid, trusted) if parent.uid in trusted else None
        if kept is not None:
            return kept
        child = parent
    return None


def _parent(child: ProcInfo) -> ProcInfo | None:
    """The child's parent as it stands: re-read when the parent went meanwhile (the
    child was re-parented up the tree); None when the chain cannot be read."""
    for _ in range(8):
        parent = read_proc(child.ppid)
        if parent is not None and parent.start <= child.start:
            return parent
        again = read_proc(child.pid)
        if again is None or again.start != child.start or again.ppid == child.ppid:
            return None
        child = again
    return None


def keeper_at(pid: int) -> tuple[str, int] | None:
    """The instance and session whose process-tree keeper ``pid`` is, run by root or this
    process's own account (``_keeper``); None when it is none."""
    return _keeper(pid, {0, os.geteuid()})


def keepers(own: str) -> dict[int, int]:
    """The process-tree keepers of instance ``own`` running now: session → pid
    (``keeper_at``; a pid may be used again once read: open a pidfd, then ask again)."""
    found: dict[int, int] = {}
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if name.isdigit():
                kept = keeper_at(int(name))
                if kept is not None and kept[0] == own:
                    found[kept[1]] = int(name)
    return found


def _keeper(pid: int, trusted: set[int]) -> tuple[str, int] | None:
    """The instance and session whose process-tree keeper ``pid`` is, when it is one run
    by a trusted account (root; or this daemon's own, which in user mode is the child's)."""
    spec = _starter_spec(pid)
    if spec is None or spec.get("cgroup"):
        return None  # the starter of a cgroup session (its group says whose it is)
    named = _session_of(spec)
    if named is None or not _ID.fullmatch(named[0]):
        return None
    try:
        if real_uid(pid) not in trusted:
            return None
        with open(f"/proc/{pid}/comm", "rb") as handle:  # (set by the process itself)
            if handle.read().strip() == PUMP_NAME:
                return None  # the keeper's child that pumps the output to the log
    except OSError:
        return None
    # Nor before it named itself (its first moments; in system mode it is the child's by
    # then, not trusted): a keeper's own child with the keeper's command line is its pump
    # (review-14-s31 L-1). A keeper's parent is the daemon, or init.
    info = read_proc(pid)
    if info is not None and info.ppid > 1:
        parent = _starter_spec(info.ppid)
        if parent is not None and _session_of(parent) == named:
            return None
    return named


def _starter_spec(pid: int) -> dict[str, object] | None:
    """The spec on a starter's command line (``python -I -S .../starter.py SPEC``),
    whoever runs it; None for any other process."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            # The head first: a keeper's is short (interpreter, -I -S, starter.py), and a
            # child's processes with megabytes of arguments each are not read whole
            # (review-9-s15e L-3e: the alarm's scan at the daemon's end was 1.3 s late).
            head = handle.read(KEEPER_HEAD)
            args = head.split(b"\0")
            if (len(args) < 4 or args[1:3] != [b"-I", b"-S"]
                    or not args[3].endswith(STARTER_TAIL)):
                return None
            args = (head + handle.read(KEEPER_ARGS_MAX - len(head))).split(b"\0")
    except OSError:
        return None
    if len(args) < 5:
        return None
    try:
        spec = json.loads(args[4])
    except ValueError:
        return None
    return spec if isinstance(spec, dict) else None


def _session_of(spec: dict[str, object]) -> tuple[str, int] | None:
    """The instance and session a starter's spec names."""
    instance, session = spec.get("instance"), spec.get("session")
    if not isinstance(instance, str) or not isinstance(session, int):
        return None
    return instance, session
