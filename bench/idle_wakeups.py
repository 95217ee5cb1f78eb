"""Idle wake-ups of the daemon, watchdog on, for BENCHMARKS.md (goal: at most 2 a minute).

    python bench/idle_wakeups.py [--seconds 180] [--entries 50]

Starts a real user-mode daemon with a policy of 50 entries and no session, with
``WATCHDOG_USEC`` as the shipped units set it (``WatchdogSec=2min``) and a
``NOTIFY_SOCKET`` this script listens on, then counts, over the period, the
voluntary context switches of every thread of the daemon (``/proc/PID/task/*/
status``: each is the thread going to sleep after waking up) and the watchdog
pings received. The floor is the same count for an idle Python process that only
sleeps, measured in the same run.
"""

from __future__ import annotations

import argparse
import getpass
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WATCHDOG_USEC = 120_000_000  # systemd/*.service: WatchdogSec=2min


def policy(entries: int) -> str:
    body = "".join(f'[[entries]]\nid = "e{i}"\ncommand = ["sleep", "3600"]\n'
                   f'limits = {{ daily_quota = "1h", cooldown = "10m" }}\n'
                   f'windows = [{{ days = "daily", start = "00:00", end = "23:59" }}]\n'
                   for i in range(entries))
    return (f'version = 1\n[supervisor]\nstop_grace = "2s"\n[[users]]\n'
            f'name = "{getpass.getuser()}"\n{body}')


def voluntary_switches(pid: int) -> int:
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        for line in status.read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


def measure(pid: int, seconds: float, listener: socket.socket | None) -> tuple[int, int]:
    before = voluntary_switches(pid)
    pings = 0
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if listener is None:
            time.sleep(left)
            break
        listener.settimeout(left)
        try:
            if listener.recv(4096) == b"WATCHDOG=1":
                pings += 1
        except TimeoutError:
            break
    return voluntary_switches(pid) - before, pings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--entries", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shi") as tmp:
        base = Path(tmp)
        (base / "policy.toml").write_text(policy(args.entries))
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(str(base / "notify"))
        env = {"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": str(base / "notify"),
               "WATCHDOG_USEC": str(WATCHDOG_USEC), "PYTHONPATH": str(ROOT)}
        daemon = subprocess.Popen(
            [sys.executable, "-m", "shepherd", "daemon", "--user", "--policy",
             str(base / "policy.toml"), "--state-dir", str(base / "state"), "--socket",
             str(base / "s.sock"), "--log-level", "WARNING"], cwd=ROOT, env=env)
        floor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10**6)"])
        try:
            listener.settimeout(30)
            while listener.recv(4096) != b"READY=1":
                pass
            time.sleep(2)  # start-up work (first clock check, store) is not idle
            floor_start = voluntary_switches(floor.pid)
            switches, pings = measure(daemon.pid, args.seconds, listener)
            floor_switches = voluntary_switches(floor.pid) - floor_start
        finally:
            daemon.terminate()
            daemon.wait(30)
            floor.kill()
            floor.wait()
    minutes = args.seconds / 60
    print(f"daemon idle, {args.entries} entries, WATCHDOG_USEC={WATCHDOG_USEC}, "
          f"{args.seconds:.0f}s: {switches / minutes:.2f} wake-ups/min "
          f"({switches} in all), {pings / minutes:.2f} watchdog pings/min")
    print(f"floor (an idle python process, same period): {floor_switches / minutes:.2f} "
          f"wake-ups/min")


if __name__ == "__main__":
    main()
