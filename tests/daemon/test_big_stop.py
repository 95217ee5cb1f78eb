"""Review 9-s9 M3: the loop must go on answering while a session of thousands of
processes reaches its deadline and is stopped.

A session's program forks ``MANY`` sleeping children; at its deadline the alarm and the
daemon signal them, they all exit, and the session's end is recorded. Meanwhile a client
calls ``health`` on one connection, one call after another. The slowest round trip is
measured and printed (``-s``); only a bound no quiet or loaded machine comes near (2 s)
is asserted (the structural check is ``tests/supervisor/test_ended_off_the_loop.py``).
Real daemon, real cgroups, real processes.

``SHEPHERD_TEST_PROFILE_CMD`` (by hand only, for a profile): a shell command run in the
background half a second before the deadline, ``PID`` replaced by the daemon's pid, e.g.
``py-spy record --pid PID --duration 5 --idle --threads --format raw -o out.txt``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shepherd.supervisor.cgroups import cgroup2_mount
from tests.daemon.conftest import ME, policy
from tests.supervisor.conftest import NO_CGROUP, wait_for

pytestmark = pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2: {NO_CGROUP}")

MANY = 2500
FROZEN_BOUND_S = 2.0  # (measured: 0.34-0.48 s before the fix)


def procs(group: Path) -> list[str]:
    try:
        return (group / "cgroup.procs").read_text().split()
    except FileNotFoundError:
        return []


def many_policy(tmp_path: Path, max_run: str) -> tuple[str, Path, Path]:
    ready, where = tmp_path / "ready", tmp_path / "cgroup"
    script = (f"cat /proc/$$/cgroup > {where}; i=0; while [ $i -lt {MANY} ]; do "
              f"sleep 300 & i=$((i+1)); done; touch {ready}; wait")
    return policy(f"""
[[entries]]
id = "many"
command = ["sh", "-c", {json.dumps(script)}]
limits = {{ max_run = "{max_run}" }}
"""), ready, where


def slowest_answer_while_stopping(d: Any, tmp_path: Path, ready: Path, where: Path
                                  ) -> tuple[float, int, dict[str, Any]]:
    """Launch, wait for every process, then call ``health`` back to back from just before
    the deadline until the session's end is heard: (the slowest round trip in seconds,
    the calls made, the end event)."""
    events = d.events()
    launched = d.call("launch", entry="many", user=ME)
    deadline = datetime.fromisoformat(launched["deadline"]).timestamp()
    wait_for(lambda: ready.exists(), timeout=120)
    assert time.time() < deadline - 1, "the programs were not all started before the deadline"
    mount = cgroup2_mount()
    assert mount is not None
    group = mount / where.read_text().strip().split("::", 1)[1].lstrip("/")
    assert len(procs(group)) > MANY
    ended: dict[str, Any] = {}
    listener = threading.Thread(target=lambda: ended.update(
        events.next("session_ended", timeout=120)))
    listener.start()
    time.sleep(max(0.0, deadline - 0.5 - time.time()))
    trips: list[float] = []
    hook = os.environ.get("SHEPHERD_TEST_PROFILE_CMD")  # e.g. py-spy record, by hand
    if hook:
        os.system(hook.replace("PID", str(d.process.pid)) + " &")
    with d.client() as client:
        while listener.is_alive():
            began = time.monotonic()
            client.call("health")
            trips.append(time.monotonic() - began)
    listener.join()
    return max(trips), len(trips), ended


def test_the_loop_answers_while_thousands_of_processes_are_stopped(
        far_daemon_factory: Any, tmp_path: Path) -> None:
    text, ready, where = many_policy(tmp_path, "25s")
    d = far_daemon_factory(text)
    wait_for(lambda: "deadline alarm serving" in d.log.read_text())
    slowest, calls, ended = slowest_answer_while_stopping(d, tmp_path, ready, where)
    print(f"\nslowest health round trip while {MANY} processes were stopped: "
          f"{slowest * 1000:.1f} ms over {calls} calls")
    assert ended["reason"] == "expired"
    assert slowest < FROZEN_BOUND_S
