"""A due stop goes before any answer: however many clients wait for `status`, no answer
shows a session past its deadline that nothing is stopping (issue 13)."""

from __future__ import annotations

import threading
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
    seen_running = 0
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
                    seen_running += 1
                    remaining = mine[0]["remaining_s"]
                    if remaining is not None and remaining < 0 and not mine[0]["stopping"]:
                        wrong.append(mine[0])
    finally:
        done.set()
        for thread in flooders:
            thread.join()
    assert seen_running >= 6
    assert wrong == []
    ended = daemon.audit("session_ended")
    assert [e["reason"] for e in ended] == ["expired"] * 6
