"""A session that fills the task budget it shares with the daemon cannot keep a restarted
daemon from stopping it (issue 8, review-8-s8 H-1).

Under the direct-backend drop-in the sessions are in the service's cgroup, so they share its
``TasksMax`` with the daemon. A cgroup v1 ``pids`` group with a small ``pids.max`` stands in
for it here: the daemon is started inside it, a session forks until the budget is full, the
daemon dies (``kill -9``: a crash, the watchdog, the OOM killer) and is started again in the
same full budget. It cannot start a thread; it must kill its sessions' groups first (that
needs no thread) and exit, and the next start must find them gone and charge them.

Safety: the fork loop is bounded by the group's ``pids.max`` and by its own time limit, and
everything in the group is killed after.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import DaemonProcess, policy, remove_session_groups
from tests.supervisor.conftest import NO_CGROUP, none_left, wait_for

PIDS_V1 = Path("/sys/fs/cgroup/pids")
BUDGET = 120  # tasks: the daemon starts in far fewer

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="moves processes between cgroups (root)"),
    pytest.mark.skipif(not (PIDS_V1 / "cgroup.procs").exists(),
                       reason="no cgroup v1 pids hierarchy to stand in for TasksMax"),
    pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}"),
]

BOMB = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the sleeps (exec keeps it)
end = time.monotonic() + 90  # bounded in time as well as by pids.max
while time.monotonic() < end:
    try:
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "90." + sys.argv[1]])
    except OSError:
        time.sleep(0.01)
"""


@pytest.fixture
def budget() -> Iterator[Path]:
    """A v1 pids group of BUDGET tasks; everything in it killed and the group removed after."""
    group = PIDS_V1 / f"shepherd-test-budget-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    (group / "pids.max").write_text(str(BUDGET))
    try:
        yield group
    finally:
        give_up = time.monotonic() + 20
        while time.monotonic() < give_up:
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        group.rmdir()


def current(group: Path) -> int:
    return int((group / "pids.current").read_text())


def test_a_restarted_daemon_stops_a_session_that_filled_the_task_budget(
        daemon_factory: Any, budget: Path, token: str, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.py"
    bomb.write_text(BOMB)
    entries = f"""
[[entries]]
id = "bomb"
command = ["{sys.executable}", "{bomb}", "{token}"]
limits = {{ max_run = "1h" }}
"""
    text = policy(entries, supervisor='stop_grace = "1s"\non_restart = "adopt"')
    enter = ["sh", "-c", f'echo $$ > {budget}/cgroup.procs && exec "$@"', "sh"]
    # The factory's daemon class, built by hand: started through ``enter`` into the group.
    daemon = DaemonProcess(text, tmp_path / "d", daemon_factory.rundir)
    daemon.prefix = enter
    try:
        daemon.start()
        assert daemon.supervision().startswith("cgroup v2"), daemon.supervision()
        assert daemon.call("launch", entry="bomb")["session_id"] == 1
        # Layer 2 (a pids.max per session) needs the pids controller on cgroup2: where it is
        # bound to v1, as here, the daemon says there is none and layer 1 must hold alone.
        assert "no pids controller for the session groups" in daemon.log.read_text()
        launched = time.monotonic()
        wait_for(lambda: current(budget) >= BUDGET, 30)  # the budget is full
        daemon.kill9()
        time.sleep(0.5)
        assert current(budget) >= BUDGET - 2  # the bomb took the daemon's tasks as well
        alive = time.monotonic() - launched  # it ran at least this long: to the next start
        with pytest.raises(AssertionError, match="did not start"):
            daemon.start()  # cannot start a thread: it stops the sessions and exits
        assert daemon.process is not None and daemon.process.returncode != 0
        said = daemon.log.read_text()
        assert "killed every session" in said, said[-3000:]
        none_left(token)
        ran = time.monotonic() - launched  # at least this long: it is all charged
        # (the killed are reaped by pid 1, which may take a moment: they count till then)
        wait_for(lambda: current(budget) < BUDGET // 2, 30)
        daemon.start()  # the budget is free again: a normal start
        assert daemon.call("status")["sessions"] == []
        ended = daemon.audit("session_ended")
        assert [e["session_id"] for e in ended] == [1], ended
        assert ended[0]["reason"] == "recovered_after_crash", ended
        # The time it ran is charged, none given: up to the failed start's stop, when the
        # alarm the first daemon left (it holds the deadlines until a daemon's own does,
        # review-14-s19 H1) saw it end, else up to this start's look; never less.
        assert ended[0]["charged_s"] >= alive, (alive, ran, ended)
        daemon.stop()
    finally:
        if daemon.running():
            assert daemon.process is not None
            daemon.process.kill()
            daemon.process.wait()
        remove_session_groups(daemon.state)
