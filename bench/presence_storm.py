"""A child flapping their own screen lock, for BENCHMARKS.md (as root: a system-mode daemon).

    python bench/presence_storm.py [--seconds 15] [--runs 5] [--profile PATH]

A child may call logind's ``SetLockedHint`` on their own session as fast as they like;
every call is a ``PropertiesChanged`` signal the daemon hears. This starts a private
``dbus-daemon`` with the fake logind of the tests on it, and a real system-mode daemon
pointed at it whose child is ``nobody``, with one session running (``sleep``, frozen
while paused: the default) and an entry recognised by ``exe`` that is refused (its
daily quota is 0). Measured, first quiet and then while the fake logind flaps the
child's ``LockedHint`` on and off as fast as the bus takes it (``flap``, batches of
200 pairs, for ``--seconds``):

- the daemon's CPU time over the period, in seconds of CPU per second;
- a refusal: ``--runs`` times, a copy of ``sleep`` started as ``nobody`` outside
  Shepherd, from just before the start until the process is dead (a pidfd);
- a ``status`` call's answer time;
- the ``session_paused`` rows the audit log gained.

The floor, in the same run: the same start as ``nobody`` of a copy that matches no rule,
until its program runs. ``--profile PATH`` runs the daemon under cProfile (the figures
are then not comparable; for finding where the time goes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
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


def policy(bin_dir: Path) -> str:
    return (f'version = 1\n[supervisor]\nstop_grace = "2s"\ndefault_warnings = []\n'
            f'[[users]]\nname = "nobody"\nmax_sessions = 8\n'
            f'[[entries]]\nid = "game"\ncommand = ["{bin_dir / "game"}", "3600"]\n'
            f'limits = {{ max_run = "3h", daily_quota = "5h" }}\n'
            f'[[entries]]\nid = "denied"\ncommand = ["{bin_dir / "denied"}", "1000"]\n'
            f'limits = {{ daily_quota = "0s" }}\n'
            f'detect = {{ exe = "{bin_dir / "denied"}" }}\n')


def status_once(sock: Path) -> float:
    t0 = time.monotonic()
    harness.call(sock, "status")
    return time.monotonic() - t0


def paused_rows(state: Path) -> int:
    """Read once the daemon stopped (it holds the live file exclusively)."""
    with sqlite3.connect(f"file:{state / 'shepherd.db'}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT count(*) FROM audit WHERE type = 'session_paused'")
                   .fetchone()[0])


def period(pid: int, bin_dir: Path, sock: Path, seconds: float,
           runs: int) -> tuple[float, list[float], list[float]]:
    """CPU per second, refusals, status answers over ``seconds``."""
    c0, t0 = harness.cpu_seconds(pid), time.monotonic()
    refusals, answers = [], []
    for _ in range(runs):
        refusals.append(harness.until_dead(bin_dir / "denied", 30))
        answers.append(status_once(sock))
        time.sleep(max(0.0, seconds / runs - refusals[-1] - answers[-1]))
    return (harness.cpu_seconds(pid) - c0) / (time.monotonic() - t0), refusals, answers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: a system-mode daemon, programs run as nobody")
    bin_dir = harness.sleep_copies("game", "denied", "plain")
    work = Path(tempfile.mkdtemp(prefix="shps"))
    (work / "policy.toml").write_text(policy(bin_dir))
    sock, state = work / "s.sock", work / "state"
    bus = PrivateBus()
    logind = FakeLogind(bus)
    logind.do(f"new 1 {harness.NOBODY.pw_uid}")
    python = [sys.executable] + (["-m", "cProfile", "-o", str(args.profile)]
                                 if args.profile else [])
    daemon = subprocess.Popen(
        [*python, "-m", "shepherd", "daemon", "--policy", str(work / "policy.toml"),
         "--state-dir", str(state), "--socket", str(sock), "--log-level", "WARNING"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **bus.env()},
        stderr=(work / "log").open("wb"))
    stop = threading.Event()
    toggles = [0]

    def flap() -> None:
        while not stop.is_set():
            logind.do("flap 1 200")
            toggles[0] += 400

    try:
        for _ in range(400):
            if sock.exists():
                break
            time.sleep(0.05)
        else:
            raise SystemExit("the daemon did not start: " + (work / "log").read_text())
        harness.call(sock, "launch", entry="game", user="nobody")
        time.sleep(1)
        floor = [harness.until_running(bin_dir / "plain") for _ in range(args.runs)]
        quiet = period(daemon.pid, bin_dir, sock, args.seconds, args.runs)
        flapper = threading.Thread(target=flap)
        t0 = time.monotonic()
        flapper.start()
        time.sleep(1)
        storm = period(daemon.pid, bin_dir, sock, args.seconds, args.runs)
        stop.set()
        flapper.join()
        flapped_s = time.monotonic() - t0
        floor += [harness.until_running(bin_dir / "plain") for _ in range(args.runs)]
        time.sleep(1)
        status = harness.call(sock, "status")
        sessions = status["sessions"]
        assert isinstance(sessions, list) and sessions, status
        settled = sessions[0].get("paused") is None and not sessions[0].get("frozen")
    finally:
        stop.set()
        daemon.terminate()
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        logind.close()
        bus.close()
    try:
        rows = paused_rows(state)  # none before the flapping: the screen was unlocked
    finally:
        shutil.rmtree(bin_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)

    def ms(values: list[float]) -> str:
        return (f"median {statistics.median(values) * 1000:.0f} ms, "
                f"max {max(values) * 1000:.0f} ms")

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"{args.seconds:.0f} s each, {args.runs} refusals each")
    print(f"floor (started as nobody until it runs): {ms(floor)}")
    for what, (load, refusals, answers) in (("quiet", quiet), ("flapping", storm)):
        print(f"{what}: daemon CPU {load:.2f} s/s; refusal {ms(refusals)}; "
              f"status {ms(answers)}")
    print(f"flapping: {toggles[0]} lock changes sent in {flapped_s:.1f} s "
          f"({toggles[0] / flapped_s:.0f}/s); session_paused rows audited {rows}; "
          f"after it: unlocked, running and thawed: {settled}")


if __name__ == "__main__":
    main()
