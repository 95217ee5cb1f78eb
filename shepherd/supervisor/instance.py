"""The daemon instance's id: in every marker, unit name and cgroup it makes.

Derived from the state directory's real path and a random token kept in that
directory, so a daemon restarted on the same state recognises its own
sessions, while two daemons (two state directories, or a copy of one) never
share an id and never touch each other's sessions.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
from pathlib import Path

from shepherd.supervisor.cgroups import cgroup2_mount

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
