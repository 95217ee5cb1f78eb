"""``shepherd demo``: a user-mode daemon with a demo policy, the TUI on it, and a scripted child.

Everything lives in a fresh temporary directory with its own socket, so the demo
never touches another daemon's sessions. The scripted child (a thread talking
to the daemon like any client) launches a short game at once, starts a music
player about 8 seconds later the way a desktop menu would (outside Shepherd: the
daemon recognises it and counts it as a session of its own), and asks for more
time about 20 seconds later: within two minutes a newcomer sees a countdown, a
warning, a program started outside being counted and stopped, a request to
answer, the expiry and the rest (cooldown) that follows.
``--plain`` prints the same story as lines instead of opening the TUI.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import getpass
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shepherd.cli.common import EXIT_OK, CommandError, local_time, shepherd_command
from shepherd.ipc.client import Client, DaemonUnreachable
from shepherd.ipc.protocol import RpcError
from shepherd.localtime import local_zone
from shepherd.words import format_duration, lasting_state, state_word, warning_text
from shepherd.words.events import end_reason, event_summary

PR_SET_PDEATHSIG = 1
REQUEST_AFTER_S = 20.0
REQUEST_S = 30  # what the scripted child asks for
OUTSIDE_AFTER_S = 8.0
# The music player the scripted child starts outside Shepherd: its command line carries
# a mark of this demo's own (this word and a random tail), which the demo policy's
# ``detect`` rule looks for and nothing else has: not even the music player of another
# demo of the same account (another terminal, a test), which that demo's daemon counts.
OUTSIDE_MARK = "shepherd-demo-music"
DEMO_POLICY = """\
# Shepherd demo policy: limits of a few seconds so warnings, expiry and rest show quickly.
version = 1

[supervisor]
count = "running"   # the scripted child has no screen: every running second counts
stop_grace = "3s"
default_warnings = [
  {{ before = "60s", message = "1 minute left" }},
  {{ before = "20s", severity = "critical", message = "20 seconds left, save now" }},
]

[[users]]
name = "{user}"
max_sessions = 2    # the game and the music player may run together

[[entries]]
id = "game"
label = "A short game"
command = ["sleep", "3600"]
# The session limit ends the game (before the day's quota, even with the 30 s asked
# for), so the rest after it shows on its row as a countdown, "resting 0:29".
limits = {{ max_run = "80s", daily_quota = "2m", cooldown = "30s" }}

[[entries]]
id = "tablet"
label = "Drawing tablet"
command = ["sleep", "3600"]
limits = {{ daily_quota = "1h" }}
windows = [ {{ days = ["{tomorrow}"], start = "09:00", end = "20:00" }} ]

[[entries]]
id = "reading"
label = "Reading"
command = ["sleep", "3600"]
warnings = []

[[entries]]
id = "music"
label = "Music player"
command = {outside_command}
detect = {{ cmdline = "{outside_mark}" }}
limits = {{ daily_quota = "40s" }}
warnings = []

[[groups]]
id = "screens"
entries = ["game", "tablet"]
daily_quota = "10m"
"""
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def outside_mark() -> str:
    """A new demo's own mark for its music player's command line."""
    return f"{OUTSIDE_MARK}-{secrets.token_hex(6)}"


def outside_command(mark: str) -> list[str]:
    """The music player: a stand-in that sleeps, its command line carrying ``mark``."""
    return ["sh", "-c", "sleep 3600", mark]


def demo_policy(user: str, mark: str) -> str:
    tomorrow = DAY_NAMES[(datetime.date.today().weekday() + 1) % 7]
    command = "[" + ", ".join(f'"{word}"' for word in outside_command(mark)) + "]"
    return DEMO_POLICY.format(user=user, tomorrow=tomorrow, outside_command=command,
                              outside_mark=mark)


class ScriptedChild(threading.Thread):
    """Plays the child: launches the game now, starts the music player (its command line
    carrying ``mark``, the demo policy's) outside Shepherd after ``outside_after``, asks
    for more time after ``request_after``."""

    def __init__(self, socket_path: Path, mark: str, request_after: float = REQUEST_AFTER_S,
                 say: Callable[[str], None] | None = None,
                 outside_after: float = OUTSIDE_AFTER_S) -> None:
        super().__init__(name="scripted-child", daemon=True)
        self.socket_path = socket_path
        self.mark = mark
        self.request_after = request_after
        self.outside_after = min(outside_after, request_after)
        self.outside: subprocess.Popen[bytes] | None = None
        self.say = say or (lambda text: None)
        self.stopped = threading.Event()

    def stop(self) -> None:
        """Also ends the music player if the daemon did not (it stops it as a session)."""
        self.stopped.set()
        if self.outside is not None and self.outside.poll() is None:
            self.outside.kill()  # a stand-in with nothing to save: no grace to wait for
            self.outside.wait()

    def _start_outside(self) -> None:
        self.outside = subprocess.Popen(
            outside_command(self.mark), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        self.say(f"the child starts the music player from the desktop menu, outside "
                 f"Shepherd (pid {self.outside.pid})")

    def run(self) -> None:
        try:
            with Client(self.socket_path) as client:
                started = client.call("launch", entry="game")
                self.say(f"the child launched the game as session {started['session_id']}: "
                         f"{format_duration(started['remaining_s'])} allowed")
            if self.stopped.wait(self.outside_after):
                return
            self._start_outside()
            if self.stopped.wait(self.request_after - self.outside_after):
                return
            with Client(self.socket_path) as client:
                asked = client.call("request_time", entry="game", duration=REQUEST_S,
                                    note="Please! I'm nearly at the end of the level.")
                self.say(f"the child asks for 30s more (request {asked['request_id']})")
        except (RpcError, DaemonUnreachable, OSError) as exc:
            self.say(f"the scripted child gave up: {exc}")


def cmd_demo(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="shepherd-demo-"))
    policy = workdir / "policy.toml"
    mark = outside_mark()
    policy.write_text(demo_policy(getpass.getuser(), mark))
    socket_path = workdir / "shepherd.sock"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "shepherd", "daemon", "--user", "--policy", str(policy),
         "--state-dir", str(workdir / "state"), "--socket", str(socket_path),
         "--log-level", "WARNING"],
        start_new_session=True, preexec_fn=_die_with_parent,
        stderr=None if args.plain else subprocess.DEVNULL)
    child: ScriptedChild | None = None
    code = EXIT_OK
    try:
        _wait_for(socket_path, daemon).close()
        if args.plain:
            # Ctrl-C quits even when the demo was started with SIGINT ignored (a background
            # job of a script); a closed terminal quits the same way.
            for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
                signal.signal(signum, _interrupt)
            print(f"Shepherd demo: daemon pid {daemon.pid}, state in {workdir}")
            print(f"Try in another terminal:  export SHEPHERD_SOCKET={socket_path}; "
                  f"{shepherd_command()} status")
            child = ScriptedChild(socket_path, mark, say=_line)
            child.start()
            _follow(Client(socket_path), Client(socket_path))
        else:
            child = ScriptedChild(socket_path, mark)
            child.start()
            code = _run_tui(socket_path)
    except KeyboardInterrupt:
        print("\nstopping the demo")
    finally:
        if child is not None:
            child.stop()
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            daemon.kill()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if not args.plain:
        print("The demo is over: its daemon stopped and its files were removed.")
    return code


def _run_tui(socket_path: Path) -> int:
    from shepherd.cli.tui_cmd import run_app
    from shepherd.tui.app import ShepherdApp

    app = ShepherdApp(socket_path, greeting=(
        "Demo: a scripted child is playing “A short game”. Watch the countdown; at about 8 "
        "seconds it starts a music player outside Shepherd, which is counted too; at about "
        "20 it asks for more time: press a, then y, to approve. "
        "? shows every key, q quits."))
    for signum in (signal.SIGHUP, signal.SIGTERM):  # a closed terminal ends the demo cleanly
        signal.signal(signum, lambda *_: app.exit())
    return run_app(app)


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


def _line(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {text}", flush=True)


def _describe(event: dict[str, Any], labels: dict[str, str] | None = None) -> str:
    """One event in words; ``labels`` names entries as the policy labels them."""
    kind = event.get("type", "?")
    names = labels or {}
    entry = str(event.get("entry", ""))
    label = names.get(entry, entry)
    if kind == "warning_issued":
        text = event.get("text") or warning_text(event.get("message", ""),
                                                 event.get("remaining_s", 0))
        return f"WARNING ({event['severity']}) {label}: {text}"
    if kind == "session_started":
        how = (", started outside Shepherd: recognised and counted"
               if event.get("origin") == "outside" else "")
        return f"started {label} (session {event['session_id']}{how})"
    if kind == "session_ended":
        cooldown = event.get("cooldown_until")
        rest = f", cooldown until {local_time(cooldown)}" if cooldown else ""
        return (f"{label} ended: {end_reason(str(event['reason']), event.get('signal'))}, "
                f"{format_duration(event['charged_s'])} charged{rest}")
    if kind == "time_requested":
        return (f"{event['user']} asks for {format_duration(event['seconds'])} more of "
                f"{label}: answer with  {shepherd_command()} answer "
                f"{event['request_id']} approve")
    return event_summary(event, local_zone(), labels=names)  # as `shepherd audit` says it


def _labels(status: dict[str, Any]) -> dict[str, str]:
    """Each entry's label by its id, from a status answer."""
    return {entry["id"]: entry.get("label") or entry["id"]
            for user in status["users"] for entry in user["entries"]}


def _summary(status: dict[str, Any]) -> str:
    """A status line in words: "A short game running, 1m15s left; Tablet: closed now"."""
    labels = _labels(status)
    parts = []
    for session in status["sessions"]:
        left = session["remaining_s"]
        parts.append(f"{labels.get(session['entry'], session['entry'])} running, "
                     f"{'no limit' if left is None else format_duration(left) + ' left'}")
    for user in status["users"]:
        for entry in user["entries"]:
            if entry["state"] != "running":
                state = lasting_state(entry["state"], entry.get("reasons") or [])
                parts.append(f"{labels[entry['id']]}: {state_word(state)}")
    return "; ".join(parts)


def _follow(events: Client, status: Client) -> None:
    """Print each event as it comes, and a status line every few seconds."""
    events.call("subscribe")
    events.sock.settimeout(5)
    labels = _labels(status.call("status"))
    while True:
        try:
            message = events.read_message()
        except TimeoutError:
            now = status.call("status")
            labels = _labels(now)
            _line(_summary(now))
            continue
        if message.get("method") == "event":
            _line(_describe(message["params"], labels))
