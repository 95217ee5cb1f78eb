"""The command line against a real daemon: every command, `--json`, the exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.daemon.conftest import ME, ROOT, policy


def shepherd(d: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SHEPHERD_SOCKET": str(d.socket)}
    return subprocess.run([sys.executable, "-m", "shepherd", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60)


def test_every_command_through_the_daemon(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(policy("""
[[entries]]
id = "game"
label = "A game"
command = ["sleep", "600"]
limits = { max_run = "1h", daily_quota = "30m", cooldown = "10m" }
[[groups]]
id = "games"
entries = ["game"]
daily_quota = "1h"
"""))
    status = json.loads(shepherd(d, "status", "--json").stdout)
    entry = status["users"][0]["entries"][0]
    assert {"id", "label", "state", "used_today_s", "remaining_today_s", "cooldown_until",
            "reasons"} <= set(entry)
    assert (entry["state"], entry["remaining_today_s"]) == ("available", 1800)
    launched = json.loads(shepherd(d, "launch", "game", "--json").stdout)
    sid = str(launched["session_id"])
    session = json.loads(shepherd(d, "status", "--json").stdout)["sessions"][0]
    assert {"id", "user", "entry", "started_at", "deadline", "remaining_s"} <= set(session)
    assert "session" in shepherd(d, "status").stdout
    assert shepherd(d, "grant", ME, "games", "15m", "--reason", "chores").returncode == 0
    assert shepherd(d, "grant", ME, "nothing", "15m").returncode == 1
    assert shepherd(d, "grant", ME, "game", "soon").returncode == 2  # bad usage
    extended = shepherd(d, "extend", "game", "5m").stdout  # "tomorrow at" late in the day
    assert re.search(rf"A game \(session {sid}\) now ends (tomorrow )?at \d\d:\d\d", extended), \
        extended
    assert shepherd(d, "stop", sid).returncode == 0
    denied = shepherd(d, "launch", "game")
    assert denied.returncode == 3 and "A game can't start: it needs a rest until" in denied.stderr
    assert shepherd(d, "cooldown", "clear", ME, "game").returncode == 0
    assert shepherd(d, "lock", ME).returncode == 0
    assert shepherd(d, "launch", "game").returncode == 3
    assert shepherd(d, "unlock", ME).returncode == 0
    assert "request 1" in shepherd(d, "request", "game", "20m", "--note", "homework").stdout
    pending = json.loads(shepherd(d, "requests", "--json").stdout)
    assert [(r["id"], r["seconds"], r["note"]) for r in pending] == [(1, 1200, "homework")]
    assert shepherd(d, "answer", "1", "approve", "10m").stdout.startswith("Approved request 1: ")
    assert shepherd(d, "answer", "1", "decline").returncode == 1  # already answered
    assert shepherd(d, "policy", "reload").returncode == 0
    shown = json.loads(shepherd(d, "policy", "show", "--json").stdout)
    assert shown["policy"]["entries"][0]["id"] == "game"
    assert 'limits = { max_run = "1h", daily_quota = "30m", cooldown = "10m" }' in shepherd(
        d, "policy", "show").stdout
    assert "no clock jump waiting" in shepherd(d, "clock", "accept").stdout
    events = [json.loads(line) for line in shepherd(d, "audit", "--json").stdout.splitlines()]
    types = [e["type"] for e in events]
    for kind in ("time_granted", "session_extended", "session_ended", "launch_denied",
                 "cooldown_cleared", "user_locked", "user_unlocked", "time_requested",
                 "request_answered", "policy_loaded", "service_started"):
        assert kind in types, kind
    assert events[0]["id"] > events[-1]["id"]  # newest first
    assert shepherd(d, "audit", "--type", "time_granted", "--csv").stdout.count("\n") == 3
    assert "intact" in shepherd(d, "audit", "verify").stdout
    usage = json.loads(shepherd(d, "usage", "--json").stdout)
    lines = {u["id"]: u for u in usage["days"][0]["usage"]}
    assert lines["game"]["granted_s"] == 600 and lines["games"]["granted_s"] == 900
    assert "backup written" in shepherd(d, "store", "backup", str(tmp_path / "b.db")).stdout
    assert shepherd(d, "audit", "verify", "--db", str(tmp_path / "b.db")).returncode == 0
    d.stop()
    gone = shepherd(d, "status")
    assert gone.returncode == 5 and "cannot reach the daemon" in gone.stderr


def test_the_live_store_is_read_through_the_daemon_or_a_copy(daemon_factory: Any,
                                                            tmp_path: Path) -> None:
    """The daemon holds its store alone: ``--db`` on the live file says what to do instead,
    and a copy, or the file once the daemon is stopped, reads as before."""
    d = daemon_factory(policy('[[entries]]\nid = "game"\ncommand = ["sleep", "600"]\n'))
    live = str(d.state / "shepherd.db")
    for command in (["audit", "--db", live], ["usage", "--db", live],
                    ["audit", "verify", "--db", live],
                    ["store", "backup", str(tmp_path / "b.db"), "--db", live]):
        refused = shepherd(d, *command)
        assert refused.returncode != 0, command
        assert "held by the running Shepherd daemon" in refused.stderr, refused.stderr
        assert "shepherd store backup COPY" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert not (tmp_path / "b.db").exists()
    assert "backup written" in shepherd(d, "store", "backup", str(tmp_path / "b.db")).stdout
    assert "service started" in shepherd(d, "audit", "--db", str(tmp_path / "b.db")).stdout
    d.stop()
    assert "service stopped" in shepherd(d, "audit", "--db", live).stdout  # at rest: readable
