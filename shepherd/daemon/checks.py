"""What the daemon says about a policy it loads and a program that would not start.

The warnings are those of ``shepherd policy check`` (``policy.check`` and the
machine's ``supervisor.preflight``), logged at start and on every reload so a
parent reading the journal learns what will fail before a child meets it.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from shepherd.policy import CheckResult, Policy
from shepherd.supervisor.account import SAFE_PATH, Account
from shepherd.supervisor.preflight import (
    closed_programs,
    interpreter_of,
    missing_programs,
    preflight,
)


def _accounts(user_mode: bool) -> Callable[[str], Account]:
    """How a child's account is found: in user mode every program runs as the invoking
    user (no child account is needed); else each child's own, looked up."""
    if not user_mode:
        return Account.lookup
    current = Account.current()
    return lambda name: current


def policy_warnings(result: CheckResult, path: Path, user_mode: bool) -> list[str]:
    """Every warning about a loaded policy, rendered ``FILE:LINE: path: warning: ...``."""
    problems = [p for p in result.problems if p.severity == "warning"] + result.advice()
    if result.policy is not None:
        problems += preflight(result.policy, result, _accounts(user_mode),
                              system_mode=not user_mode)
    return [p.render(str(path)) for p in sorted(problems, key=lambda p: p.line)]


def programs_missing(policy: Policy, user_mode: bool) -> dict[str, str]:
    """Entries whose program is not installed here (blocking: run it in a worker thread)."""
    return missing_programs(policy, _accounts(user_mode))


def programs_closed(policy: Policy, user_mode: bool) -> dict[tuple[str, str], str]:
    """(child, entry id) -> why the child may not run its program found here (blocking)."""
    return closed_programs(policy, _accounts(user_mode))


def launch_problem(exc: OSError | KeyError, program: str, user: str) -> str:
    """Why a program could not be started, in words (the ``launch_failed`` record keeps it)."""
    if isinstance(exc, KeyError):
        return f"there is no account called {user!r} on this machine to run it as"
    if exc.errno == errno.ENOENT:
        found = program if "/" in program else shutil.which(program, path=SAFE_PATH)
        interpreter = interpreter_of(found) if found and os.path.isfile(found) else None
        if interpreter is not None and not os.path.exists(interpreter):
            # the script is there, the program its first line names is not (review-12-s13 L4)
            return (f"{found!r} needs the program its first line names, {interpreter!r}, "
                    "which is not installed here")
        return f"the program {program!r} is not installed here (or not on the PATH it gets)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"the program {program!r} may not be run ({exc.strerror})"
    return f"starting {program!r} failed: {exc.strerror or exc}"
