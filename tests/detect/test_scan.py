"""The /proc scan (no kernel events, or after they were lost) looks at a process again
each time it runs another program, even the same interpreter again (review 10 s8 F3)."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

from shepherd.detect.facts import Needs
from shepherd.detect.scan import ProcScan
from tests.supervisor.conftest import wait_for

CMDLINE = Needs(cmdline=True)  # the rules read command lines


def test_the_same_interpreter_run_again_in_the_same_pid_is_looked_at_again() -> None:
    # A shell seen at one scan execs a shell again, whose command line is the game's (a
    # cmdline rule's): same pid, same start time, same executable. The exec's event was
    # lost: only the next scan can find it.
    token = f"game-{uuid.uuid4().hex}"
    shell = subprocess.Popen(
        ["/bin/sh", "-c", f'read go; exec /bin/sh -c "sleep 1000; : {token}"'],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True)
    assert shell.stdin is not None
    scan, mine = ProcScan(), {os.getuid()}
    cmdline = Path(f"/proc/{shell.pid}/cmdline")
    try:
        # Popen returns once the exec has begun; the command line shows only when it ends
        # (an empty one before: a scan then would look at the shell twice, rightly).
        wait_for(lambda: "read go" in cmdline.read_text())
        wait_for(lambda: shell.pid in [pid for pid, _ in scan.new_processes(mine, CMDLINE)])
        assert shell.pid not in [pid for pid, _ in scan.new_processes(mine, CMDLINE)]  # once
        shell.stdin.write(b"go\n")
        shell.stdin.close()
        # The token is in the first command line too: wait for the second one, whole.
        wait_for(lambda: cmdline.read_text().startswith(f"/bin/sh\0-c\0sleep 1000; : {token}"))
        assert shell.pid in [pid for pid, _ in scan.new_processes(mine, CMDLINE)]
        assert shell.pid not in [pid for pid, _ in scan.new_processes(mine, CMDLINE)]
    finally:
        os.killpg(shell.pid, 9)
        shell.wait()
