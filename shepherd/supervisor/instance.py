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
