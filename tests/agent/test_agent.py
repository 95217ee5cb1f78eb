"""``shepherd agent`` shows the child's warnings, refusals and answers as desktop
notifications on a private session bus with a fake notification server (issue 10)."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shepherd.agent.run import notification_for
from shepherd.agent.status_line import status_line
from tests.daemon.conftest import ME, ROOT, daemon_factory, policy

__all__ = ["daemon_factory"]

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class Lines:
    """A child process's stdout, read line by line with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    def next(self, timeout: float = 20.0) -> str:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise AssertionError(f"nothing printed within {timeout}s")
        return self.process.stdout.readline().strip()


class SessionBus:
    def __init__(self, env: dict[str, str], server: subprocess.Popen[str]) -> None:
        self.env = env
        self.notifications = Lines(server)


@pytest.fixture
def session_bus() -> Iterator[SessionBus]:
    binary = shutil.which("dbus-daemon")
    if binary is None:
        pytest.fail("dbus-daemon is missing (Debian: dbus-daemon; .ci/run installs it)")
    folder = Path(tempfile.mkdtemp(prefix="shpsbus"))
    (folder / "bus.conf").write_text(BUS_CONFIG.format(socket=folder / "bus"))
    bus = subprocess.Popen([binary, f"--config-file={folder / 'bus.conf'}", "--nofork",
                            "--nopidfile", "--print-address"], stdout=subprocess.PIPE, text=True)
    assert bus.stdout is not None
    bus.stdout.readline()
    env = {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={folder / 'bus'}",
           "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "tests.agent.fake_notifications"],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, **env})
    bus_ = SessionBus(env, server)
    assert bus_.notifications.next() == "ready"
    yield bus_
    for process in (server, bus):
        process.terminate()
        process.wait(timeout=10)
    shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def running_agent(d: Any, session_bus: SessionBus) -> Iterator[None]:
    """``shepherd agent`` on the private session bus, once the daemon counts it among its
    agents; stopped at the end."""
    agent = subprocess.Popen(
        [sys.executable, "-m", "shepherd", "--socket", str(d.socket), "agent"],
        cwd=ROOT, env={**os.environ, **session_bus.env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not d.call("health").get("agents") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert d.call("health").get("agents") == [ME]
        yield
    finally:
        agent.terminate()
        agent.wait(timeout=10)


def test_warnings_refusals_and_answers_become_desktop_notifications(
        daemon_factory: Any, session_bus: SessionBus) -> None:
    d = daemon_factory(policy('''
[[entries]]
id = "game"
label = "The Game"
command = ["sleep", "1000"]
limits = { max_run = "4s" }
warnings = [ { before = "2s", severity = "critical", message = "{left} left, save now" } ]

[[entries]]
id = "closed"
label = "Closed Game"
command = ["sleep", "1000"]
limits = { daily_quota = 0 }
'''))
    server = session_bus.notifications
    with running_agent(d, session_bus):
        refused = subprocess.run([sys.executable, "-m", "shepherd", "--socket", str(d.socket),
                                  "launch", "closed"], capture_output=True, text=True, cwd=ROOT,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert refused.returncode == 3
        shown = json.loads(server.next())
        assert shown["summary"] == "Closed Game" and shown["body"] == refused.stderr.strip()
        assert shown["app"] == "Shepherd"
        d.call("launch", entry="game")
        warned = json.loads(server.next())
        assert warned["summary"] == "The Game" and warned["urgency"] == 2
        assert warned["body"].endswith("left, save now")
        asked = d.call("request_time", entry="game", duration="10m", note="please")
        d.call("request.answer", request_id=asked["request_id"], answer="approve")
        answered = json.loads(server.next())
        assert answered["body"] == ("Yes: 10 minutes more of The Game. The Game has no daily "
                                    "limit, so this changes nothing.")
    deadline = time.monotonic() + 10
    while d.call("health").get("agents") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert d.call("health").get("agents") == []


def test_the_status_line_says_what_runs_and_how_long_is_left() -> None:
    zone = UTC
    now = datetime(2026, 3, 2, 16, 0, tzinfo=zone)
    status = {"users": [{"name": "alex", "entries": [{"id": "mc", "label": "Minecraft"}]}],
              "sessions": [{"id": 3, "user": "alex", "entry": "mc", "remaining_s": 1380,
                            "deadline": (now + timedelta(minutes=23)).isoformat()},
                           {"id": 4, "user": "sam", "entry": "mc", "remaining_s": 10,
                            "deadline": (now + timedelta(seconds=10)).isoformat()}]}
    line = json.loads(status_line(status, "alex", now, zone))
    assert line == {"text": "Minecraft 23m", "full_text": "Minecraft 23m", "class": "running",
                    "tooltip": "Minecraft: 23 minutes left, until 16:23"}
    assert json.loads(status_line(status, "sam", now, zone))["class"] == "critical"
    paused = {**status, "sessions": [{**status["sessions"][1], "user": "alex", "paused": {
        "cause": "locked", "since": (now - timedelta(minutes=2)).isoformat()}}]}
    line = json.loads(status_line(paused, "alex", now, zone))
    assert line["class"] == "paused" and line["text"] == "Minecraft 10s (paused)"
    assert "paused since 15:58" in line["tooltip"]  # its clock stands still: not critical
    idle = json.loads(status_line({"users": [], "sessions": []}, "alex", now, zone))
    assert idle["text"] == "" and idle["class"] == "idle"


def test_the_status_line_follows_the_daemon(daemon_factory: Any) -> None:
    d = daemon_factory(policy('[[entries]]\nid = "game"\nlabel = "The Game"\n'
                              'command = ["sleep", "1000"]\nlimits = { max_run = "1h" }\n'))
    agent = subprocess.Popen(
        [sys.executable, "-m", "shepherd", "--socket", str(d.socket), "agent", "--status-line"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
        text=True)
    lines = Lines(agent)
    try:
        assert json.loads(lines.next())["class"] == "idle"
        d.call("launch", entry="game")
        line = json.loads(lines.next())
        while line["class"] == "idle":
            line = json.loads(lines.next())
        assert line["text"] in ("The Game 59m", "The Game 1h00") and line["class"] == "running"
        assert d.call("health").get("agents") == []  # a status line is not an agent
    finally:
        agent.terminate()
        agent.wait(timeout=10)


def test_notify_send_is_left_to_the_childs_agent_while_it_is_connected(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from shepherd.daemon import system
    from shepherd.daemon.core import Daemon
    from shepherd.daemon.methods import Subscribers
    from shepherd.supervisor.account import Account

    sent: list[str] = []
    monkeypatch.setattr(system, "notify_desktop", lambda account, title, body, urgency:
                        sent.append(account.name))
    agent = SimpleNamespace(subscribed=True, closed=False,
                            context={"agent": True, "child": "alex"})
    listener = SimpleNamespace(subscribed=True, closed=False,
                               context={"agent": False, "child": "sam"})
    subscribers = Subscribers()
    subscribers.server = SimpleNamespace(connections=[agent, listener])  # type: ignore[assignment]
    daemon = Daemon.__new__(Daemon)  # only its desktop notification path is used
    daemon.events = subscribers
    alex = Account("alex", 1001, 1001, "/home/alex", "/bin/sh", ())
    sam = Account("sam", 1002, 1002, "/home/sam", "/bin/sh", ())
    daemon._desktop("alex", alex, "Minecraft", "5 minutes left", "normal")
    daemon._desktop("sam", sam, "Minecraft", "5 minutes left", "normal")
    assert sent == ["sam"]  # alex's agent shows it; sam only has a listener
    agent.closed = True
    daemon._desktop("alex", alex, "Minecraft", "1 minute left", "critical")
    assert sent == ["sam", "alex"]


def test_a_yes_to_a_locked_child_under_a_budget_says_so_on_the_desktop() -> None:
    """Review 11 s6 F2: the answer must not promise time the child cannot use."""
    event = {"type": "request_answered", "state": "approved", "user": "alex", "entry": "game",
             "granted_s": 900, "limited_by": [{"code": "locked", "user": "alex"}],
             "capped_by": [{"kind": "group_quota", "group": "screens", "usable_s": 217,
                            "until": None, "running": False, "period": "day"}]}
    shown = notification_for(event, {"game": "The Game"})
    assert shown is not None
    assert shown[1] == ("Yes: 15 minutes more of The Game. But you are locked by a parent: "
                        "you can use it only after they unlock you. The screens budget still "
                        "allows only 3 minutes 37 seconds today.")


def test_a_launch_that_fails_is_shown_on_the_desktop_in_the_launchs_words(
        daemon_factory: Any, session_bus: SessionBus) -> None:
    """Review-12-s13 L5: a child whose menu entry's program is missing saw nothing; a
    refusal was shown. Now a failed start is too, in the words ``launch`` prints."""
    d = daemon_factory(policy('''
[[entries]]
id = "broken"
label = "Broken Game"
command = ["/nonexistent/shepherd-test/game"]
'''))
    server = session_bus.notifications
    with running_agent(d, session_bus):
        failed = subprocess.run([sys.executable, "-m", "shepherd", "--socket", str(d.socket),
                                 "launch", "broken"], capture_output=True, text=True, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert failed.returncode != 0 and "could not start" in failed.stderr
        shown = json.loads(server.next())
        said = failed.stderr.strip().removeprefix("shepherd: ")  # (an error's prefix)
        assert shown["summary"] == "Broken Game" and shown["body"] == said
