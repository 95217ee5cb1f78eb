"""A TUI that fails says so and exits non-zero: a script or a supervisor can tell."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from typing import Any

from tests.daemon.conftest import ROOT, policy
from tests.tui.conftest import nap

NAP = nap("")

# The real ``shepherd tui`` command, with one drawing method made to fail the way a
# bug would: an exception nobody expected, in the middle of the event loop.
FAILING = """
import faulthandler
import sys
# Should it ever hang instead of ending, it says where each thread is and ends.
faulthandler.dump_traceback_later(30, exit=True)
from shepherd.tui.screens.dashboard import DashboardScreen

def broken(self):
    raise RuntimeError("a bug in drawing")

DashboardScreen.redraw = broken
from shepherd.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_on_terminal(argv: list[str], timeout: float = 60.0) -> tuple[int, str]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                               cwd=ROOT, start_new_session=True)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal's other end closed
                    break
                if not chunk:
                    break
                out += chunk
            elif process.poll() is not None:
                break
        code = process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return code, out.decode(errors="replace")


def test_an_unexpected_error_ends_the_tui_with_a_sentence_and_a_failing_status(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    code, shown = run_on_terminal([sys.executable, "-c", FAILING, "tui", "--socket",
                                   str(d.socket)])
    assert code != 0, shown[-4000:]
    assert "a bug in drawing" in shown, shown[-4000:]
    assert "The Shepherd TUI stopped because of an error it did not expect" in shown, \
        shown[-4000:]
    assert d.call("status")["users"]  # the daemon is untouched
