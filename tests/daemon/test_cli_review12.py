"""Review s7 of issue 12 through a real daemon and the real command line: what a parent
reads after a take-back that ends a session, and after a mistyped child's name."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.daemon.conftest import ME, policy, wait_for
from tests.daemon.test_cli import shepherd

GAME = """
[[entries]]
id = "game"
label = "Minecraft"
command = ["sleep", "600"]
limits = { daily_quota = "1h" }
"""


def test_a_take_back_that_ends_the_session_says_so_and_warns_nobody(
        daemon_factory: Any, tmp_path: Path) -> None:
    """M1/L2: "-1h" while Minecraft runs leaves nothing: the parent reads that it stops
    now; the child gets no "0 seconds left, save now" warning, only the end."""
    d = daemon_factory(policy(GAME))
    events = d.events()
    assert shepherd(d, "launch", "game").returncode == 0
    time.sleep(1.5)
    taken = shepherd(d, "grant", ME, "game", "-1h")
    assert taken.returncode == 0, taken.stderr
    assert "Minecraft stops now: its time for today is used up." in taken.stdout, taken.stdout
    ended = events.next("session_ended", timeout=20)
    assert ended["reason"] == "expired"
    ended_rows = lambda: d.call("audit.query", types=["session_ended"])["events"]  # noqa: E731
    wait_for(ended_rows)
    assert d.call("audit.query", types=["warning_issued"])["events"] == []


def test_stop_for_a_child_who_is_not_in_the_policy_is_an_error_naming_them(
        daemon_factory: Any) -> None:
    """M2: "stop --user alx" (a typo) is not "nothing was running"."""
    d = daemon_factory(policy(GAME))
    assert shepherd(d, "launch", "game").returncode == 0
    typo = shepherd(d, "stop", "--user", "alx")
    assert typo.returncode != 0 and "alx" in typo.stderr, (typo.stdout, typo.stderr)
    assert "nothing was stopped" not in typo.stdout.lower()
    assert json.loads(shepherd(d, "status", "--json").stdout)["sessions"]  # still running
    assert shepherd(d, "stop", "--user", ME).returncode == 0


def test_status_says_an_entry_whose_program_is_missing_will_not_start(
        daemon_factory: Any) -> None:
    """L10: "available … can start, no time limit", then the launch failed."""
    d = daemon_factory(policy(GAME + """
[[entries]]
id = "ghost"
label = "Ghost"
command = ["no-such-program-review-s7"]
"""))
    shown = shepherd(d, "status")
    assert shown.returncode == 0, shown.stderr
    [ghost] = [line for line in shown.stdout.splitlines() if "Ghost" in line]
    # one state and one sentence for it everywhere (review-1215-s12 F4)
    assert "can't start: its program 'no-such-program-review-s7' is not installed here" in ghost
    assert "not installed" in ghost and "available" not in ghost
    assert "can start" not in ghost
    entries = json.loads(shepherd(d, "status", "--json").stdout)["users"][0]["entries"]
    missing = {e["id"]: e.get("program_missing") for e in entries}
    assert missing == {"game": None, "ghost": "no-such-program-review-s7"}
