"""Programs started outside Shepherd, for BENCHMARKS.md (as root: a system-mode daemon).

    python bench/outside_bench.py [--runs 30] [--execs 2000] [--source ebpf|connector]

Starts a real system-mode daemon whose policy has ``nobody`` as its child and two
entries recognised by ``exe`` (copies of ``sleep`` in a directory of their own):
one allowed, one outside its window. Then, ``--runs`` times each, starts the
program directly as ``nobody`` (``setpriv``, as a terminal would) and measures:

- denied: from just before the start to the moment the process is dead (a pidfd);
- allowed: from just before the start to the ``session_started`` event;
- floor: from just before the start to the moment the program runs (its
  ``/proc/PID/exe`` is the copy), for a copy that matches nothing, in the same run.

The decision itself is the figure minus the floor. Then the cost of everybody
else's programs: ``--execs`` runs of ``/bin/true`` by root (no child of the
policy), and the daemon's CPU time and wake-ups (voluntary context switches of
all its threads) over them, against the same with no ``detect`` rule at all
(the connector is then not even open); and the same number of forks without
exec by root (the fork events must not wake the daemon).

``--source connector`` runs the daemon with ``SHEPHERD_DETECT=connector`` (the
proc connector's exec events, every exec on the machine) instead of the eBPF
filter (only the children's execs), the before/after of that filter.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness

ROOT = Path(__file__).resolve().parents[1]


def policy(bin_dir: Path, rules: bool) -> str:
    hour = time.localtime().tm_hour
    start, end = f"{(hour + 2) % 24:02d}:00", f"{(hour + 3) % 24:02d}:00"
    closed = f'{{ days = "daily", start = "{start}", end = "{end}" }}'
    detect = (lambda name: f'detect = {{ exe = "{bin_dir / name}" }}\n') if rules else (
        lambda name: "")
    return (f'version = 1\n[supervisor]\nstop_grace = "2s"\ndefault_warnings = []\n'
            f'[[users]]\nname = "nobody"\nmax_sessions = 64\n'
            f'[[entries]]\nid = "allowed"\ncommand = ["{bin_dir / "allowed"}"]\n'
            + detect("allowed") +
            f'[[entries]]\nid = "denied"\ncommand = ["{bin_dir / "denied"}"]\n'
            f'windows = [ {closed} ]\n' + detect("denied"))


SOURCE_ENV: dict[str, str] = {}


def start_daemon(work: Path, text: str) -> tuple[subprocess.Popen[bytes], Path]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "policy.toml").write_text(text)
    sock = work / "s.sock"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "shepherd", "daemon", "--policy", str(work / "policy.toml"),
         "--state-dir", str(work / "state"), "--socket", str(sock)],
        env={**os.environ, **SOURCE_ENV, "PYTHONPATH": str(ROOT)}, stderr=(work / "log").open("wb"))
    for _ in range(400):
        if sock.exists():
            return daemon, sock
        time.sleep(0.05)
    raise SystemExit("the daemon did not start: " + (work / "log").read_text())


def cpu_and_switches(pid: int) -> tuple[float, int]:
    now = harness.figures(pid)
    return now.cpu_s, now.wakeups


def others_cost(pid: int, execs: int) -> tuple[float, float]:
    """Daemon CPU µs and wake-ups per exec of root's /bin/true."""
    cpu0, sw0 = cpu_and_switches(pid)
    for _ in range(execs):
        subprocess.run(["/bin/true"], check=True)
    time.sleep(0.5)
    cpu1, sw1 = cpu_and_switches(pid)
    return (cpu1 - cpu0) / execs * 1e6, (sw1 - sw0) / execs


def forks_cost(pid: int, forks: int) -> tuple[float, float]:
    """Daemon wake-ups per fork (no exec) of a root process (a shell's subshells, a
    server's workers), and the background in the same time with no fork (everybody
    else's program starts): the fork events wait in a socket that never wakes it."""
    _cpu0, sw0 = cpu_and_switches(pid)
    t0 = time.monotonic()
    for _ in range(forks):
        child = os.fork()
        if child == 0:
            os._exit(0)
        os.waitpid(child, 0)
    took = time.monotonic() - t0
    _cpu1, sw1 = cpu_and_switches(pid)
    time.sleep(took)
    _cpu2, sw2 = cpu_and_switches(pid)
    return (sw1 - sw0) / forks, (sw2 - sw1) / forks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--execs", type=int, default=2000)
    parser.add_argument("--source", choices=("ebpf", "connector"), default="ebpf")
    args = parser.parse_args()
    if args.source == "connector":
        SOURCE_ENV["SHEPHERD_DETECT"] = "connector"
    if os.geteuid() != 0:
        raise SystemExit("run as root: the proc connector and programs run as nobody need it")
    bin_dir = harness.sleep_copies("allowed", "denied", "plain")
    work = Path(tempfile.mkdtemp(prefix="shpb"))
    daemon, sock = start_daemon(work / "rules", policy(bin_dir, rules=True))
    said = [line for line in (work / "rules" / "log").read_text().splitlines()
            if "programs started outside Shepherd:" in line]
    events = socket.socket(socket.AF_UNIX)
    events.connect(str(sock))
    reader = events.makefile("rb")
    events.sendall(b'{"jsonrpc":"2.0","id":1,"method":"subscribe"}\n')
    reader.readline()
    denied, allowed, floor = [], [], []
    try:
        for _ in range(args.runs):
            floor.append(harness.until_running(bin_dir / "plain"))
            denied.append(harness.until_dead(bin_dir / "denied", 10))

            t0 = time.monotonic()
            p = harness.as_nobody(bin_dir / "allowed")
            while True:
                message = json.loads(reader.readline())
                params = message.get("params", {})
                if params.get("type") == "session_started" and params.get("pid") == p.pid:
                    break
            allowed.append(time.monotonic() - t0)
            p.send_signal(signal.SIGKILL)
            p.wait()
        per_exec_cpu, per_exec_wake = others_cost(daemon.pid, args.execs)
        per_fork_wake, fork_background = forks_cost(daemon.pid, args.execs)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    bare, _ = start_daemon(work / "norules", policy(bin_dir, rules=False))
    try:
        bare_cpu, bare_wake = others_cost(bare.pid, args.execs)
        bare_fork_wake, _ = forks_cost(bare.pid, args.execs)
    finally:
        bare.send_signal(signal.SIGTERM)
        bare.wait(timeout=30)
    shutil.rmtree(bin_dir, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)

    def ms(values: list[float]) -> str:
        values = sorted(values)
        return (f"{statistics.median(values) * 1000:.1f} ms median, "
                f"{values[int(len(values) * 0.9) - 1] * 1000:.1f} ms p90, "
                f"{values[-1] * 1000:.1f} ms max")

    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores, {args.runs} runs each")
    print("the daemon said: " + (said[-1].split("Shepherd: ", 1)[1] if said else "?"))
    print(f"floor: started as nobody until its program runs   {ms(floor)}")
    print(f"denied: started until dead                        {ms(denied)}")
    print(f"allowed: started until session_started            {ms(allowed)}")
    base = statistics.median(floor)
    print(f"decision (median minus floor): denied "
          f"{(statistics.median(denied) - base) * 1000:.1f} ms, allowed "
          f"{(statistics.median(allowed) - base) * 1000:.1f} ms")
    print(f"others' programs, with detect rules: {per_exec_cpu:.0f} µs CPU and "
          f"{per_exec_wake:.2f} wake-ups per exec; without rules: {bare_cpu:.0f} µs, "
          f"{bare_wake:.2f}")
    print(f"others' forks without exec: {per_fork_wake:.3f} wake-ups per fork with detect "
          f"rules (background, the same time without forks: {fork_background:.3f}); "
          f"{bare_fork_wake:.3f} without rules")


if __name__ == "__main__":
    main()
