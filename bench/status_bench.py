"""`status` latency at household scale: 3 children x 50 entries (figures for BENCHMARKS.md).

    python bench/status_bench.py [--calls 2000]

Starts a real user-mode daemon whose policy has 3 children and 50 entries, each
with a quota, a max run, a cooldown and weekday/weekend windows, 20 of them in a
shared group, and one session running per child. Measures, over the socket, the
round trip of `status` and, as the floor in the same run, of `hello` (the same
framing and peer check, no work); prints p50/p99/max of each, and the daemon's
own CPU time per call (from /proc, so other load on the machine does not count).
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


def policy() -> str:
    me = getpass.getuser()
    users = "".join(f'[[users]]\nname = "{name}"\nmax_sessions = 2\n'
                    for name in (me, "kid1", "kid2"))
    entries = "".join(
        f'[[entries]]\nid = "e{i}"\ncommand = ["sleep", "3600"]\n'
        f'limits = {{ daily_quota = "2h", max_run = "1h", cooldown = "10m" }}\n'
        f'windows = [ {{ days = "weekdays", start = "00:00", end = "24:00" }},'
        f' {{ days = "weekends", start = "00:00", end = "24:00" }} ]\n' for i in range(50))
    group = ('[[groups]]\nid = "games"\nentries = ['
             + ", ".join(f'"e{i}"' for i in range(20)) + ']\ndaily_quota = "3h"\n')
    return f'version = 1\n[supervisor]\nstop_grace = "2s"\n{users}{entries}{group}'


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"p50 {statistics.median(ordered) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, "
            f"max {ordered[-1] * 1000:.2f} ms")


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def timed(client: Client, method: str, calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        client.call(method)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
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
            with Client(base / "s.sock") as client:
                for child in (getpass.getuser(), "kid1", "kid2"):
                    try:
                        client.call("launch", entry="e1", user=child)
                    except Exception as exc:  # kid1/kid2 need not exist as accounts
                        print(f"(no session for {child}: {exc})")
                entries = sum(len(u["entries"]) for u in client.call("status")["users"])
                timed(client, "status", 100)  # warm up
                cpu = cpu_s(daemon.pid)
                floor = timed(client, "hello", args.calls)
                floor_cpu = (cpu_s(daemon.pid) - cpu) / args.calls
                cpu = cpu_s(daemon.pid)
                status = timed(client, "status", args.calls)
                status_cpu = (cpu_s(daemon.pid) - cpu) / args.calls
            print(f"status, {entries} entries, {args.calls} calls: {percentiles(status)}; "
                  f"daemon CPU {status_cpu * 1000:.2f} ms per call")
            print(f"hello (floor), same run: {percentiles(floor)}; "
                  f"daemon CPU {floor_cpu * 1000:.2f} ms per call")
        finally:
            daemon.terminate()
            daemon.wait(30)


if __name__ == "__main__":
    main()
