"""``Alarm.stopped`` (review-9-s8 L1) reads the alarm's ``/proc/PID/stat`` at every
``status`` answer: from a descriptor opened once per process (warn16), so each read must
say the state as it is now, and a new process is read anew, never the old one's."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shepherd.supervisor.alarm import Alarm


@contextmanager
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "60"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def state_is(pid: int, state: str) -> None:
    for _ in range(500):  # a signal is delivered at once; a loaded box may take a moment
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == state:
            return
        time.sleep(0.01)
    raise AssertionError(f"{pid} never reached state {state}")


def test_each_read_says_the_state_now_and_a_new_process_is_read_anew() -> None:
    alarm = Alarm(lambda: None)
    with sleeper() as first, sleeper() as second:
        alarm._process, alarm.ready = first, True
        assert not alarm.stopped
        os.kill(first.pid, signal.SIGSTOP)
        state_is(first.pid, "T")
        assert alarm.stopped  # the same descriptor, read again: stopped now
        os.kill(first.pid, signal.SIGCONT)
        state_is(first.pid, "S")
        assert not alarm.stopped
        os.kill(first.pid, signal.SIGSTOP)
        state_is(first.pid, "T")
        alarm._process = second  # a new alarm process (the old one stopped): its own file
        assert not alarm.stopped
        assert alarm._stat is not None and alarm._stat[0] is second
        os.kill(first.pid, signal.SIGCONT)
    with sleeper() as third:  # the process gone (ESRCH): not stopped, nothing raised
        alarm._process = third
        assert not alarm.stopped
        third.kill()
        third.wait()
        assert not alarm.stopped
    alarm._forget_stat()
    assert alarm._stat is None
