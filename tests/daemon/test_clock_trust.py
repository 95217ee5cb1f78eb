"""Clock trust fails closed (issue 8, "What was seen" 6).

``adjtimex`` is filtered by the shipped unit's ``ProtectClock=yes``: its failure
must read as "not synchronised", and synchronisation is then read from
systemd-timesyncd's flag or timedated. A wall clock moved while the daemon was
down, within the same boot, is a clock jump at start like any other.
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shepherd.daemon import system
from shepherd.daemon.system import TimeSync, kernel_synchronized
from shepherd.store import Store
from tests.daemon.conftest import ROOT, policy


class FailingLibc:
    """What a seccomp filter leaves of adjtimex: -1 (EPERM)."""

    def adjtimex(self, buffer: Any) -> int:
        ctypes.set_errno(1)
        return -1


def test_adjtimex_failing_is_unknown_never_synchronised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(system, "_libc", lambda: FailingLibc())
    assert kernel_synchronized() is None
    sync = TimeSync(flag=Path("/nonexistent/synchronized"))
    assert sync.synchronized() is False
    assert sync.needs_timedated()


def test_without_adjtimex_the_timesyncd_flag_is_read(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    sync = TimeSync(kernel=lambda: None, flag=flag)
    assert not sync.synchronized()
    flag.touch()
    assert sync.synchronized() and not sync.needs_timedated()
    # The kernel's answer, when it can be had, comes first.
    assert not TimeSync(kernel=lambda: False, flag=flag).synchronized()


@pytest.mark.parametrize(("answer", "expected"), [("b true", True), ("b false", False),
                                                  (None, False)])
def test_without_adjtimex_or_flag_timedated_is_asked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str | None,
        expected: bool) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    busctl = bin_dir / "busctl"
    if answer is None:  # timedated not reachable
        busctl.write_text("#!/bin/sh\necho 'Failed to connect to bus' >&2\nexit 1\n")
    else:
        busctl.write_text(f"#!/bin/sh\n[ \"$4 $5\" = 'org.freedesktop.timedate1 "
                          f"NTPSynchronized' ] && echo '{answer}'\n")
    busctl.chmod(busctl.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    sync = TimeSync(kernel=lambda: None, flag=tmp_path / "absent")
    assert not sync.synchronized()  # unknown until asked
    sync.refresh()
    assert sync.synchronized() is expected


def test_a_clock_moved_forward_while_the_daemon_was_down_is_a_jump_at_start(
        daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(policy("""
[[entries]]
id = "game"
command = ["sleep", "600"]
limits = { cooldown = "1h" }
"""))
    d.call("launch", entry="game")
    d.call("stop")
    assert d.call("status")["users"][0]["entries"][0]["state"] == "cooldown"
    d.kill9()
    # Same boot: the stored (wall, CLOCK_BOOTTIME) pair says what the wall clock should
    # read now. Moving the system clock a day forward is the same as this pair a day back.
    path = d.state / "clock-anchor"
    anchor = json.loads(path.read_text())
    assert anchor["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    anchor["wall"] = (datetime.fromisoformat(anchor["wall"]) - timedelta(days=1)).isoformat()
    path.write_text(json.dumps(anchor))
    d.start()
    jumps = [j for j in d.audit("clock_jump") if j.get("at_start")]
    assert len(jumps) == 1 and abs(jumps[0]["skew_s"] - 86400) < 120
    synchronized = system.clock_synchronized()
    assert jumps[0]["followed"] is synchronized
    status = d.call("status")
    if not synchronized:
        # Not trusted: the cooldown still holds and the parent is asked to accept it.
        assert status["clock_jump_pending"]
        assert status["users"][0]["entries"][0]["state"] == "cooldown"
        now = datetime.fromisoformat(status["now"])
        assert abs((datetime.now(UTC) - timedelta(days=1) - now).total_seconds()) < 120


def test_the_clock_anchor_keeps_boot_time_and_the_store_the_trusted_wall(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy('[[entries]]\nid = "nap"\ncommand = ["sleep", "600"]\n'),
                       env={"WATCHDOG_USEC": "400000"})  # clock checks every 0.2 s
    time.sleep(0.6)
    d.kill9()
    anchor = json.loads((d.state / "clock-anchor").read_text())
    assert set(anchor) == {"boot_id", "wall", "boot", "mono"}
    assert abs(anchor["boot"] - time.clock_gettime(time.CLOCK_BOOTTIME)) < 5
    # The store keeps the trusted wall too (checked after a reboot), though less often.
    store = Store.open_readonly(d.state / "shepherd.db")
    try:
        assert store.trusted_wall() is not None
    finally:
        store.close()


FAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))), None)


@pytest.mark.skipif(FAKETIME is None, reason="libfaketime is not installed (.ci/run installs it)")
def test_a_jump_the_clock_is_put_back_from_is_no_longer_pending(
        daemon_factory: Any, tmp_path: Path) -> None:
    """Review of issue 8, finding 4: the wall clock moved a day forward, then put back;
    "The system clock jumped" stayed on every status until a parent accepted a clock
    that was right again. Only the daemon's wall clock is moved (libfaketime), not the
    machine's; CLOCK_MONOTONIC and CLOCK_BOOTTIME stay real."""
    if system.clock_synchronized():
        pytest.skip("the system clock is synchronised here: a jump would be followed")
    offset = tmp_path / "wall-offset"
    offset.write_text("+0\n")
    faked = {"LD_PRELOAD": str(FAKETIME), "FAKETIME_TIMESTAMP_FILE": str(offset),
             "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1", "NO_FAKE_STAT": "1"}
    d = daemon_factory(policy("""
[[entries]]
id = "game"
command = ["sleep", "600"]
limits = { cooldown = "1h" }
"""), env={**faked, "WATCHDOG_USEC": "2000000"})  # a clock check every second
    d.call("launch", entry="game")
    d.call("stop")
    assert not d.call("status")["clock_jump_pending"]
    offset.write_text("+1d\n")
    deadline = time.monotonic() + 30
    while not d.call("status")["clock_jump_pending"]:
        assert time.monotonic() < deadline, "the jump was not seen"
        time.sleep(0.2)
    assert d.call("health")["pending_clock_jump"]
    # The child's terminal reads the same (wrong) clock: the rest ends in an hour by
    # Shepherd's clock, which is what the refusal must say, not "yesterday at ...".
    refused = subprocess.run(
        [sys.executable, "-m", "shepherd", "--socket", str(d.socket), "launch", "game"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **faked})
    assert refused.returncode == 3, refused.stderr
    assert "rest until" in refused.stderr and "yesterday" not in refused.stderr, refused.stderr
    offset.write_text("+0\n")
    deadline = time.monotonic() + 30
    while d.call("status")["clock_jump_pending"]:
        assert time.monotonic() < deadline, "the jump stayed pending after the clock was put back"
        time.sleep(0.2)
    assert not d.call("health")["pending_clock_jump"]
    assert d.call("clock.accept")["accepted"] is False  # nothing left to accept
    deadline = time.monotonic() + 10  # (the row is written by the store's thread, after)
    while len(rows := d.audit("clock_jump")) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [r.get("restored", False) for r in rows] == [False, True]
    assert abs(rows[0]["skew_s"] - 86400) < 120 and abs(rows[1]["skew_s"]) < 60


def test_the_c_library_is_loaded_once_however_often_the_clock_is_asked() -> None:
    # Each ctypes.CDLL made classes of its own (about 30 KiB in reference cycles), once
    # per clock check: memory churn that only a full collection gave back.
    system._libc.cache_clear()
    first = system._libc()
    for _ in range(3):
        system.kernel_synchronized()
    assert system._libc() is first
    assert system._libc.cache_info().misses == 1
