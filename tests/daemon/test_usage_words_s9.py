"""Review 12 (s8) M4, through a real daemon and the real command line: after a set
(`=D`) on a day with time given for the week, `usage` says what the day allowed and
what the week allowed, not the quota less what the set took (which included the
week's time it set aside)."""

from __future__ import annotations

import json
from typing import Any

from tests.daemon.conftest import FAR_DAY_START, ME, policy
from tests.daemon.test_cli import shepherd

GAME = """
[[entries]]
id = "game"
label = "Space Game"
command = ["sleep", "600"]
limits = { daily_quota = "20m" }
"""


def test_usage_after_a_set_on_a_day_with_week_time_says_what_the_day_allowed(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(GAME, FAR_DAY_START))
    assert shepherd(d, "grant", ME, "game", "+1h", "--until", "week").returncode == 0
    assert shepherd(d, "grant", ME, "game", "=10m").returncode == 0
    status = d.call("status")["users"][0]["entries"][0]
    assert status["remaining_today_s"] == 600  # what the day allows: 10 minutes
    [line] = json.loads(shepherd(d, "usage", "--json").stdout)["days"][0]["usage"]
    assert line["allowed_s"] == 600 and line["granted_week_s"] == 3600, line
    text = shepherd(d, "usage").stdout
    row = next(r for r in text.splitlines() if "Space Game" in r)
    assert row.split()[:4] == ["Space", "Game", "0s", "/"], row
    # The day: 10m, said as such, with how it came about; the week: 1h given for it.
    assert " / 10m today (20m quota, 1h10m taken back, +1h of the week's time)" in row, row
    assert "this week 0s / no weekly limit, +1h for the week" in row, row
    assert "OVER" not in row


TWO = """
[[entries]]
id = "game"
label = "Space Game"
command = ["sleep", "600"]
[[entries]]
id = "reading"
command = ["sleep", "600"]
"""


def test_a_request_for_an_unknown_entry_says_what_a_launch_says(
        daemon_factory: Any) -> None:
    """Review 12 s8 M3 follow-up: request_time had its own wording of the refusal
    ("the entries are Space Game (game), reading"); there is one sentence, the launch's."""
    d = daemon_factory(policy(TWO, FAR_DAY_START))
    launch = shepherd(d, "launch", "spce")
    request = shepherd(d, "request", "spce", "5m")
    assert launch.returncode == 3 and request.returncode != 0
    said = ('There is no entry called "spce"; '
            "the entries are Space Game (game) and reading.")
    assert launch.stderr.strip() == said
    assert request.stderr.strip().removeprefix("shepherd: ") == said, request.stderr
