"""A process whose main thread exited while another thread runs is running, and what it
runs is read through that thread (review 8 s5, finding 1). No root needed: a process
of our own, read through ``/proc``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shepherd.detect.facts import Needs, read_facts, running_since, same_content, start_time
from shepherd.supervisor.cgroups import cgroup_of
from shepherd.supervisor.proctree import live_thread, task_dir, tgid_of

LEADERLESS = """\
import ctypes, threading, time
def work():
    while True:
        time.sleep(1)
threading.Thread(target=work).start()
ctypes.CDLL(None).pthread_exit(None)
"""


def leader_gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] == "Z" and len(os.listdir(f"/proc/{pid}/task")) > 1


@pytest.fixture
def leaderless(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    script = tmp_path / "leaderless.py"
    script.write_text(LEADERLESS)
    process = subprocess.Popen([sys.executable, "-S", "-I", str(script), "leaderless-mark"])
    try:
        deadline = time.monotonic() + 10
        while not leader_gone(process.pid):
            assert time.monotonic() < deadline, "its main thread never exited"
            time.sleep(0.02)
        yield process
    finally:
        process.kill()
        process.wait()


def test_it_is_running_and_its_facts_are_read_through_a_live_thread(
        leaderless: subprocess.Popen[bytes]) -> None:
    pid = leaderless.pid
    assert running_since(pid) == start_time(pid) is not None
    tid = live_thread(pid)
    assert tid is not None and tid != pid and tgid_of(tid) == pid
    assert task_dir(pid) == f"/proc/{pid}/task/{tid}"
    facts = read_facts(pid, Needs(exe=True, cmdline=True, desktop=True))
    assert facts is not None
    assert facts.exe == os.path.realpath(sys.executable)
    assert facts.argv[-1] == "leaderless-mark"
    assert facts.cgroup == cgroup_of(pid) == cgroup_of(f"{pid}/task/{tid}")
    assert same_content(f"{task_dir(pid)}/exe", sys.executable)


def test_once_every_thread_has_exited_it_is_gone(
        leaderless: subprocess.Popen[bytes]) -> None:
    pid = leaderless.pid
    os.kill(pid, 9)  # not reaped: a zombie whose every thread has exited
    deadline = time.monotonic() + 10
    while os.listdir(f"/proc/{pid}/task") != [str(pid)]:
        assert time.monotonic() < deadline, "its threads never exited"
        time.sleep(0.02)
    assert Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"  # not reaped yet
    assert running_since(pid) is None
    assert live_thread(leaderless.pid) is None
    assert read_facts(leaderless.pid, Needs(exe=True)) is None
