"""Re-review of issues 12 and 15 (s7), through a real daemon and the real command line:
a take-back from a group budget that ends a running program says so (NEW-3), time given
until a moment on a weekly-only entry says until when (NEW-6), and the audit names
entries as the parent knows them, with the amounts the confirmation said (L-a)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any

from shepherd.localtime import local_zone
from tests.daemon.conftest import FAR_DAY_START, ME, policy, wait_for
from tests.daemon.test_cli import shepherd
from tests.policies import two_in_a_group

GROUPED = two_in_a_group('daily_quota = "1h"', group="g", labelled=True,
                         command=("sleep", "600"))

WEEKLY = """
[[entries]]
id = "wk"
label = "Weekly"
command = ["sleep", "600"]
limits = { weekly_quota = "10m" }
"""


def half_an_hour_on() -> datetime:
    return (datetime.now(local_zone()) + timedelta(minutes=30)).replace(second=0,
                                                                        microsecond=0)


def said(until: datetime) -> str:
    """How the command line names ``until``: "00:04", after midnight "tomorrow at 00:04"
    (the tests read the clock: at 23:34 half an hour on is tomorrow)."""
    today = datetime.now(local_zone()).date()
    return f"{until:%H:%M}" if until.date() == today else f"tomorrow at {until:%H:%M}"


def test_a_group_take_back_that_ends_a_running_program_says_which_and_audit_agrees(
        daemon_factory: Any) -> None:
    """NEW-3: "-1h" from the g budget while Alpha runs: Alpha stops now, and the parent
    reads it. L-a: the audit names Alpha (not "a"), says the g budget, and the amount
    taken back is the one the confirmation said, to the second."""
    d = daemon_factory(policy(GROUPED, FAR_DAY_START))
    events = d.events()
    assert shepherd(d, "launch", "a").returncode == 0
    time.sleep(1.5)
    taken = shepherd(d, "grant", ME, "g", "-1h")
    assert taken.returncode == 0, taken.stderr
    said = taken.stdout.strip()
    assert said.endswith("Alpha stops now: the g budget is used up."), said
    assert "Beta" not in said  # not running: nothing to stop
    spoken = re.match(rf"(\d+) minutes (\d+) seconds? taken back from {ME}'s g budget for "
                      r"today, not 1 hour \(", said)
    assert spoken, said
    assert events.next("session_ended", timeout=20)["reason"] == "expired"
    wait_for(lambda: d.call("audit.query", types=["session_ended"])["events"])
    audit = shepherd(d, "audit")
    assert audit.returncode == 0, audit.stderr
    text = audit.stdout
    assert f"{ME} started Alpha" in text and f"{ME}'s Alpha ended" in text, text
    assert f"{ME} started a\n" not in text
    audited = re.search(rf"(\d+)m(\d+)s was taken back from {ME}'s g budget", text)
    assert audited, text
    assert audited.groups() == spoken.groups()


def test_time_given_until_a_moment_on_a_weekly_only_entry_says_until_when(
        daemon_factory: Any) -> None:
    """NEW-6: "+2m --until" on an entry with only a weekly quota held the week's
    total "(12m in all this week)", true only until then."""
    d = daemon_factory(policy(WEEKLY, FAR_DAY_START))
    until = half_an_hour_on()
    given = shepherd(d, "grant", ME, "wk", "+2m", "--until", until.isoformat())
    assert given.returncode == 0, given.stderr
    assert given.stdout.strip() == (f"{ME} has 2 minutes more of Weekly until "
                                    f"{said(until)} (12m in all this week until then)."), \
        given.stdout
    week = shepherd(d, "grant", ME, "wk", "+3m", "--until", "week")
    assert week.returncode == 0, week.stderr
    assert week.stdout.strip().endswith(f"(13m in all this week and 2 minutes more until "
                                        f"{said(until)})."), week.stdout


def test_status_says_time_given_until_a_moment_as_on_top_until_then(
        daemon_factory: Any) -> None:
    """L-c: with 2 minutes given until a moment, status read "12m of 12m left" beside
    "can start, for up to 10 minutes": the 2 minutes count only until then."""
    d = daemon_factory(policy("""
[[entries]]
id = "game"
label = "Game"
command = ["sleep", "600"]
limits = { daily_quota = "10m" }
""", FAR_DAY_START))
    until = half_an_hour_on()
    given = shepherd(d, "grant", ME, "game", "+2m", "--until", until.isoformat())
    assert given.returncode == 0, given.stderr
    shown = shepherd(d, "status")
    assert shown.returncode == 0, shown.stderr
    [line] = [line for line in shown.stdout.splitlines() if "Game" in line]
    assert f"10m of 10m left, 2m more until {said(until)}" in line, line
    assert "12m of 12m left" not in line
    plain = shepherd(d, "grant", ME, "game", "+5m")  # for the day: no moment to name
    assert plain.returncode == 0, plain.stderr
    [line] = [line for line in shepherd(d, "status").stdout.splitlines() if "Game" in line]
    assert f"15m of 15m left, 2m more until {said(until)}" in line, line


def test_status_says_a_budgets_time_given_until_a_moment_as_on_top_until_then(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(GROUPED, FAR_DAY_START))
    until = half_an_hour_on()
    given = shepherd(d, "grant", ME, "g", "+2m", "--until", until.isoformat())
    assert given.returncode == 0, given.stderr
    shown = shepherd(d, "status").stdout
    assert f"g 0s used, 1h of 1h left, 2m more until {said(until)}" in shown, shown
