"""``shepherd demo``: a user-mode daemon with a demo policy in a temporary state dir.

It launches one short entry so a newcomer sees warnings and an expiry, shows
live status and events, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shepherd.cli.common import EXIT_OK, CommandError
from shepherd.ipc.client import Client, DaemonUnreachable
from shepherd.ipc.protocol import RpcError

DEMO_POLICY = """\
# Shepherd demo policy: limits of a few minutes so warnings and expiry show quickly.
version = 1

[supervisor]
stop_grace = "3s"
default_warnings = [
  {{ before = "60s", message = "1 minute left" }},
  {{ before = "20s", severity = "critical", message = "20 seconds left, save now" }},
]

[[users]]
name = "{user}"

[[entries]]
id = "short-game"
label = "A short game (sleep)"
command = ["sleep", "3600"]
limits = {{ max_run = "90s", daily_quota = "3m", cooldown = "30s" }}

[[entries]]
id = "reading"
label = "Reading (no limits)"
command = ["sleep", "3600"]
warnings = []
"""


def cmd_demo(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="shepherd-demo-"))
    policy = workdir / "policy.toml"
    policy.write_text(DEMO_POLICY.format(user=getpass.getuser()))
    socket_path = workdir / "shepherd.sock"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "shepherd", "daemon", "--user", "--policy", str(policy),
         "--state-dir", str(workdir / "state"), "--socket", str(socket_path),
         "--log-level", "WARNING"])
    try:
        client = _wait_for(socket_path, daemon)
        print(f"Shepherd demo: daemon pid {daemon.pid}, state in {workdir}")
        print(f"Try in another terminal:  shepherd --help   (socket: export "
              f"SHEPHERD_SOCKET={socket_path})")
        try:
            started = client.call("launch", entry="short-game")
            print(f"launched short-game as session {started['session_id']}: "
                  f"{started['remaining_s']:.0f}s allowed; watch the warnings. Ctrl-C quits.\n")
        except RpcError as exc:
            print(f"launch denied: {exc.message}")
        client.call("subscribe")
        for message in client.events():
            params = message.get("params", {})
            stamp = time.strftime("%H:%M:%S")
            kind = params.pop("type", message.get("method"))
            details = " ".join(f"{k}={v}" for k, v in params.items() if v is not None)
            print(f"{stamp}  {kind:<16} {details}", flush=True)
    except KeyboardInterrupt:
        print("\nstopping the demo")
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            daemon.kill()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return EXIT_OK


def _wait_for(socket_path: Path, daemon: subprocess.Popen[bytes]) -> Client:
    for _ in range(200):
        if daemon.poll() is not None:
            raise CommandError("the demo daemon did not start (see above)")
        if os.path.exists(socket_path):
            try:
                return Client(socket_path)
            except DaemonUnreachable:
                pass
        time.sleep(0.05)
    raise CommandError("the demo daemon did not answer in 10 seconds")
