"""Daemon figures for BENCHMARKS.md: call latency, idle cost, cost per running session.

    python bench/daemon_bench.py [--seconds 20]

Starts a real user-mode daemon on a temporary socket and measures: `status` and
`launch`+`stop` round trips over the socket; CPU time, wake-ups (context
switches) and resident memory while idle and while 4 sessions run.
"""

from __future__ import annotations

import argparse
import getpass
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shepherd.ipc.client import Client

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def policy() -> str:
    entries = "".join(f'[[entries]]\nid = "e{i}"\ncommand = ["sleep", "3600"]\n'
                      f'limits = {{ daily_quota = "2h" }}\n' for i in range(8))
    return (f'version = 1\n[supervisor]\nstop_grace = "2s"\n[[users]]\nname = "{getpass.getuser()}"'
            f"\nmax_sessions = 8\n{entries}")


def cpu_and_switches(pid: int) -> tuple[float, int, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if ":" in line)
    switches = int(status["voluntary_ctxt_switches"]) + int(status["nonvoluntary_ctxt_switches"])
    rss_kb = int(status["VmRSS"].split()[0])
    return cpu, switches, rss_kb


def watch(pid: int, seconds: float) -> str:
    cpu0, sw0, _ = cpu_and_switches(pid)
    time.sleep(seconds)
    cpu1, sw1, rss = cpu_and_switches(pid)
    return (f"CPU {100 * (cpu1 - cpu0) / seconds:.2f}%, {(sw1 - sw0) / seconds:.2f} wake-ups/s, "
            f"RSS {rss / 1024:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shb") as tmp:
        base = Path(tmp)
        (base / "policy.toml").write_text(policy())
        daemon = subprocess.Popen(
            [sys.executable, "-m", "shepherd", "daemon", "--user", "--policy",
             str(base / "policy.toml"), "--state-dir", str(base / "state"), "--socket",
             str(base / "s.sock"), "--log-level", "WARNING"], cwd=ROOT)
        try:
            for _ in range(200):
                if (base / "s.sock").exists():
                    break
                time.sleep(0.05)
            time.sleep(1)
            client = Client(base / "s.sock")
            samples = []
            for _ in range(200):
                start = time.perf_counter()
                client.call("status")
                samples.append(time.perf_counter() - start)
            print(f"status round trip: median {statistics.median(samples) * 1000:.2f} ms")
            samples = []
            for _ in range(20):
                start = time.perf_counter()
                started = client.call("launch", entry="e0")
                samples.append(time.perf_counter() - start)
                client.call("stop", session_id=started["session_id"])
                client.call("cooldown.clear", user=getpass.getuser(), entry="e0")
            print(f"launch round trip (spawn + store write): median "
                  f"{statistics.median(samples) * 1000:.2f} ms")
            samples = []
            for _ in range(20):  # the floor of a launch: the starter's interpreter start
                start = time.perf_counter()
                subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
                samples.append(time.perf_counter() - start)
            print(f"floor, `python -I -S -c pass`: median "
                  f"{statistics.median(samples) * 1000:.2f} ms")
            time.sleep(2)
            print(f"idle, {args.seconds:.0f}s: {watch(daemon.pid, args.seconds)}")
            for i in range(4):
                client.call("launch", entry=f"e{i + 1}")
            time.sleep(1)
            print(f"4 sessions, {args.seconds:.0f}s: {watch(daemon.pid, args.seconds)}")
        finally:
            daemon.terminate()
            daemon.wait(30)


if __name__ == "__main__":
    main()
