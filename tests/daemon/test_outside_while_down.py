"""Review 14 s9 M3: a program the child starts outside Shepherd while the daemon is down
(a crash, an upgrade, before it is up at boot) is charged from its process's start
time, not only from the daemon's restart. Real daemon, ``kill -9``, a real program of
``nobody`` started meanwhile, a restart; the seconds compared are a lower bound (what
it surely ran before the restart), never a bound on how fast anything is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shepherd.detect.facts import seconds_since, start_time
from tests.daemon.test_outside import (
    as_nobody,
    bin_dir,
    game_rule,
    gone,
    program,
    session_of,
    start,
)
from tests.supervisor.conftest import NO_CGROUP, wait_for

pytestmark = pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2: {NO_CGROUP}")

__all__ = ["bin_dir"]  # the fixture, used by name

DOWN_S = 3  # how long the program runs with no daemon (at least)


def test_a_program_started_while_the_daemon_was_down_is_charged_from_its_start(
        daemon_factory: Any, bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    d = start(daemon_factory, game_rule(game, 'limits = { max_run = "1h" }'))
    d.kill9()
    child = as_nobody(game, "1000")
    try:
        started = wait_for(lambda: start_time(child.pid))
        wait_for(lambda: seconds_since(started) >= DOWN_S, timeout=60)
        ran_before_restart = seconds_since(started)
        d.start()
        [audited] = wait_for(lambda: [a for a in d.audit("session_started")
                                      if a.get("origin") == "outside"], timeout=60)
        sid = audited["session_id"]
        assert audited["pid"] == child.pid and session_of(d, child.pid) == sid
        d.call("stop", session_id=sid)
        wait_for(lambda: gone(child))
    finally:
        child.kill()
        child.wait()
    [ended] = wait_for(lambda: [a for a in d.audit("session_ended")
                                if a["session_id"] == sid], timeout=60)
    # Charged for the time before the restart too (before: only from the restart on).
    assert ended["charged_s"] >= ran_before_restart, (ended, ran_before_restart)
