"""A session's log descriptor passed out of the session is still capped after it ends
(review 8 s8 L-5), through a real daemon and a real program."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

from shepherd.supervisor.logs import LOG_CAP_BYTES
from tests.daemon.conftest import policy, wait_for

# The program hands its stdout (the log's descriptor) to a process outside its session,
# as a child's own helper running elsewhere would be handed it, and runs on.
HANDS_IT_OUT = ("import socket, sys, time; s = socket.socket(socket.AF_UNIX); "
                "s.connect(sys.argv[1]); socket.send_fds(s, [b'x'], [1]); time.sleep(600)")


def test_a_log_descriptor_kept_outside_the_session_cannot_fill_the_disk(
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
    try:
        d.call("stop", session_id=session)
        assert events.next("session_ended")["session_id"] == session
        assert d.call("status")["sessions"] == []
        os.write(escaped, b"x" * (LOG_CAP_BYTES + 4096))  # after the session, none running
        wait_for(lambda: log.stat().st_size <= LOG_CAP_BYTES, 20, "the log capped")
        assert log.with_name(log.name + ".1").stat().st_size == LOG_CAP_BYTES
    finally:
        os.close(escaped)
