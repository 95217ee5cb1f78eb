"""Two system-mode daemons sharing a ``detect`` rule, and a program the child starts
outside any session: exactly one of them takes it (review 8b, s5, finding 2).

Both see the exec within microseconds and both look before either moves it: were
"held by another daemon" checked only at that first look, both would take it, the
second out of the first one's session (which then ends ``exited``, charged nothing).
Real daemons, real cgroups, ``nobody`` as the child, a rule only our own copy of
``sleep`` matches.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shepherd.supervisor.cgroups import cgroup_of
from shepherd.supervisor.instance import holding_instance, instance_id
from tests.daemon.test_outside import program
from tests.supervisor.conftest import NO_CGROUP, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="system mode: nobody as the child"),
    pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}"),
]

RUNS = 4


@pytest.fixture
def game() -> Iterator[Path]:
    bin_dir = Path(tempfile.mkdtemp(prefix="shepherd-race-"))
    bin_dir.chmod(0o755)
    yield program(bin_dir, "game")
    shutil.rmtree(bin_dir, ignore_errors=True)


def policy(game: Path) -> str:
    return f'''version = 1
[supervisor]
default_warnings = []
stop_grace = "1s"
[[users]]
name = "nobody"
max_sessions = 10
[[entries]]
id = "game"
command = ["{game}", "1000"]
detect = {{ exe = "{game}" }}
'''


def outside(daemon: Any) -> list[dict[str, Any]]:
    return [s for s in daemon.call("status")["sessions"] if s["entry"] == "game"]


def started_for(daemon: Any, pid: int) -> list[dict[str, Any]]:
    return [a for a in daemon.audit("session_started") if a.get("pid") == pid]


def test_two_daemons_never_both_take_a_program_started_outside(
        daemon_factory: Any, game: Path) -> None:
    daemons = [daemon_factory(policy(game), system_mode=True, name=name)
               for name in ("x", "y")]
    nobody = pwd.getpwnam("nobody")
    for run in range(RUNS):
        child = subprocess.Popen(
            ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
             "--clear-groups", str(game), "1000"], start_new_session=True)
        try:
            wait_for(lambda pid=child.pid: any(started_for(d, pid) for d in daemons), 20)
            # Both saw the exec at once; give the other every chance to act on it.
            for _ in range(20):
                for d in daemons:
                    d.call("status")
                subprocess.run(["sleep", "0.1"], check=True)
            takers = [i for i, d in enumerate(daemons) if started_for(d, child.pid)]
            assert len(takers) == 1, f"run {run}: taken by both daemons"
            holder = daemons[takers[0]]
            assert child.poll() is None
            assert outside(holder), "the daemon that took it lost it"
            assert not outside(daemons[1 - takers[0]])
            held = holding_instance(cgroup_of(child.pid) or "")
            assert held is not None and held[0] == instance_id(holder.state), held
        finally:
            child.kill()
            child.wait()
        for d in daemons:
            wait_for(lambda d=d: not outside(d), 20)


def test_a_daemon_that_refuses_never_kills_what_another_took(
        daemon_factory: Any, game: Path) -> None:
    # X lets the game run, Y's day for it is used up: whichever moves first acts, and
    # the other leaves it. Never both: a game X counts is not killed by Y.
    x = daemon_factory(policy(game), system_mode=True, name="x")
    y = daemon_factory(policy(game).replace('detect = {', 'limits = { daily_quota = "0s" }\n'
                                            'detect = {'), system_mode=True, name="y")
    nobody = pwd.getpwnam("nobody")
    for run in range(RUNS):
        child = subprocess.Popen(
            ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
             "--clear-groups", str(game), "1000"], start_new_session=True)
        try:
            wait_for(lambda c=child: started_for(x, c.pid) or c.poll() is not None or None, 20)
            for _ in range(20):
                for d in (x, y):
                    d.call("status")
                subprocess.run(["sleep", "0.1"], check=True)
            if child.poll() is None:  # X took it first: Y left it to X
                held = holding_instance(cgroup_of(child.pid) or "")
                assert held is not None and held[0] == instance_id(x.state), held
                assert started_for(x, child.pid) and outside(x)
            else:  # Y stopped it first: X never counted it
                assert not started_for(x, child.pid), f"run {run}: X's game killed by Y"
        finally:
            child.kill()
            child.wait()
        wait_for(lambda: not outside(x), 20)
