"""`policy explain|simulate --db` on the live store of a running daemon (review-1215-s12 F8):
the day's books come from the daemon that holds it, not "make a backup first"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.daemon.conftest import ME, ROOT, policy

GAME = """
[[entries]]
id = "game"
label = "A game"
command = ["sleep", "600"]
limits = { daily_quota = "30m" }
"""


def shepherd(d: Any, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SHEPHERD_SOCKET": str(d.socket)}
    return subprocess.run([sys.executable, "-m", "shepherd", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60, input=stdin)


def test_explain_and_simulate_read_the_live_store_through_its_daemon(
        daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(policy(GAME))
    live = str(d.state / "shepherd.db")
    file = tmp_path / "policy.toml"
    file.write_text(policy(GAME))
    assert shepherd(d, "grant", ME, "game", "-20m").returncode == 0
    explained = shepherd(d, "policy", "explain", str(file), "--user", ME, "--db", live,
                         "--json")
    assert explained.returncode == 0, explained.stderr
    data = json.loads(explained.stdout)
    assert data["usage_known"] is True
    assert data["entries"][0]["quota"]["day"]["allowance_s"] == 600, data["entries"][0]
    said = shepherd(d, "policy", "explain", str(file), "--user", ME, "--db", live)
    assert "from the running daemon" in said.stdout, said.stdout
    simulated = shepherd(d, "policy", "simulate", str(file), "--user", ME, "--db", live,
                         "--json", "-", stdin="")
    assert simulated.returncode == 0, simulated.stderr
    # Another store than the daemon's, held by nothing: read as before; a daemon's store
    # asked of a daemon that holds another still says what to do.
    other = daemon_factory(policy(GAME), name="other")
    refused = shepherd(d, "policy", "explain", str(file), "--user", ME, "--db",
                       str(other.state / "shepherd.db"))
    assert refused.returncode != 0
    assert "held by the running Shepherd daemon" in refused.stderr, refused.stderr


def test_explain_on_the_live_store_says_a_running_session_is_played_as_stopped_now(
        daemon_factory: Any, tmp_path: Path) -> None:
    """rev15-s25 A: with a game running, `policy explain --db <live store>` played the day
    as if it stopped now and rested (its time so far counted) and did not say so, where
    the TUI's Policy view says it: the parent read the game as resting while it ran."""
    d = daemon_factory(policy(GAME))
    live = str(d.state / "shepherd.db")
    file = tmp_path / "policy.toml"
    file.write_text(policy(GAME))
    d.call("launch", entry="game", user=ME)
    said = shepherd(d, "policy", "explain", str(file), "--user", ME, "--db", live)
    assert said.returncode == 0, said.stderr
    text = " ".join(said.stdout.split())
    assert ("Running now: A game; its time so far is counted, and the day below starts as "
            "if it stopped now") in text, said.stdout
    data = json.loads(shepherd(d, "policy", "explain", str(file), "--user", ME, "--db", live,
                               "--json").stdout)
    assert data["running"].startswith("Running now: A game"), data
    # rev15-s25b A-b: simulate too ("can't start: it needs a rest" while it ran)
    played = shepherd(d, "policy", "simulate", str(file), "--user", ME, "--db", live, "-",
                      stdin="")
    assert played.returncode == 0, played.stderr
    assert " ".join(played.stdout.split()).startswith("Running now: A game;"), played.stdout
    # another day is not today: nothing runs in it yet
    tomorrow = shepherd(d, "policy", "explain", str(file), "--user", ME, "--db", live,
                        "--date", "tomorrow")
    assert "Running now" not in tomorrow.stdout, tomorrow.stdout
