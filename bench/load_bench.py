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
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shepherd.ipc.client import Client  # noqa: E402
from shepherd.store import Store  # noqa: E402

PROBE = ROOT / "tests" / "daemon" / "deadline_probe.py"
FLOODER = ROOT / "tests" / "daemon" / "flooder.py"
OTHER_PYTHON = "/usr/bin/python3"
ME = getpass.getuser()


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
command = ["{sys.executable}", "{PROBE}", "{term}"]
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


def sessions(sock: Path, term: Path, runs: int) -> list[float]:
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
    return delays


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=30)
    args = parser.parse_args()
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
