"""A stopped alarm never holds a deadline's SIGTERM back through the backend's lock.

Seen at load (flaky13, both of ``test_alarm.py``'s stopped-alarm tests, 2 runs in 2
beside four busy loops): the loop reached a deadline first and its next word to the
guard dropped the session (it is stopping); the teller's thread then brought the alarm
in line, asking it to disarm that session *with the backend's lock held* (``_sync``),
and the thread sending the session's SIGTERM waited for that lock until the stopped
alarm's request timed out (``REPLY_TIMEOUT_S``): the SIGTERM went 506 ms late, and
the guard's SIGTERM of the next session 171 ms late behind it.

A fake alarm answers nothing until a gate opens (or ``GATE_S``); the SIGTERM is sent
while the alarm is asked, and opens the gate: order, not time.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from shepherd.supervisor.direct import DirectBackend, DirectSession

GATE_S = 5.0  # far beyond REPLY_TIMEOUT_S: a SIGTERM that waited for the alarm is seen


class StoppedAlarm:
    """Answers a request only once ``gate`` is set (as a stopped alarm, which never does,
    until its request times out)."""

    ready = True

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.gate = threading.Event()
        self.opened_by_sigterm = False

    def disarm(self, session: int) -> dict[str, object]:
        self.asked.set()
        self.opened_by_sigterm = self.gate.wait(GATE_S)
        return {"state": "disarmed"}


def test_a_disarm_the_stopped_alarm_never_answers_does_not_hold_the_sigterm(
        tmp_path: Path) -> None:
    backend = DirectBackend(tmp_path / "logs", "t", use_cgroups=False)
    alarm = StoppedAlarm()
    backend.alarm = alarm  # type: ignore[assignment]
    session = DirectSession(7, lambda _: None)
    backend.sessions[7] = session
    at = time.monotonic() - 0.01
    backend.arm({7: at})  # the guard's word: its deadline passed
    backend._armed[7] = at  # the alarm held it
    # The loop's next word (the session is stopping): the teller asks the alarm to forget it.
    teller = threading.Thread(target=backend.arm, args=({},))
    teller.start()
    assert alarm.asked.wait(GATE_S)

    def send() -> None:
        backend._sigterm_once(session)
        alarm.gate.set()

    sender = threading.Thread(target=send)
    sender.start()
    sender.join()
    teller.join()
    assert alarm.opened_by_sigterm, "the SIGTERM waited for the stopped alarm's answer"
    report = backend.sigterm_report(7)
    assert report is not None and report["by"] == "daemon thread", report
