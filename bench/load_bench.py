"""How late SIGTERM reaches a program after its deadline, under load (BENCHMARKS.md).

    python bench/load_bench.py [--sessions 30]   (as root: the flooders run as other uids)

Starts a real user-mode daemon and runs sessions of a program that notes the
wall-clock moment SIGTERM reached it; the delay is that moment minus the
deadline the daemon announced at launch. Four loads, each in the same run:

- floor: a bare asyncio timer in this process, set for the same kind of moment;
- idle: the daemon with nothing else to do;
- flood: 30 connections (children and strangers) calling `status` and batches
  as fast as answers come back (tests/daemon/flooder.py);
- verify: `audit.verify` of a 200,000-row log in a loop, and 20 admin clients
  calling `status` in a loop.

Prints p50 / p99 / max per load.

    python bench/load_bench.py --lines [--sessions 30] [--rounds 5]

Issue 9 F3 alone: 30 reading flooders (10 processes of uid nobody, a child in the
policy, 3 connections each) sending 64 KiB lines ``[0,0,...]`` and reading each
answer, against two daemons started side by side, one with the deadline alarm (a
process of its own, supervisor/alarm.py) and one without (``SHEPHERD_ALARM=off``:
the guard's thread sends the SIGTERM); the flood goes to one at a time, in rounds
that alternate between them, so both see the same noise. With the floor, the
same run, and each daemon idle. Each late session is split: how late the sender
(the alarm, or the daemon's thread) sent the SIGTERM by its own clock (the audit of
the stop, ``sigterm``), and the rest (the program's own wake-up to handle it).

    python bench/load_bench.py --lines --probe-nice -10

The probe program raises its own priority first (as root): what is left of the
rest is then not the program's wait for a core.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shepherd.ipc.client import Client  # noqa: E402
from shepherd.store import Store  # noqa: E402

PROBE = ROOT / "tests" / "daemon" / "deadline_probe.py"
FLOODER = ROOT / "tests" / "daemon" / "flooder.py"
OTHER_PYTHON = "/usr/bin/python3"
ME = getpass.getuser()


PROBE_NICE: list[str] = []  # --probe-nice: the probe's own priority, as its argument


def policy(term: Path) -> str:
    return f"""version = 1
[supervisor]
stop_grace = "2s"
default_warnings = []
[[users]]
name = "{ME}"
[[users]]
name = "nobody"
[[entries]]
id = "probe"
command = {json.dumps([sys.executable, str(PROBE), str(term), *PROBE_NICE])}
limits = {{ max_run = "2s" }}
"""


def summary(delays: list[float]) -> str:
    ordered = sorted(delays)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"p50 {ordered[len(ordered) // 2] * 1000:6.1f} ms, p99 {p99 * 1000:6.1f} ms, "
            f"max {ordered[-1] * 1000:6.1f} ms  ({len(ordered)} sessions)")


def floor(runs: int) -> list[float]:
    async def one() -> float:
        loop = asyncio.get_running_loop()
        deadline = time.time() + 0.2
        fired = loop.create_future()
        loop.call_at(loop.time() + 0.2, lambda: fired.set_result(time.time()))
        return float(await fired) - deadline

    return [asyncio.run(one()) for _ in range(runs)]


def wait_socket(path: Path) -> None:
    for _ in range(400):
        if path.exists():
            try:
                with Client(path) as client:
                    client.call("hello")
                return
            except Exception:
                pass
        time.sleep(0.05)
    raise SystemExit("the daemon did not start")


SENDERS: dict[Path, list[dict[str, Any]]] = {}  # per daemon: each session's ``sigterm``


def sessions(sock: Path, term: Path, runs: int) -> list[float]:
    """The probe's delays; who sent each SIGTERM and how late by the sender's own clock
    (the audit of the stop, ``sigterm``) goes to ``SENDERS[sock]``, in the same order."""
    delays = []
    for _ in range(runs):
        term.unlink(missing_ok=True)
        with Client(sock) as client:
            client.call("cooldown.clear", user=ME, entry="probe")
            launched = client.call("launch", entry="probe")
        deadline = datetime.fromisoformat(launched["deadline"]).timestamp()
        for _ in range(1200):
            if term.exists() and term.read_text():
                break
            time.sleep(0.05)
        else:
            print("  (a session's program never said it got SIGTERM: left out)")
            continue
        delays.append(float(term.read_text()) - deadline)
        for _ in range(200):  # until the daemon has closed the session
            with Client(sock) as client:
                if not client.call("status")["sessions"]:
                    break
            time.sleep(0.05)
        sender: dict[str, Any] = {}
        for _ in range(100):  # the end's record is written off the loop: wait for it
            with Client(sock) as client:
                ended = client.call("audit.query", types=["session_ended"], limit=1)["events"]
            if ended and ended[0]["data"]["session_id"] == launched["session_id"]:
                sender = ended[0]["data"].get("sigterm") or {"by": "?"}
                break
            time.sleep(0.05)
        SENDERS.setdefault(sock, []).append(sender)
    return delays


def split(delays: list[float], senders: list[dict[str, Any]]) -> str:
    """Where the lateness came from: the sender (its own clock, from waking for the
    deadline to the signal sent) against the rest (delivery, the probe's own wake-up)."""
    sent = [s["late_ms"] for s in senders if "late_ms" in s]
    woke = [s["woke_ms"] for s in senders if "woke_ms" in s]
    rest = [d * 1000 - s["late_ms"] for d, s in zip(delays, senders, strict=True)
            if "late_ms" in s]
    by = sorted({str(s.get("by")) for s in senders})
    parts = [f"sent by {', '.join(by)}"]
    for name, figures in (("sender woke", woke), ("sender sent", sent),
                          ("then to the probe", rest)):
        if figures:
            parts.append(f"{name} p50 {sorted(figures)[len(figures) // 2]:.1f} / max "
                         f"{max(figures):.1f} ms")
    late = [f"{d * 1000:.1f} = {s.get('late_ms', '?')} sent + rest"
            for d, s in zip(delays, senders, strict=True) if d > 0.05]
    return "; ".join(parts) + (f"\n      over 50 ms: {', '.join(late)}" if late else "")


def flood(sock: Path, uid: int | None, mode: str, seconds: float,
          threads: int) -> subprocess.Popen[str]:
    python = OTHER_PYTHON if uid is not None else sys.executable
    return subprocess.Popen([python, str(FLOODER), str(sock), mode, str(seconds), str(threads)],
                            user=uid, stdout=subprocess.DEVNULL, text=True, cwd="/")


def big_audit(path: Path, rows: int) -> None:
    store = Store.open(path, datetime.now(UTC))
    start = datetime.now(UTC) - timedelta(days=30)
    with store.db.write():
        for n in range(rows):
            store.audit(start + timedelta(seconds=n), "launch_denied", {"n": n}, user=ME)
    store.close()


def start_daemon(base: Path, name: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes],
                                                                        Path, Path]:
    """A user-mode daemon in ``base/name``: (process, socket, its probe's term file)."""
    home = base / name
    home.mkdir()
    os.chmod(home, 0o755)
    term = home / "term.txt"
    (home / "policy.toml").write_text(policy(term))
    sock = home / "s.sock"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "shepherd", "daemon", "--user", "--policy",
         str(home / "policy.toml"), "--state-dir", str(home / "state"), "--socket",
         str(sock), "--log-level", "WARNING"], cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    wait_socket(sock)
    os.chmod(sock, 0o666)
    return daemon, sock, term


def lines(runs: int, rounds: int) -> None:
    print(f"floor (bare asyncio timer): {summary(floor(runs))}")
    per_round = max(1, runs // rounds)
    with tempfile.TemporaryDirectory(prefix="shb") as tmp:
        base = Path(tmp)
        os.chmod(base, 0o755)
        daemons = {"alarm": start_daemon(base, "alarm", {}),
                   "thread only": start_daemon(base, "thread", {"SHEPHERD_ALARM": "off"})}
        try:
            for name, (_, sock, term) in daemons.items():
                print(f"idle, {name + ':':12s}       {summary(sessions(sock, term, per_round))}")
            flooded: dict[str, list[float]] = {name: [] for name in daemons}
            SENDERS.clear()  # the idle runs' are not the flood's
            for _ in range(rounds):
                for name, (_, sock, term) in daemons.items():
                    flooders = [flood(sock, 65534, "lines", per_round * 2.5 + 10, 3)
                                for _ in range(10)]
                    time.sleep(1)
                    flooded[name] += sessions(sock, term, per_round)
                    for flooder in flooders:
                        flooder.kill()
                        flooder.wait()
            for name, delays in flooded.items():
                over = sum(1 for delay in delays if delay > 0.05)
                print(f"30 line flooders, {name + ':':12s} {summary(delays)}, "
                      f"over 50 ms: {over}")
                print(f"    {split(delays, SENDERS[daemons[name][1]])}")
        finally:
            for daemon, _, _ in daemons.values():
                daemon.terminate()
                daemon.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--lines", action="store_true", help="issue 9 F3 alone (above)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--probe-nice", type=int, help="the probe program sets this priority "
                        "for itself (as root, negative: how much of a late SIGTERM is the "
                        "program's own wait for a core)")
    args = parser.parse_args()
    if args.probe_nice is not None:
        PROBE_NICE.append(str(args.probe_nice))
    print(f"load average before: {os.getloadavg()}")
    if args.lines:
        lines(args.sessions, args.rounds)
        print(f"load average after: {os.getloadavg()}")
        return
    print(f"floor (bare asyncio timer): {summary(floor(args.sessions))}")
    with tempfile.TemporaryDirectory(prefix="shb") as tmp:
        base = Path(tmp)
        os.chmod(base, 0o755)
        term = base / "term.txt"
        (base / "policy.toml").write_text(policy(term))
        big_audit(base / "state" / "shepherd.db", 200_000)
        sock = base / "s.sock"
        daemon = subprocess.Popen(
            [sys.executable, "-m", "shepherd", "daemon", "--user", "--policy",
             str(base / "policy.toml"), "--state-dir", str(base / "state"), "--socket",
             str(sock), "--log-level", "WARNING"], cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            wait_socket(sock)
            os.chmod(sock, 0o666)
            print(f"idle daemon:                {summary(sessions(sock, term, args.sessions))}")
            seconds = args.sessions * 2.5 + 5
            flooders = [flood(sock, 65534 if n % 2 else 4242, "status", seconds, 3)
                        for n in range(10)]
            time.sleep(1)
            print(f"30 flooders:                {summary(sessions(sock, term, args.sessions))}")
            for flooder in flooders:
                flooder.kill()
                flooder.wait()
            callers = flood(sock, None, "status", seconds, 20)
            stop = base / "stop"
            verifier = subprocess.Popen(
                [sys.executable, "-c", "import pathlib, sys\n"
                 "from shepherd.ipc.client import Client\n"
                 "while not pathlib.Path(sys.argv[2]).exists():\n"
                 "    with Client(sys.argv[1], timeout=120) as c: c.call('audit.verify')\n",
                 str(sock), str(stop)], env={**os.environ, "PYTHONPATH": str(ROOT)})
            time.sleep(1)
            print(f"verify 200k + 20 status:    {summary(sessions(sock, term, args.sessions))}")
            stop.touch()
            callers.kill()
            verifier.wait(120)
        finally:
            daemon.terminate()
            daemon.wait(60)


if __name__ == "__main__":
    main()
