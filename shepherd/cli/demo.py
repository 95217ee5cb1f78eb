"""``shepherd demo``: a user-mode daemon with a demo policy in a temporary state dir.

It launches one short entry so a newcomer sees warnings and an expiry, shows
live status and events, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import argparse
import ctypes
import getpass
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from shepherd.cli.common import EXIT_OK, CommandError, local_time
from shepherd.ipc.client import Client, DaemonUnreachable
from shepherd.ipc.protocol import RpcError
from shepherd.policy.durations import format_duration

PR_SET_PDEATHSIG = 1
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
         "--log-level", "WARNING"],
        start_new_session=True, preexec_fn=_die_with_parent)
    for signum in (signal.SIGHUP, signal.SIGTERM):  # a closed terminal quits like Ctrl-C
        signal.signal(signum, _interrupt)
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
        _follow(client, Client(socket_path))
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


def _die_with_parent() -> None:
    """In the daemon child: SIGTERM when the demo process dies, however it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


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


def _describe(event: dict[str, Any]) -> str:
    kind = event.get("type", "?")
    if kind == "warning_issued":
        return f"WARNING ({event['severity']}): {event['message']} [{event['entry']}]"
    if kind == "session_started":
        return f"started {event['entry']} (session {event['session_id']})"
    if kind == "session_ended":
        cooldown = event.get("cooldown_until")
        rest = f", cooldown until {local_time(cooldown)}" if cooldown else ""
        return (f"{event['entry']} ended: {event['reason']}, "
                f"{format_duration(event['charged_s'])} charged{rest}")
    details = " ".join(f"{k}={v}" for k, v in event.items() if k != "type" and v is not None)
    return f"{kind} {details}"


def _summary(status: dict[str, Any]) -> str:
    parts = []
    for session in status["sessions"]:
        left = session["remaining_s"]
        parts.append(f"{session['entry']} running, "
                     f"{'no limit' if left is None else format_duration(left) + ' left'}")
    for user in status["users"]:
        for entry in user["entries"]:
            if entry["state"] != "running":
                parts.append(f"{entry['id']}: {entry['state']}")
    return "; ".join(parts)


def _follow(events: Client, status: Client) -> None:
    """Print each event as it comes, and a status line every few seconds."""
    events.call("subscribe")
    events.sock.settimeout(5)
    while True:
        try:
            message = events.read_message()
        except TimeoutError:
            print(f"{time.strftime('%H:%M:%S')}  {_summary(status.call('status'))}", flush=True)
            continue
        if message.get("method") == "event":
            print(f"{time.strftime('%H:%M:%S')}  {_describe(message['params'])}", flush=True)
