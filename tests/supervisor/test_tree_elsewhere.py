"""Another daemon's process-tree session, told by its keeper (review 14 s10 M2); how a
keeper says its program ended; the words for a program killed from elsewhere.

The daemons themselves: ``test_two_daemons.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from shepherd.supervisor.direct import STARTER
from shepherd.supervisor.instance import keeper_of, kept_elsewhere
from shepherd.supervisor.starter import SIGNALLED, ended_status
from shepherd.words.events import end_reason
from tests.supervisor.conftest import ROOT, survivors, wait_for

OTHER = "0123456789ab"  # the keeper's instance
OURS = "fedcba987654"
CHILD_PYTHON = "/usr/bin/python3"  # run as the child: the test's own may sit in root's home


@pytest.fixture
def keeper() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A real keeper of instance ``OTHER``, run as root (as a system daemon runs it), whose
    program runs as nobody and leaves an orphan of its own (``setsid``, double fork: it
    comes back to the keeper); the keeper and the token its two ``sleep`` carry."""
    token = f"1000.{random.randint(10**8, 10**9 - 1)}"
    read, write = os.pipe2(os.O_CLOEXEC)
    spec = {"command": ["/bin/sh", "-c", f"(setsid sleep {token} &); exec sleep {token}"],
            "uid": 65534, "gid": 65534, "groups": [], "cwd": "/", "cgroup": None,
            "instance": OTHER, "session": 7, "status_fd": write}
    process = subprocess.Popen([sys.executable, "-I", "-S", STARTER, json.dumps(spec)],
                               pass_fds=(write,), start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read, "rb") as status:
            assert status.read() == b""  # started
        # Both are ``sleep`` by now: the shell's subshell also carries the token until it
        # exits, and counted at that moment made two too early (ci33b: 1 == 2 then).
        wait_for(lambda: sleeping(token) == 2)
        yield process, token
    finally:
        process.send_signal(signal.SIGUSR1)  # the keeper kills all it keeps, then exits
        process.wait(10)


def sleeping(token: str) -> int:
    """How many of the token's processes run ``sleep`` (not the shell before its exec)."""
    sleep = os.path.realpath(shutil.which("sleep") or "/bin/sleep")
    count = 0
    for pid in survivors(token):
        with contextlib.suppress(OSError):
            count += os.path.realpath(f"/proc/{pid}/exe") == sleep
    return count


@ROOT
def test_what_a_root_keeper_of_another_instance_keeps_is_told_and_nothing_else(
        keeper: tuple[subprocess.Popen[bytes], str]) -> None:
    process, token = keeper
    programs = survivors(token)
    assert len(programs) == 2
    for pid in programs:  # its program, and the orphan that came back to it
        assert keeper_of(pid) == (OTHER, 7)
        assert kept_elsewhere(pid, OURS)
        assert not kept_elsewhere(pid, OTHER)  # its own daemon's: not "elsewhere"
    assert not kept_elsewhere(process.pid, OURS)  # the keeper is not in its own session
    assert not kept_elsewhere(os.getpid(), OURS)
    assert not kept_elsewhere(2**22 + 1, OURS)  # no such process


@ROOT
def test_a_keeper_not_run_by_root_is_not_believed() -> None:
    """The same keeper, started by the child themselves: its command line is a keeper's
    to the letter, but its real uid is the child's."""
    token = f"1000.{random.randint(10**8, 10**9 - 1)}"
    read, write = os.pipe2(os.O_CLOEXEC)
    spec = {"command": ["sleep", token], "uid": 65534, "gid": 65534, "groups": [],
            "cwd": "/", "cgroup": None, "instance": OTHER, "session": 7, "status_fd": write}
    process = subprocess.Popen(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", CHILD_PYTHON,
         "-I", "-S", STARTER, json.dumps(spec)], pass_fds=(write,),
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read, "rb") as status:
            assert status.read() == b""
        [pid] = wait_for(lambda: survivors(token))
        assert keeper_of(pid) is None and not kept_elsewhere(pid, OURS)
    finally:
        process.kill()
        process.wait(10)
        for pid in survivors(token):
            os.kill(pid, signal.SIGKILL)


def test_a_keeper_says_which_signal_ended_its_program() -> None:
    """Wait statuses as ``os.waitpid`` gives them: exit code << 8, or the signal."""
    assert ended_status(0, 0) == 0
    assert ended_status(3 << 8, 3 << 8) == 0  # an exit code is its program's own
    assert ended_status(signal.SIGKILL, signal.SIGKILL) == SIGNALLED + signal.SIGKILL
    # Its program was killed; a helper it left exited after it: the program's signal.
    assert ended_status(signal.SIGSEGV, 0) == SIGNALLED + signal.SIGSEGV
    # A launcher that exited by itself, its game (the last to end) killed.
    assert ended_status(0, signal.SIGTERM) == SIGNALLED + signal.SIGTERM
    assert ended_status(None, signal.SIGKILL) == SIGNALLED + signal.SIGKILL
    assert SIGNALLED + max(signal.valid_signals()) < 256  # (an exit status is one byte)


def test_a_program_killed_from_elsewhere_is_said_so_in_words_a_parent_reads() -> None:
    assert end_reason("killed", "SIGKILL") == "it was killed (SIGKILL), not by Shepherd"
    assert end_reason("killed", "SIGSEGV") == "it crashed (SIGSEGV)"
    assert end_reason("killed") == "it was killed (a signal), not by Shepherd"
    assert end_reason("exited", "SIGKILL") == "it was closed"
