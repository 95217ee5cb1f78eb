"""Who a session runs as, and the clean environment it gets (SPEC §4)."""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Mapping
from dataclasses import dataclass

# Flatpak and snap export their programs' launchers here.
SAFE_PATH = ("/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"
             ":/var/lib/flatpak/exports/bin:/snap/bin")
CLIENT_VARIABLES = frozenset({"DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR",
                              "DBUS_SESSION_BUS_ADDRESS", "XAUTHORITY", "LANG"})
SESSION_MARKER = "SHEPHERD_SESSION"
LOCALE_VARIABLE = re.compile(r"LC_[A-Za-z0-9_]+")


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str
    shell: str
    groups: tuple[int, ...]

    @classmethod
    def lookup(cls, name: str) -> Account:
        """The Unix account; KeyError when it does not exist."""
        entry = pwd.getpwnam(name)
        groups = tuple(os.getgrouplist(name, entry.pw_gid))
        return cls(name, entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell or "/bin/sh",
                   groups)

    @classmethod
    def current(cls) -> Account:
        entry = pwd.getpwuid(os.getuid())
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir,
                   entry.pw_shell or "/bin/sh", tuple(os.getgroups()))


def allowed_client_variables(variables: Mapping[str, object],
                             strict: bool = False) -> dict[str, str]:
    """Only display/session variables from the allow-list (and ``LC_*``), as strings.

    A name off the list (``LC_A=B`` is not a variable name) is dropped. A value the
    operating system would refuse (not text, a NUL, a lone surrogate, 4 KiB or more)
    is dropped too, or with ``strict`` raises ``ValueError`` naming the variable.
    """
    allowed: dict[str, str] = {}
    for name, value in variables.items():
        if not isinstance(name, str) or not (name in CLIENT_VARIABLES
                                             or LOCALE_VARIABLE.fullmatch(name)):
            continue
        problem = _value_problem(value)
        if problem is None and isinstance(value, str):
            allowed[name] = value
        elif strict:
            raise ValueError(f"{name} {problem}")
    return allowed


def _value_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be text"
    if "\0" in value or len(value) >= 4096:
        return "must be text without NUL, shorter than 4096 characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid text (a lone surrogate)"
    return None


def launch_path(account: Account) -> str:
    """The PATH a launched program gets: the safe system PATH, then the child's flatpaks."""
    return f"{SAFE_PATH}:{account.home}/.local/share/flatpak/exports/bin"


def session_environment(account: Account, client: Mapping[str, object],
                        marker: str) -> dict[str, str]:
    """A clean environment: the account's basics, a safe PATH, allow-listed variables.

    ``marker`` (``<instance>-<session>``) tells a program which session it runs in;
    it is a hint only: membership is the session's cgroup (or its keeper's tree).
    """
    env = {"HOME": account.home, "USER": account.name, "LOGNAME": account.name,
           "SHELL": account.shell, "PATH": launch_path(account)}
    env.update(allowed_client_variables(client))
    env[SESSION_MARKER] = marker
    return env
