"""A stranger's many idle connections cannot take the daemon's descriptors (review 14 s9 H1).

The daemon runs with a small descriptor limit (256, soft and hard), so a stranger (a uid
not in the policy) reaches it with a few hundred connections. The daemon must keep enough
for its own work: a session whose program ignores SIGTERM still ends at its deadline
(the SIGKILL opens ``cgroup.kill``), and a parent is still answered.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import DaemonProcess, marked_processes, marker_for, policy

HERE = Path(__file__).resolve().parent
OTHER_PYTHON = "/usr/bin/python3"
STRANGER_UID = 4243  # no account, not in any policy
LIMIT = 256

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a stranger's uid"),
    pytest.mark.skipif(not os.access(OTHER_PYTHON, os.X_OK), reason="no system python3"),
    pytest.mark.skipif(not os.access("/usr/bin/prlimit", os.X_OK), reason="no prlimit"),
]


def stranger_flood(d: Any, count: int, seconds: float) -> subprocess.Popen[str]:
    os.chmod(d.socket, 0o666)
    os.chmod(d.socket.parent, 0o755)
    return subprocess.Popen([OTHER_PYTHON, str(HERE / "stranger_flood.py"), str(d.socket),
                             str(count), str(seconds)],
                            user=STRANGER_UID, group=STRANGER_UID, extra_groups=[],
                            stdout=subprocess.PIPE, text=True, cwd="/")


def deaf_daemon(daemon_factory: Any, tmp_path: Path,
                max_run: str | None) -> tuple[DaemonProcess, str]:
    """A daemon started at LIMIT descriptors (``prlimit``) whose entry ``deaf`` ignores
    SIGTERM (so only its SIGKILL, ``cgroup.kill``, ends it), stopped after a 1 s grace;
    and the marker its processes carry."""
    marker = marker_for(tmp_path)
    limits = f'limits = {{ max_run = "{max_run}" }}\n' if max_run else ""
    text = policy(f"""
[[entries]]
id = "deaf"
command = ["sh", "-c", "trap '' TERM HUP; while :; do sleep 1; done; : {marker}"]
{limits}""", supervisor='stop_grace = "1s"')
    d = DaemonProcess(text, tmp_path, daemon_factory.rundir)
    d.prefix = ["/usr/bin/prlimit", f"--nofile={LIMIT}:{LIMIT}", "--"]
    d.start()
    return d, marker


def test_a_strangers_idle_connections_leave_the_daemon_its_descriptors(
        daemon_factory: Any, tmp_path: Path) -> None:
    d, marker = deaf_daemon(daemon_factory, tmp_path, "8s")
    try:
        events = d.events()
        d.call("launch", entry="deaf")
        assert marked_processes(marker), "the program did not start"
        flood = stranger_flood(d, 3 * LIMIT, 25.0)
        try:
            ended = events.next("session_ended", timeout=60)  # SIGTERM ignored: the SIGKILL
            assert ended["reason"] == "expired"
            gone = time.monotonic() + 10
            while marked_processes(marker) and time.monotonic() < gone:
                time.sleep(0.1)
            assert marked_processes(marker) == [], "the program outlived its deadline"
            # During the flood, a parent is still answered, in full.
            assert d.call("health")["ok"]
            assert d.call("status")["sessions"] == []
        finally:
            opened = int(flood.communicate(timeout=60)[0])
        assert opened >= LIMIT  # it did try for more than the daemon's descriptors
        events.close()
    finally:
        d.stop()
        subprocess.run(["pkill", "-KILL", "-f", marker], check=False)
    log = d.log.read_text()
    assert "Too many open files" not in log
    assert "out of system resource" not in log
    assert f"descriptors: {LIMIT}" in log  # the limits are said at start


def test_the_daemon_raises_its_descriptor_limit_and_programs_get_back_theirs(
        daemon_factory: Any, tmp_path: Path) -> None:
    out = tmp_path / "nofile.txt"
    text = policy(f"""
[[entries]]
id = "count"
command = ["sh", "-c", "ulimit -n > {out}"]
""")
    d = DaemonProcess(text, tmp_path, daemon_factory.rundir)
    d.prefix = ["/usr/bin/prlimit", "--nofile=200:4096", "--"]
    d.start()
    try:
        events = d.events()
        d.call("launch", entry="count")
        events.next("session_ended", timeout=60)
        events.close()
        assert out.read_text().strip() == "200"
    finally:
        d.stop()
    assert "descriptors: 4096 (hard limit 4096)" in d.log.read_text()


def test_a_stop_that_fails_for_want_of_descriptors_is_tried_again(
        daemon_factory: Any, tmp_path: Path) -> None:
    """The deadline's SIGKILL cannot open ``cgroup.kill`` while the daemon has no descriptor
    left (its limit lowered below what it holds, from outside): once it has, the SIGKILL is
    sent; the stop was not given up (review 14 s9 H1: the program ran on for good)."""
    d, marker = deaf_daemon(daemon_factory, tmp_path, "5s")
    assert d.process is not None
    pid = d.process.pid
    try:
        events = d.events()
        d.call("launch", entry="deaf")
        assert marked_processes(marker), "the program did not start"
        # No descriptor to be had: the limit below what it holds (those stay open).
        subprocess.run(["/usr/bin/prlimit", f"--pid={pid}", f"--nofile=8:{LIMIT}"], check=True)
        try:
            give_up = time.monotonic() + 60
            # Past the deadline (its SIGTERM sent by the alarm or by the guard thread,
            # whichever took the session's token), and short of descriptors.
            while not (re.search(r"SIGTERM (was )?sent", log := d.log.read_text())
                       and "Too many open files" in log):
                assert time.monotonic() < give_up, "the stop never ran short of descriptors"
                time.sleep(0.2)
            time.sleep(3)  # past its grace (1 s): its SIGKILL was tried, and failed
            assert marked_processes(marker), "the program ended without its SIGKILL"
        finally:
            subprocess.run(["/usr/bin/prlimit", f"--pid={pid}", f"--nofile={LIMIT}:{LIMIT}"],
                           check=True)
        assert events.next("session_ended", timeout=60)["reason"] == "expired"
        gone = time.monotonic() + 10
        while marked_processes(marker) and time.monotonic() < gone:
            time.sleep(0.1)
        assert marked_processes(marker) == [], "the program outlived its deadline"
        assert d.call("status")["sessions"] == []
        events.close()
    finally:
        d.stop()
        subprocess.run(["pkill", "-KILL", "-f", marker], check=False)


def test_a_clean_stop_short_of_descriptors_leaves_no_program_running(
        daemon_factory: Any, tmp_path: Path) -> None:
    """SIGTERM to the daemon while it cannot open ``cgroup.kill``: it exits only once the
    session's program is gone (review 14 s9 H1: it exited at once and left it running)."""
    d, marker = deaf_daemon(daemon_factory, tmp_path, None)
    assert d.process is not None
    pid = d.process.pid
    try:
        d.call("launch", entry="deaf")
        assert marked_processes(marker), "the program did not start"
        subprocess.run(["/usr/bin/prlimit", f"--pid={pid}", f"--nofile=8:{LIMIT}"], check=True)
        try:
            d.process.terminate()
            give_up = time.monotonic() + 60
            while "cgroup.kill'" not in d.log.read_text() and d.process.poll() is None:
                assert time.monotonic() < give_up, "the daemon's stop never tried its SIGKILL"
                time.sleep(0.2)
        finally:
            subprocess.run(["/usr/bin/prlimit", f"--pid={pid}", f"--nofile={LIMIT}:{LIMIT}"],
                           check=False)
        d.process.wait(timeout=60)
        assert marked_processes(marker) == [], "the daemon stopped and left the program running"
    finally:
        d.stop()
        subprocess.run(["pkill", "-KILL", "-f", marker], check=False)
