"""A due stop goes before any answer: however many clients wait for `status`, no answer
shows a session past its deadline that nothing is stopping (issue 13)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

from shepherd.ipc.client import Client

from .conftest import policy

HOUSEHOLD = "".join(
    f'[[entries]]\nid = "e{i}"\ncommand = ["sleep", "3600"]\n'
    f'limits = {{ daily_quota = "2h", max_run = "1h", cooldown = "10m" }}\n'
    f'windows = [ {{ days = "daily", start = "00:00", end = "24:00" }} ]\n' for i in range(40))


def test_no_answer_shows_a_session_past_its_deadline_that_is_not_being_stopped(
        daemon_factory: Any) -> None:
    daemon = daemon_factory(policy(
        '[[entries]]\nid = "short"\ncommand = ["sleep", "3600"]\n'
        'limits = { max_run = "1s" }\n' + HOUSEHOLD))
    done = threading.Event()

    def flood() -> None:
        with Client(daemon.socket, timeout=60) as client:
            while not done.is_set():
                client.call("status")

    flooders = [threading.Thread(target=flood, daemon=True) for _ in range(12)]
    for thread in flooders:
        thread.start()
    wrong: list[dict[str, Any]] = []
    try:
        with Client(daemon.socket, timeout=60) as client:
            for _ in range(6):
                session_id = client.call("launch", entry="short")["session_id"]
                while True:
                    answer = client.call("status")
                    mine = [s for s in answer["sessions"] if s["id"] == session_id]
                    if not mine:
                        break
                    remaining = mine[0]["remaining_s"]
                    if remaining is not None and remaining < 0 and not mine[0]["stopping"]:
                        wrong.append(mine[0])
    finally:
        done.set()
        for thread in flooders:
            thread.join()
    assert wrong == []
    # A session leaves `status` when it ends; its record is written by the store's own
    # thread just after: wait for the sixth row (on a busy machine it can lag a moment).
    waited = time.monotonic() + 30
    ended = daemon.audit("session_ended")
    while len(ended) < 6 and time.monotonic() < waited:
        time.sleep(0.1)
        ended = daemon.audit("session_ended")
    assert [e["reason"] for e in ended] == ["expired"] * 6


def test_a_deadline_that_passes_while_the_launch_is_being_recorded_still_stops_it(
        daemon_factory: Any) -> None:
    """The store is slow to record a launch (another program holds its write lock for
    1.5 s) and a checkpoint comes meanwhile: the 1 s limit has passed by then, and the
    stop the engine reports at that checkpoint must not be lost."""
    daemon = daemon_factory(policy(
        '[[entries]]\nid = "short"\ncommand = ["sleep", "3600"]\n'
        'limits = { max_run = "1s" }\n'
        '[[entries]]\nid = "long"\ncommand = ["sleep", "3600"]\n',
        users="max_sessions = 2"))
    daemon.call("launch", entry="long")  # its checkpoints tick every half second
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], "
         "isolation_level=None); c.execute('BEGIN IMMEDIATE'); print('locked', flush=True);"
         " time.sleep(1.5); c.execute('COMMIT')", str(daemon.state / "shepherd.db")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    session_id = daemon.call("launch", entry="short")["session_id"]
    holder.wait(30)
    waited = time.monotonic()  # a generous bound for its end, not a speed
    while (any(s["id"] == session_id for s in daemon.call("status")["sessions"])
           and time.monotonic() - waited < 30):
        time.sleep(0.1)
    assert [s["entry"] for s in daemon.call("status")["sessions"]] == ["long"]
    assert [e["reason"] for e in daemon.audit("session_ended")] == ["expired"]
