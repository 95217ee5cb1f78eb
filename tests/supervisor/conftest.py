"""Real daemons for the supervision tests, programs that try to escape, and the two modes.

Every supervision test runs with cgroup v2 membership (skipped, with the reason,
only where no writable cgroup v2 exists) and with the fallback that tracks
process trees through a per-session keeper (forced with SHEPHERD_SUPERVISION=tree).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shepherd.supervisor.cgroups import (
    cgroup2_mount,
    cgroup_of,
    delegation_problem,
    kill,
    populated,
    remove,
)
from tests.daemon.conftest import daemon_factory, marked_processes, policy

__all__ = ["daemon_factory"]


def cgroup_unavailable() -> str | None:
    """Why cgroup-mode tests cannot run here (None when they can): probed, not guessed."""
    mount, own = cgroup2_mount(), cgroup_of()
    if mount is None:
        return "no cgroup2 file system is mounted"
    if own is None:
        return "this process has no cgroup v2 path"
    probe = mount / own.lstrip("/") / f"shepherd-probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
    except OSError as exc:
        return f"cgroup v2 is not writable at {probe.parent}: {exc.strerror}"
    try:
        if not (probe / "cgroup.kill").exists():
            return "the kernel has no cgroup.kill (Linux 5.14 or later)"
    finally:
        probe.rmdir()
    # A system-mode daemon (root) makes groups only where they are delegated to it: under
    # systemd, run the tests in a delegated scope (systemd-run --scope -p Delegate=yes).
    problem = delegation_problem(probe.parent) if os.geteuid() == 0 else None
    if problem is not None:
        return f"a daemon started here would not make its groups: {problem}"
    return None


HERE = Path(__file__).resolve().parent
ESCAPES = HERE / "escapes.py"
NO_CGROUP = cgroup_unavailable()
# A uid no account has: no daemon of the suite's watches its processes. A process whose
# program cannot be known (the loader held at its exec, a command line past what is
# read) is any entry's program to every daemon watching its account, and the suite's
# daemons that watch root (user mode, as root) refused and killed such processes of
# the tests running beside them.
UNWATCHED = 61_234


def unwatched() -> dict[str, Any]:
    """``Popen``'s arguments that run a program as ``UNWATCHED`` (as root; else as we are)."""
    return ({"user": UNWATCHED, "group": UNWATCHED, "extra_groups": []}
            if os.geteuid() == 0 else {})
MODES = [pytest.param("cgroup", marks=pytest.mark.skipif(
             NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}")),
         "tree"]
ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="runs programs as another account")


def mode_env(mode: str) -> dict[str, str]:
    return {"SHEPHERD_SUPERVISION": "tree"} if mode == "tree" else {}


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {check}")


@pytest.fixture
def token() -> Iterator[str]:
    value = str(random.randint(10**8, 10**9 - 1))
    yield value
    subprocess.run(["pkill", "-KILL", "-f", value], check=False)


@pytest.fixture
def group(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A cgroup of the test's own at the top of the cgroup2 mount, emptied and removed after
    (named for the module: ``shepherd-test-moved-pid-…``); for tests that skip without one."""
    mount = cgroup2_mount()
    assert mount is not None
    name = request.module.__name__.rsplit(".", 1)[-1].replace("_", "-")
    made = mount / f"shepherd-{name}-{uuid.uuid4().hex[:8]}"
    made.mkdir()
    yield made
    kill(made)
    wait_for(lambda: not populated(made))  # a leaderless process leaves cgroup.procs empty
    remove(made)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A ``sleep 600`` in a session of its own, killed after."""
    process = subprocess.Popen(["sleep", "600"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def escape(kind: str, token: str) -> str:
    return f'command = ["{sys.executable}", "{ESCAPES}", "{kind}", "{token}"]'


def start_daemon(daemon_factory: Any, mode: str, entries: str, *,
                 supervisor: str = 'stop_grace = "2s"', system_mode: bool = False,
                 users: str = "") -> Any:
    """A daemon in the given mode, checked to hold membership the way the mode says."""
    if system_mode:
        text = f'version = 1\n[supervisor]\n{supervisor}\n[[users]]\nname = "nobody"\n{entries}'
        d = daemon_factory(text, env=mode_env(mode), system_mode=True)
    else:
        d = daemon_factory(policy(entries, supervisor=supervisor, users=users),
                           env=mode_env(mode))
    expected = "cgroup v2" if mode == "cgroup" else "process trees"
    assert d.supervision().startswith(expected), d.supervision()
    if mode == "tree":  # said loudly, not only recorded
        assert "no writable cgroup v2" in d.log.read_text()
    return d


def survivors(token: str) -> list[int]:
    """The program's processes (a fallback keeper names the command too: not counted)."""
    found = []
    for pid in marked_processes(token):
        try:
            if b"starter.py" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def none_left(token: str, settle: float = 0.5) -> None:
    """Nothing with the token is alive, now and a moment later (a fork loop would show)."""
    wait_for(lambda: not survivors(token), 10)
    time.sleep(settle)
    assert survivors(token) == []


