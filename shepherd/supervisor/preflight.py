"""What a policy needs from this machine, checked before a launch fails.

``policy check`` and the daemon (at start and on every reload) ask this module
whether each ``[[users]]`` name is a local account and whether each entry's
program can be found on the PATH a launched program gets (``launch_path``).
These are warnings: a policy written for another machine is still a policy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

from shepherd.policy import CheckResult, Policy, Problem
from shepherd.policy.locate import PathPart, find_line
from shepherd.supervisor.account import SAFE_PATH, Account, launch_path

AccountLookup = Callable[[str], Account]


def _program_found(program: str, path: str) -> bool:
    if "/" in program:
        return os.path.isfile(program) and os.access(program, os.X_OK)
    return shutil.which(program, path=path) is not None


def preflight(policy: Policy, result: CheckResult | None = None,
              lookup: AccountLookup = Account.lookup) -> list[Problem]:
    """Warnings about accounts and programs this machine lacks."""
    lines = result.lines if result is not None else {}
    problems: list[Problem] = []

    def warn(path: tuple[PathPart, ...], message: str) -> None:
        problems.append(Problem(path, find_line(lines, path), message, "warning"))

    accounts: dict[str, Account] = {}
    for index, user in enumerate(policy.users):
        try:
            accounts[user.name] = lookup(user.name)
        except KeyError:
            warn(("users", index, "name"),
                 f"{user.name!r} is not a login name on this machine, so nothing can be "
                 f"launched as {user.name} (expected the child's own account, as in "
                 f"/etc/passwd; create it with `adduser {user.name}`)")
    for index, entry in enumerate(policy.entries):
        program = entry.command[0]
        users = [u.name for u in policy.users if policy.entry_allows(entry, u.name)]
        paths = {launch_path(accounts[name]) for name in users if name in accounts} or {SAFE_PATH}
        if any(_program_found(program, path) for path in paths):
            continue
        if "/" in program:
            warn(("entries", index, "command", 0),
                 f"{program!r} is not an executable file on this machine, so launching "
                 f"{entry.id!r} will fail (expected the program's full path)")
        else:
            warn(("entries", index, "command", 0),
                 f"{program!r} is not installed here: it is not found on the PATH a launched "
                 "program gets (the system's bin directories, then the flatpak and snap "
                 f"exports), so launching {entry.id!r} will fail (install it, or write its "
                 "full path)")
    return problems


def missing_programs(policy: Policy, lookup: AccountLookup = Account.lookup) -> dict[str, str]:
    """Entries whose program this machine lacks (entry id -> program), as ``preflight``
    finds them: for ``status``, which says so before a child meets the failure."""
    accounts: dict[str, Account] = {}
    for user in policy.users:
        try:
            accounts[user.name] = lookup(user.name)
        except KeyError:
            continue
    missing: dict[str, str] = {}
    for entry in policy.entries:
        users = [u.name for u in policy.users if policy.entry_allows(entry, u.name)]
        paths = {launch_path(accounts[name]) for name in users if name in accounts} or {SAFE_PATH}
        if not any(_program_found(entry.command[0], path) for path in paths):
            missing[entry.id] = entry.command[0]
    return missing
