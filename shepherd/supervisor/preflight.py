"""What a policy needs from this machine, checked before a launch fails.

``policy check`` and the daemon (at start and on every reload) ask this module
whether each ``[[users]]`` name is a local account and whether each entry's
program can be found on the PATH a launched program gets (``launch_path``).
These are warnings: a policy written for another machine is still a policy.
"""

from __future__ import annotations

import functools
import grp
import os
import pwd
import shutil
import stat
from collections.abc import Callable

from shepherd.policy import CheckResult, Policy, Problem
from shepherd.policy.locate import PathPart, find_line
from shepherd.supervisor.account import SAFE_PATH, Account, launch_path

AccountLookup = Callable[[str], Account]


def _program_found(program: str, path: str) -> bool:
    if "/" in program:
        return os.path.isfile(program) and os.access(program, os.X_OK)
    return shutil.which(program, path=path) is not None


def _name(ids: Callable[[int], object], number: int) -> str:
    try:
        return str(ids(number)[0])  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return str(number)


def _may(st: os.stat_result, account: Account, bits: int) -> bool:
    """Would the kernel let ``account`` have ``bits`` (of ``S_IXOTH``/``S_IROTH``, as the
    others' bits) on a file of ``st``, by its mode, owner and group (no ACLs)."""
    mode = stat.S_IMODE(st.st_mode)
    if account.uid == 0:  # root: a directory always, a file when anyone may run it
        return stat.S_ISDIR(st.st_mode) or bool(mode & 0o111)
    if st.st_uid == account.uid:
        return mode & (bits << 6) == bits << 6
    if st.st_gid == account.gid or st.st_gid in account.groups:
        return mode & (bits << 3) == bits << 3
    return mode & bits == bits


def _whose(st: os.stat_result) -> str:
    return f"mode {stat.S_IMODE(st.st_mode):o}, owner {_name(pwd.getpwuid, st.st_uid)}"


def closed_to(program: str, account: Account) -> str | None:
    """Why ``account`` may not run the file ``program`` (a path), checked as the child,
    without switching to it: every directory on the way must let them search it, the
    file must let them run it (None: they may). Review-1215-s12 F2: root's
    ``os.access`` passed a file only root may run."""
    real = os.path.realpath(program)
    parts = real.split("/")[1:-1]
    directory = "/"
    for part in ["", *parts]:
        directory = os.path.join(directory, part) if part else directory
        try:
            st = os.stat(directory)
        except OSError:
            return None  # said as not found elsewhere
        if not _may(st, account, stat.S_IXOTH):
            return (f"the directory {directory!r} on the way is closed to {account.name}: "
                    f"{_whose(st)}")
    try:
        st = os.stat(real)
    except OSError:
        return None
    if _may(st, account, stat.S_IXOTH):
        return None
    mode = stat.S_IMODE(st.st_mode)
    owner = _name(pwd.getpwuid, st.st_uid)
    if mode & 0o011 == 0o010:
        who = f"only {owner} and the group {_name(grp.getgrgid, st.st_gid)} may"
    elif mode & 0o111:
        who = f"only {owner} may" if mode & 0o111 == 0o100 else "not everyone may"
    else:
        who = "no one may"
    return f"{who}: mode {mode:o}"


def _found_as(program: str, path: str) -> list[str]:
    """The files a launch of ``program`` would try, in order (a path: itself)."""
    if "/" in program:
        return [program] if os.path.isfile(program) else []
    return [os.path.join(d, program) for d in path.split(os.pathsep)
            if d and os.path.isfile(os.path.join(d, program))]


def interpreter_of(file: str) -> str | None:
    """The program a script's ``#!`` line names (None: no such line, or not readable
    here); the kernel runs it with the script, which it then reads."""
    try:
        with open(file, "rb") as handle:
            head = handle.read(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].split()
    return os.fsdecode(words[0]) if words else None


def _script_closed(file: str, account: Account) -> str | None:
    """Why a file ``account`` may run still fails as a script (review-12-s13 L4): the
    program its ``#!`` line names is missing or closed to them, or they may not read it
    (its interpreter opens it as them). None: it is no script, or it would run."""
    interpreter = interpreter_of(file)
    if interpreter is None:
        return None
    needs = f"{file!r} needs the program its first line names, {interpreter!r}, which is"
    if not interpreter.startswith("/"):
        return None  # relative to where it is started: not ours to guess
    if not os.path.isfile(interpreter):
        return f"{needs} not installed here"
    closed = closed_to(interpreter, account)
    if closed is not None:
        return f"{needs} not something {account.name} may run ({closed})"
    st = os.stat(os.path.realpath(file))
    if not _may(st, account, stat.S_IROTH) and account.uid != 0:
        mode = stat.S_IMODE(st.st_mode)
        return (f"{file!r} is a script, which {account.name} may run but not read (only "
                f"{_name(pwd.getpwuid, st.st_uid)} may read it: mode {mode:o}), and its "
                "interpreter must read it")
    return None


def _closed_for(program: str, account: Account) -> tuple[str, str] | None:
    """(the file, why in a sentence) when ``program`` is found for ``account`` but none
    of the files found would run for them (the first named); None when one would, or
    none is found."""
    found = _found_as(program, launch_path(account))
    reasons: list[tuple[str, str | None]] = []
    for file in found:
        closed = closed_to(file, account)
        why = (f"{file!r} is not something {account.name} may run ({closed})"
               if closed is not None else _script_closed(file, account))
        reasons.append((file, why))
    if not reasons or any(why is None for _, why in reasons):
        return None
    first, why = reasons[0]
    assert why is not None
    return first, why


def preflight(policy: Policy, result: CheckResult | None = None,
              lookup: AccountLookup = Account.lookup, *,
              system_mode: bool = True) -> list[Problem]:
    """Warnings about accounts, groups and programs this machine lacks, and accounts
    that should not be children. ``system_mode`` (as `policy check` assumes): the
    parents' group matters (only a group the policy names is checked: the default one
    is the install guide's to create), and root as a child runs its programs as root;
    in user mode the one child is whoever runs the daemon."""
    lines = result.lines if result is not None else {}
    problems: list[Problem] = []

    def warn(path: tuple[PathPart, ...], message: str) -> None:
        problems.append(Problem(path, find_line(lines, path), message, "warning"))

    group = policy.supervisor.admin_group
    if system_mode and "admin_group" in policy.supervisor.model_fields_set:
        try:
            grp.getgrnam(group)
        except KeyError:
            warn(("supervisor", "admin_group"),
                 f"there is no group {group!r} on this machine, so no one but root can act "
                 f"as a parent (create it with `groupadd {group}`, then "
                 f"`usermod -aG {group} PARENT`)")

    sentence, found = _once_each()
    accounts: dict[str, Account] = {}
    for index, user in enumerate(policy.users):
        if system_mode and user.name == "root":
            warn(("users", index, "name"),
                 "'root' is named as a child: every program launched for them runs as root, "
                 "which can stop Shepherd and change its policy (give the child an account "
                 "of their own)")
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
        if any(found(program, path) for path in paths):
            for name in users:
                closed = sentence(program, accounts[name]) if name in accounts else None
                if closed is not None:
                    warn(("entries", index, "command", 0),
                         f"{closed}, so launching {entry.id!r} will fail")
                    break
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
    _, found = _once_each()
    missing: dict[str, str] = {}
    for entry in policy.entries:
        users = [u.name for u in policy.users if policy.entry_allows(entry, u.name)]
        paths = {launch_path(accounts[name]) for name in users if name in accounts} or {SAFE_PATH}
        if not any(found(entry.command[0], path) for path in paths):
            missing[entry.id] = entry.command[0]
    return missing


def closed_sentence(program: str, account: Account) -> str | None:
    """"'/x/y.sh' is not something nobody may run (only root may: mode 700)" when the
    program is found here but ``account`` may not run it, or it is a script whose ``#!``
    program is missing or closed to them, or that they may not read (None otherwise): the
    words of ``policy check``, the daemon's log and ``status``."""
    closed = _closed_for(program, account)
    return None if closed is None else closed[1]


def _once_each() -> tuple[Callable[[str, Account], str | None], Callable[[str, str], bool]]:
    """``closed_sentence`` and ``_program_found`` for one pass over a policy, each
    program checked once per child (or PATH): a household's entries share programs and
    their directories, and 1,000 entries of 3 children cost 0.3 s of the daemon's start
    before READY=1, a realpath and a stat per directory each time (review-13-s18)."""
    return functools.cache(closed_sentence), functools.cache(_program_found)


def closed_programs(policy: Policy, lookup: AccountLookup = Account.lookup
                    ) -> dict[tuple[str, str], str]:
    """(child, entry id) -> ``closed_sentence``, for the programs found here that the
    child may not run (review-1215-s12 F2): for ``status``, as ``missing_programs``."""
    sentence, _ = _once_each()
    closed: dict[tuple[str, str], str] = {}
    for user in policy.users:
        try:
            account = lookup(user.name)
        except KeyError:
            continue
        for entry in policy.entries:
            if policy.entry_allows(entry, user.name):
                said = sentence(entry.command[0], account)
                if said is not None:
                    closed[(user.name, entry.id)] = said
    return closed
