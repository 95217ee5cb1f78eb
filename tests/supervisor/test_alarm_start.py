"""The alarm's start (``alarm.Alarm``): one that never says it is ready is replaced.

Review 9-s8 M3: an alarm stopped (SIGSTOP) before its first message neither answered
nor exited, and was waited for forever (``status``: "restarting" for good; deadlines
kept by the daemon's thread alone). Real processes and signals; the wait made short.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from shepherd.supervisor import alarm, ends


def test_an_alarm_stopped_before_it_is_ready_is_replaced(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    monkeypatch.setattr(alarm, "READY_TIMEOUT_S", 1.0)
    monkeypatch.setattr(alarm, "RESTART_S", 0.1)
    mute = tmp_path / "mute.py"  # as the real one, but stopped before it says a word
    mute.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)\n")
    monkeypatch.setattr(alarm, "HELPER", str(mute))

    async def run() -> None:
        served = asyncio.Event()
        keeper = alarm.Alarm(served.set)
        keeper.start()
        first = keeper._process
        assert first is not None
        monkeypatch.setattr(alarm, "HELPER", alarm_helper_path)  # the next one is real
        await asyncio.wait_for(served.wait(), timeout=120)
        assert keeper.state == "serving"
        assert keeper.starts == 2 and keeper.failures == 1
        assert first.returncode == -signal.SIGKILL  # the stopped one was killed, reaped
        assert keeper.pid is not None and keeper.pid != first.pid
        assert keeper.disarm(1) == {"state": "unknown"}  # and the new one answers
        keeper.close()

    alarm_helper_path = str(Path(alarm.__file__).with_name("alarm_helper.py"))
    assert sys.executable and os.path.exists(alarm_helper_path)
    asyncio.run(run())


def test_what_the_last_daemon_left_unemptied_is_emptied_before_the_alarm_notes_anything(
        tmp_path: Path) -> None:
    """Review-9-s14b L-C: the file of ends could be read but not emptied at the start (a
    read-only state directory); the first alarm that can open it empties it before it
    notes anything there (what it held was read: believed again later, an old alarm's
    note could name another session that got the same number)."""
    noted = tmp_path / ends.FILE
    noted.write_text('{"session": 3, "instance": "i1", "by": 1}\n')

    async def run() -> None:
        served = asyncio.Event()
        keeper = alarm.Alarm(served.set, noted, "i1")
        keeper.unemptied = True
        keeper.start()
        await asyncio.wait_for(served.wait(), timeout=60)
        assert keeper.unemptied is False
        keeper.close()

    asyncio.run(run())
    lines = noted.read_text().splitlines()
    assert lines and all('"alarm"' in line for line in lines), lines  # only its own
