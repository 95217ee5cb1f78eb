"""A due stop goes before any answer: however many clients wait for `status`, no answer
shows a session past its deadline that nothing is stopping (issue 13)."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shepherd.ipc.client import Client
from shepherd.ipc.protocol import RpcError
from tests.daemon.namespaces import Namespace, NamespacedDaemon

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


@pytest.fixture
def stalling_disk_daemon(tmp_path: Path) -> Iterator[Callable[[str], NamespacedDaemon]]:
    """A daemon whose state lives on an ext4 image that the test can freeze (``fsfreeze``):
    a disk that stalls every write, the daemon's store among them, until thawed."""
    if os.geteuid() != 0 or shutil.which("fsfreeze") is None:
        pytest.skip("needs root and fsfreeze")
    rundir = Path(tempfile.mkdtemp(prefix="shp"))
    made: list[NamespacedDaemon] = []

    def make(policy_text: str) -> NamespacedDaemon:
        namespace = Namespace(tmp_path / "state", "32M", image=tmp_path / "disk.img")
        daemon = NamespacedDaemon(namespace, policy_text, tmp_path, rundir)
        made.append(daemon)
        return daemon.start()

    yield make
    for daemon in made:
        daemon.namespace.run("fsfreeze", "-u", str(daemon.state))  # never left frozen
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.stop()
        daemon.namespace.close()
    shutil.rmtree(rundir, ignore_errors=True)


def test_a_deadline_that_passes_while_the_launch_is_being_recorded_still_stops_it(
        stalling_disk_daemon: Any) -> None:
    """The store is slow to record a launch (its disk stalls for 1.5 s) and a checkpoint
    comes meanwhile: the 1 s limit has passed by then, and the stop the engine reports at
    that checkpoint must not be lost. (Another program's lock can no longer slow the
    daemon: it holds its store alone; a slow disk still can.)"""
    daemon = stalling_disk_daemon(policy(
        '[[entries]]\nid = "short"\ncommand = ["sleep", "3600"]\n'
        'limits = { max_run = "1s" }\n'
        '[[entries]]\nid = "long"\ncommand = ["sleep", "3600"]\n',
        users="max_sessions = 2"))
    daemon.call("launch", entry="long")  # its checkpoints tick every half second
    frozen = daemon.namespace.run("fsfreeze", "-f", str(daemon.state))
    if frozen.returncode != 0:
        pytest.skip(f"cannot freeze the disk image here: {frozen.stderr.strip()}")
    thawing = threading.Event()

    def thaw() -> None:
        thawing.set()
        daemon.namespace.run("fsfreeze", "-u", str(daemon.state))

    thawer = threading.Timer(1.5, thaw)
    thawer.start()
    try:
        session_id = daemon.call("launch", entry="short")["session_id"]
        assert thawing.is_set()  # the launch waited for its record, and that for the disk
    finally:
        thawer.join()
    waited = time.monotonic()  # a generous bound for its end, not a speed
    while (any(s["id"] == session_id for s in daemon.call("status")["sessions"])
           and time.monotonic() - waited < 30):
        time.sleep(0.1)
    assert [s["entry"] for s in daemon.call("status")["sessions"]] == ["long"]
    ended = daemon.audit("session_ended")
    while not ended and time.monotonic() - waited < 30:  # the row follows the stop
        time.sleep(0.1)
        ended = daemon.audit("session_ended")
    assert [e["reason"] for e in ended] == ["expired"]


def test_an_extend_whose_write_stalls_past_the_deadline_is_too_late_and_not_audited(
        stalling_disk_daemon: Any) -> None:
    """Review 9-s8 M1 (the rest): an extend read before the deadline whose store write is
    held up (a stalled disk, behind another write) until after the deadline, while the
    session's SIGTERM went (its program ignores it). It was answered as a
    success, audited as ``session_extended``, and charged past the limit; it must be
    refused as too late in words, extend nothing (no ``session_extended``, or one taken
    back at once when its write had gone in just before), and charge the limit."""
    daemon = stalling_disk_daemon(policy(
        '[[entries]]\nid = "stubborn"\n'
        'command = ["sh", "-c", "trap \'\' TERM; sleep 100"]\nlimits = { max_run = "4s" }\n'
        '[[entries]]\nid = "long"\ncommand = ["sleep", "3600"]\n',
        supervisor='stop_grace = "10s"', users="max_sessions = 2"))
    session_id = daemon.call("launch", entry="stubborn")["session_id"]
    frozen = daemon.namespace.run("fsfreeze", "-f", str(daemon.state))
    if frozen.returncode != 0:
        pytest.skip(f"cannot freeze the disk image here: {frozen.stderr.strip()}")
    answers: dict[str, Any] = {}

    def call(name: str, method: str, **params: Any) -> None:
        try:
            with Client(daemon.socket, timeout=120) as client:
                answers[name] = client.call(method, **params)
        except Exception as exc:  # the answer under test (an RpcError), kept to look at
            answers[name] = exc

    # A write ahead of the extend's, stalled by the frozen disk (the store's thread
    # takes its writes in order), then the extend: read now, before the deadline.
    ahead = threading.Thread(target=call, args=("ahead", "launch"), kwargs={"entry": "long"})
    ahead.start()
    extend = threading.Thread(target=call, args=("extend", "extend"),
                              kwargs={"session_id": session_id, "duration": "10m"})
    extend.start()
    try:
        sent = f"session {session_id}: its deadline's SIGTERM was sent"
        waited = time.monotonic() + 60
        while sent not in daemon.log.read_text() and time.monotonic() < waited:
            time.sleep(0.05)  # (the daemon's log is not on the frozen disk)
        assert sent in daemon.log.read_text(), "the deadline's SIGTERM never went"
        assert "extend" not in answers, answers  # still waiting for the disk
    finally:
        daemon.namespace.run("fsfreeze", "-u", str(daemon.state))
    extend.join(timeout=60)
    ahead.join(timeout=60)
    answer = answers["extend"]
    assert isinstance(answer, RpcError), f"answered as a success: {answer}"
    assert "too late" in str(answer) and answer.data["code"] == "too_late", answer
    waited = time.monotonic()
    ended = daemon.audit("session_ended")
    while not ended and time.monotonic() - waited < 60:  # after the grace, SIGKILL
        time.sleep(0.2)
        ended = daemon.audit("session_ended")
    assert [e["reason"] for e in ended] == ["expired"]
    assert ended[0]["charged_s"] == 4.0, ended
    # Its write either never went in (the deadline had passed when the store's thread
    # came to it), or went in just before and was taken back: nothing extended in all.
    extended = daemon.audit("session_extended")
    assert sum(e["seconds"] for e in extended) == 0, extended
    assert all(e.get("undone") for e in extended if e["seconds"] < 0), extended
