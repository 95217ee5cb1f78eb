"""Wake-ups of the daemon while a session is paused, for BENCHMARKS.md (goal: none beyond the
SPEC's idle limit, the once-a-minute clock check).

    python bench/paused_wakeups.py [--seconds 180]

Starts a private ``dbus-daemon`` with the fake logind of the tests on it, and a real
user-mode daemon pointed at it (``DBUS_SYSTEM_BUS_ADDRESS``) with ``WATCHDOG_USEC`` as
the shipped units set it. Launches one session (``sleep``), locks the child's screen,
and counts over the period the voluntary context switches of the daemon's event loop
(its main thread: each is the loop going back to sleep after waking) and of all its
threads (``/proc/PID/task/*/status``: one wake of the loop that hands work to the
store writer and the log capper counts several times there). The same is measured
with the screen unlocked (the session billed, checkpoints twice a second), and with
no session at all; the floor is an idle Python process that only sleeps, in the same
run.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import harness  # noqa: E402

from tests.presence.bus import FakeLogind, PrivateBus  # noqa: E402


def voluntary_switches(pid: int, thread: int | None = None) -> int:
    """Of every thread of ``pid``, or of one (the event loop's is ``pid`` itself)."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob(f"{thread or '*'}/status"):
        for line in status.read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


def drain(notify: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while True:
            notify.recv(4096)


def measure(pid: int, floor: int, seconds: float) -> tuple[int, int, int]:
    """Context switches over the period: all of the daemon's threads, its event loop, floor."""
    before = (voluntary_switches(pid), voluntary_switches(pid, pid), voluntary_switches(floor))
    time.sleep(seconds)
    after = (voluntary_switches(pid), voluntary_switches(pid, pid), voluntary_switches(floor))
    return after[0] - before[0], after[1] - before[1], after[2] - before[2]


def wait_paused(sock_path: Path, paused: bool) -> None:
    for _ in range(200):
        sessions = harness.call(sock_path, "status")["sessions"]
        assert isinstance(sessions, list)
        if sessions and bool(sessions[0]["paused"]) == paused:
            return
        time.sleep(0.05)
    raise RuntimeError("the session did not change as expected")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=180)
    args = parser.parse_args()
    bus = PrivateBus()
    logind = FakeLogind(bus)
    logind.do(f"new 1 {os.getuid()}")
    with tempfile.TemporaryDirectory(prefix="shw") as tmp:
        base = Path(tmp)
        (base / "policy.toml").write_text(
            f'version = 1\n[supervisor]\nstop_grace = "2s"\n[[users]]\n'
            f'name = "{getpass.getuser()}"\n[[entries]]\nid = "game"\n'
            f'command = ["sleep", "3600"]\nlimits = {{ max_run = "3h", daily_quota = "5h" }}\n'
            f'windows = [{{ days = "daily", start = "00:00", end = "24:00" }}]\n')
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(base / "notify"))
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **bus.env(),
               "NOTIFY_SOCKET": str(base / "notify"), "WATCHDOG_USEC": str(harness.WATCHDOG_USEC)}
        sock_path = base / "s.sock"
        daemon = subprocess.Popen(
            [sys.executable, "-m", "shepherd", "daemon", "--user", "--policy",
             str(base / "policy.toml"), "--state-dir", str(base / "state"), "--socket",
             str(sock_path), "--log-level", "WARNING"], cwd=ROOT, env=env)
        floor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10**6)"])
        try:
            notify.settimeout(30)
            while notify.recv(4096) != b"READY=1":
                pass
            notify.settimeout(None)  # read on, as systemd does (its queue must not fill)
            threading.Thread(target=drain, args=(notify,), daemon=True).start()
            time.sleep(2)
            idle = measure(daemon.pid, floor.pid, args.seconds)
            harness.call(sock_path, "launch", entry="game")
            logind.do("lock 1")
            wait_paused(sock_path, True)
            time.sleep(1)
            paused = measure(daemon.pid, floor.pid, args.seconds)
            logind.do("unlock 1")
            wait_paused(sock_path, False)
            time.sleep(1)
            billed = measure(daemon.pid, floor.pid, args.seconds)
        finally:
            floor.kill()
            floor.wait()
            daemon.terminate()
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
            logind.close()
            bus.close()
    minutes = args.seconds / 60
    for what, (threads, loop, floor_count) in (
            ("no session", idle), ("one session, screen locked (paused)", paused),
            ("one session, screen unlocked (billed)", billed)):
        print(f"{what}, {args.seconds:.0f}s: event loop {loop / minutes:.2f} wake-ups/min "
              f"({loop} in all); all threads {threads / minutes:.2f}/min ({threads}); "
              f"floor {floor_count / minutes:.2f}/min")

if __name__ == "__main__":
    main()
