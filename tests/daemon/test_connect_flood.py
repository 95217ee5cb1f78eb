"""One uid's flood of connections cannot keep everyone else out (review 14 s10 M1).

Eight processes of a child (or twelve stranger uids) connect and close in a tight loop.
Before, they kept the daemon's queue of connections (64) full: a parent's ``status``
waited 19-24 s, and would have given up at 30 s. The bounds asserted here are generous,
for a busy machine: the parent's connection is taken within 5 s during a 10 s flood,
and its ``status`` is answered. How long the answer then takes is not asserted: the
flood's processes take CPU from everyone at their priority, the daemon too (the test
runs all of them at nice 19), and that is not the socket's to give back. The figures before and
after are in the developer note.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from shepherd.ipc.client import Client
from tests.daemon.test_outside import system_policy

HERE = Path(__file__).resolve().parent
OTHER_PYTHON = "/usr/bin/python3"
NOBODY = 65534
STRANGERS = list(range(5001, 5013))  # no accounts, in no policy
FLOOD_S = 10.0

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run other uids"),
    pytest.mark.skipif(not os.access(OTHER_PYTHON, os.X_OK), reason="no system python3"),
]


def flood(socket_path: Path, uid: int) -> subprocess.Popen[str]:
    return subprocess.Popen([OTHER_PYTHON, str(HERE / "connect_flood.py"), str(socket_path),
                             str(FLOOD_S)],
                            user=uid, group=uid, extra_groups=[], cwd="/",
                            stdout=subprocess.PIPE, text=True)


@pytest.mark.parametrize("who", ["child", "strangers"])
def test_a_flood_of_connections_leaves_a_parent_answered(daemon_factory: Any, who: str) -> None:
    d = daemon_factory(system_policy(""), system_mode=True)
    os.chmod(d.socket.parent, 0o755)
    os.chmod(d.socket, 0o666)
    uids = [NOBODY] * 8 if who == "child" else STRANGERS
    flooders = [flood(d.socket, uid) for uid in uids]
    try:
        time.sleep(2)  # the flood is on
        started = time.monotonic()
        with Client(d.socket) as client:
            connected = time.monotonic() - started
            sessions = client.call("status")["sessions"]
        took = time.monotonic() - started
    finally:
        counts = [f.communicate(timeout=60)[0].split() for f in flooders]
    assert connected < 5.0, (f"a parent waited {connected:.1f} s for the daemon to take "
                             "its connection")
    assert sessions == [], f"status took {took:.1f} s"
    assert sum(int(tried) for tried, _ in counts) > 1000, counts  # it was a flood
    assert d.call("health")["ok"]
