"""Review 9-s9 M3 and extend9's note: a session's end must not wait on the event loop for
the alarm's answer (how late its SIGTERM was). It did, up to 0.6 s (``asking.wait``),
and with thousands of processes the wait began before the daemon had even asked: the
loop answered nobody meanwhile.

A fake alarm answers its ``disarm`` only once the loop has run a callback queued after
the end (or after 5 s). The end's record must carry the alarm's figures (and a ``stop``
waiting for the end must not hear of it before them: its books would lack them), and
the loop must have run that callback while the alarm had not answered yet: order, not
time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from shepherd.supervisor.direct import DirectBackend, DirectSession

GATE_S = 5.0  # far beyond the old wait (0.6 s): a loop that waited is seen, not timed


class GatedAlarm:
    """Answers ``disarm`` with the figures of a fired SIGTERM once ``gate`` is set."""

    ready = True

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.opened_by_loop = False

    def disarm(self, session: int) -> dict[str, object]:
        self.opened_by_loop = self.gate.wait(GATE_S)
        return {"state": "fired", "woke_ms": 0.5, "sent_ms": 1.5}


def test_an_end_never_waits_on_the_loop_for_the_alarms_figures(tmp_path: Path) -> None:
    backend = DirectBackend(tmp_path / "logs", "t", use_cgroups=False)
    alarm = GatedAlarm()
    backend.alarm = alarm  # type: ignore[assignment]
    told: list[dict[str, Any] | None] = []

    async def main() -> None:
        ended = asyncio.Event()

        def on_empty(session_id: int) -> None:
            told.append(backend.sigterm_report(session_id))
            ended.set()

        session = DirectSession(7, on_empty)
        backend.sessions[7] = session
        backend._armed[7] = time.monotonic() - 1.0  # its deadline passed: the alarm held it
        loop = asyncio.get_running_loop()
        backend._ended(session)  # (its programs are gone)
        # A stop waiting for the end would close the books now, without the figures.
        assert not session.ended.is_set(), "told ended before the alarm's figures came"
        loop.call_soon(alarm.gate.set)  # runs only if the end left the loop free
        await asyncio.wait_for(ended.wait(), GATE_S * 2)

    asyncio.run(main())
    assert alarm.opened_by_loop, "the session's end held the loop until the alarm answered"
    assert told == [{"by": "alarm", "late_ms": 1.5, "woke_ms": 0.5}], (
        "the end was recorded before the alarm's figures came")
    assert 7 not in backend.sessions


def test_a_passed_deadline_dropped_by_the_loops_next_word_still_gets_its_figures(
        tmp_path: Path) -> None:
    """At load the loop's next word (its deadlines without the session now stopping)
    reached the backend before the thread that sends the SIGTERM read the deadline: the
    SIGTERM went with no figures, and the audit of the end had no ``sigterm``."""
    backend = DirectBackend(tmp_path / "logs", "t", use_cgroups=False)
    session = DirectSession(7, lambda _: None)
    backend.sessions[7] = session
    backend.arm({7: time.monotonic() - 0.01})  # the guard's word: its deadline passed
    backend.arm({})  # the loop's next word: it is stopping
    sender = threading.Thread(target=backend._sigterm_once, args=(session,))
    sender.start()
    sender.join()
    report = backend.sigterm_report(7)
    assert report is not None and report["by"] == "daemon thread", report
