"""Review 14 s9 H2: a child's long command lines against a ``cmdline`` rule do not hold
up a deadline.

The child (``nobody``) starts processes whose command line is ``"java java ..."`` just
under ``MAX_CMDLINE`` (searched whole; 256 KiB in s9, what the daemon read of a command
line before; a longer one now counts as every cmdline rule, unsearched:
``test_outside_bigargv.py``), against the example policy's own rule
``cmdline = "java .*minecraft"``. A backtracking engine searched each
in about 20 s on the daemon's loop, holding the GIL, so the SIGKILL of a program that
ignores its deadline's SIGTERM waited (about 65 s with three such processes). Here a
session of such a program runs meanwhile and must end in order: SIGTERM at its
deadline, SIGKILL after the grace, the books kept. Real daemon, real processes, real
uids and signals; what is measured is the order of things, plus a generous bound on
waiting (a backtracking search would take several times longer than it).
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from shepherd.detect.facts import MAX_CMDLINE
from tests.daemon.conftest import marked_processes
from tests.daemon.test_outside import as_nobody, bin_dir, gone, program, start
from tests.supervisor.conftest import NO_CGROUP, wait_for

pytestmark = pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2: {NO_CGROUP}")

__all__ = ["bin_dir"]  # the fixture, used by name

HOSTILE = 8  # processes; a backtracking search of each held the loop ~5-50 s here
HOSTILE_LIFE_S = 20  # how long each lives: the session must end (deadline 4 s) before they do
DEAF = "trap '' TERM HUP; exec \"$0\" 1000"  # ignores SIGTERM, as its program


def hostile_arguments() -> list[str]:
    """'java' repeated to just under MAX_CMDLINE (searched whole, never cut)."""
    return ["java"] * ((MAX_CMDLINE - 4096) // len("java "))


def test_long_command_lines_against_a_cmdline_rule_do_not_hold_up_a_deadline(
        daemon_factory: Any, bin_dir: Path) -> None:
    deaf = program(bin_dir, "deaf")
    token = uuid.uuid4().hex  # (no other test's java lines are this entry's)
    d = start(daemon_factory, f'''
[[entries]]
id = "minecraft"
command = ["/usr/bin/prismlauncher"]
detect = {{ cmdline = "java .*minecraft-{token}" }}
limits = {{ daily_quota = "0s" }}

[[entries]]
id = "deaf"
command = ["/bin/sh", "-c", "{DEAF.replace('"', chr(92) + '"')}", "{deaf}"]
limits = {{ max_run = "4s" }}
''', supervisor='stop_grace = "1s"')
    events = d.events()
    sid = d.call("launch", entry="deaf", user="nobody")["session_id"]
    hostile: list[subprocess.Popen[bytes]] = []
    try:
        # ``; :`` keeps the shell (and its long command line) alive: no exec of sleep.
        for _ in range(HOSTILE):
            hostile.append(as_nobody("/bin/sh", "-c", f"sleep {HOSTILE_LIFE_S}; :",
                                     *hostile_arguments()))
        ended = events.next("session_ended", timeout=180)
        assert ended["session_id"] == sid and ended["reason"] == "expired"
        # Its program ignored the SIGTERM: the SIGKILL after the grace ended it while the
        # hostile processes still ran (the order of two events, no time measured): with
        # a backtracking search the loop was held until after they had ended.
        assert [p.pid for p in hostile if gone(p)] == []
        assert marked_processes(str(deaf)) == []
    finally:
        for process in hostile:
            process.kill()
            process.wait()
    [audited] = [a for a in d.audit("session_ended") if a["session_id"] == sid]
    # Sent at its deadline by the guard's thread or the alarm process, whichever first, or
    # by the loop's own stop (on a thread) when it came first: at load 111 (CI beside the
    # reliability run's 64 clients) it did, which shows the loop was not held up either.
    assert audited["sigterm"]["by"] in ("alarm", "guard thread", "daemon thread"), audited
    assert d.call("status")["sessions"] == []
    # The daemon answers (the loop is free) and the hostile lines matched nothing.
    assert d.call("health") is not None
    assert not [a for a in d.audit("session_started") if a.get("entry") == "minecraft"]
    wait_for(lambda: all(gone(p) for p in hostile))
