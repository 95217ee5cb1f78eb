"""Issue 9 F6: how long a daemon takes to answer when another program holds its store.

    .venv/bin/python bench/locked_start.py [ROOT]     (ROOT: a checkout; default: this one)

A store is made (a daemon started and stopped); then, three times each, a daemon is
started with no lock, and with a foreign ``BEGIN EXCLUSIVE`` taken while it was down
and held as it starts: the seconds to its first answer to ``health``. Without the
lock it is the floor (Python's start), measured in the same run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shepherd.ipc.client import Client  # noqa: E402

HOLD = """import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute('BEGIN EXCLUSIVE')
c.execute('SELECT 1 FROM sqlite_master').fetchall()
print('held', flush=True)
time.sleep(30)
"""


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="locked-start"))
    me = os.environ.get("USER", "root")
    policy = work / "policy.toml"
    policy.write_text(f'version = 1\n[[users]]\nname = "{me}"\n\n[[entries]]\nid = "game"\n'
                      'command = ["sleep", "3599"]\n')
    sock = work / "s.sock"

    def start() -> subprocess.Popen[bytes]:
        with (work / "log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "shepherd", "daemon", "--user", "--child", me,
                 "--policy", str(policy), "--state-dir", str(work / "state"),
                 "--socket", str(sock)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.DEVNULL, stderr=log)

    def first_answer(daemon: subprocess.Popen[bytes], began: float) -> tuple[float, Any]:
        while True:
            if sock.exists():
                try:
                    with Client(sock) as client:
                        return time.monotonic() - began, client.call("health")
                except Exception:
                    pass
            if daemon.poll() is not None:
                raise SystemExit(f"the daemon exited: see {work / 'log'}")
            time.sleep(0.01)

    for label, lock in (("no lock", False), ("locked", True)):
        for _ in range(3):
            holder = None
            if lock:
                holder = subprocess.Popen([sys.executable, "-c", HOLD,
                                           str(work / "state" / "shepherd.db")],
                                          stdout=subprocess.PIPE, text=True)
                assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            sock.unlink(missing_ok=True)
            began = time.monotonic()
            daemon = start()
            took, health = first_answer(daemon, began)
            print(f"{label}: first answer after {took:.2f} s; store: {health['store']}",
                  flush=True)
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
            if holder is not None:
                holder.kill()
                holder.wait()
    print("load average", "/".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
