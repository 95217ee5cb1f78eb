"""A session's output descriptor passed out of the session (review 8 s8 L-5) is a pipe to
the session's pump (review-14-s30b H1): capped while the session runs, and of no use once
it ended, through a real daemon and a real program."""

from __future__ import annotations

import os
import socket
import stat
import sys
import time
from pathlib import Path
from typing import Any

from shepherd.supervisor.logs import LOG_CAP_BYTES
from tests.daemon.conftest import policy, wait_for

# The program hands its stdout (the log's descriptor) to a process outside its session,
# as a child's own helper running elsewhere would be handed it, and runs on.
HANDS_IT_OUT = ("import socket, sys, time; s = socket.socket(socket.AF_UNIX); "
                "s.connect(sys.argv[1]); socket.send_fds(s, [b'x'], [1]); time.sleep(600)")


def test_an_output_descriptor_kept_outside_the_session_cannot_fill_the_disk(
        daemon_factory: Any, tmp_path: Path) -> None:
    path = daemon_factory.rundir / "out.sock"
    outside = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    outside.bind(str(path))
    outside.listen(1)
    outside.settimeout(20)
    # Clock checks every 0.2 s (the watchdog's pace): the upkeep that runs with no session.
    d = daemon_factory(policy(f'''
[[entries]]
id = "leaky"
command = ["{sys.executable}", "-c", "{HANDS_IT_OUT}", "{path}"]
'''), env={"WATCHDOG_USEC": "400000"})
    events = d.events()
    session = d.call("launch", entry="leaky")["session_id"]
    connection, _ = outside.accept()
    _, (escaped, *_), _, _ = socket.recv_fds(connection, 1, 1)
    connection.close()
    outside.close()
    log = tmp_path / "state" / "logs" / f"session-{session}.log"
    kept = log.with_name(log.name + ".1")
    try:
        assert stat.S_ISFIFO(os.fstat(escaped).st_mode)  # the pipe, not the log file
        for _ in range(20):  # 1.25 MiB through it while the session runs: capped
            os.write(escaped, b"x" * 65536)
        wait_for(lambda: kept.exists(), 20, "the log rotated")
        time.sleep(0.2)
        assert log.stat().st_size <= LOG_CAP_BYTES and kept.stat().st_size <= LOG_CAP_BYTES
        d.call("stop", session_id=session)
        assert events.next("session_ended")["session_id"] == session
        assert d.call("status")["sessions"] == []
        before = (log.read_bytes(), kept.read_bytes())
        try:  # after the session, none running: the pump is gone with it
            os.write(escaped, b"y" * 4096)
        except BrokenPipeError:
            pass
        else:
            raise AssertionError("written after the session ended")
        time.sleep(0.5)
        assert (log.read_bytes(), kept.read_bytes()) == before
    finally:
        os.close(escaped)
