"""A child's shell loop of short programs and subshells does not stall the daemon
(review 10, s8, F1).

``while :; do /bin/true & ( : ) & done`` as the child: each ``/bin/true`` is gone
when its exec is read, so what its parent forked after it was looked at, all of it
(up to 4096 remembered forks), for every start, and a whole batch of starts without
the event loop having a turn: for minutes a refused program ran unrefused and the
socket answered nobody. Here a bounded storm (as ``nobody``, at most 12 s) runs while
a refused program starts: it is stopped, and ``status`` answered, before the storm
ends (causality, not milliseconds).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from tests.daemon.test_outside import as_nobody, bin_dir, gone, program, start
from tests.supervisor.conftest import wait_for

__all__ = ["bin_dir"]  # the fixture, used here

STORM_S = 12


def test_a_shell_loop_of_programs_and_subshells_does_not_stall_the_daemon(
        daemon_factory: Any, bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    hour = time.localtime().tm_hour
    shut = f'start = "{(hour + 2) % 24:02d}:00", end = "{(hour + 3) % 24:02d}:00"'
    d = start(daemon_factory, f'''
[[entries]]
id = "game"
command = ["{game}", "1000"]
windows = [ {{ days = "daily", {shut} }} ]
detect = {{ exe = "{game}" }}
''')
    running, ended = bin_dir / "running", bin_dir / "ended"
    bin_dir.chmod(0o777)
    storm = as_nobody("/bin/sh", "-c", f'''
end=$(( $(date +%s) + {STORM_S} )); i=0
while [ "$(date +%s)" -lt "$end" ] && [ "$i" -lt 20000 ]; do
  /bin/true & ( : ) & i=$((i + 1))
  [ "$i" = 300 ] && : > {running}
done
wait; : > {ended}''')
    try:
        wait_for(running.exists, STORM_S)
        events = d.events()
        child = as_nobody(game, "1000")
        denied = events.next("launch_denied", timeout=60)
        wait_for(lambda: gone(child), 60)
        answered = d.call("status")
        assert not ended.exists(), "the refusal came only after the storm"
        assert denied["pid"] == child.pid and child.returncode == -signal.SIGKILL
        assert answered["sessions"] == []
    finally:
        os.killpg(storm.pid, signal.SIGKILL)
        storm.wait()
