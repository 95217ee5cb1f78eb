"""Weekly quotas through a real daemon: the week's use is loaded from the store at
start, counts against launches, and `status --json` carries it."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

import pytest

from shepherd.policy import DAY_NAMES
from shepherd.store import Store
from tests.daemon.conftest import ME, policy

GAME = """
[[entries]]
id = "game"
command = ["sleep", "600"]
limits = { daily_quota = "1h", weekly_quota = "1h" }
[[groups]]
id = "games"
entries = ["game"]
weekly_quota = "1h30m"
"""


def seed_yesterday(state: Path, seconds: float, zone: tzinfo = UTC) -> str:
    """Half an hour of the game played yesterday (``zone``'s days from midnight); the
    name of yesterday's weekday, so a week starting then holds yesterday and today."""
    now = datetime.now(zone)
    yesterday = now.date() - timedelta(days=1)
    noon = datetime.combine(yesterday, time(12), tzinfo=zone)
    state.mkdir(parents=True, exist_ok=True)
    store = Store.open(state / "shepherd.db", now)
    try:
        store.start_session(noon, 1, ME, "game", boot_id="an-earlier-boot", started_mono=0.0,
                            lease_day=yesterday, process={}, audit_data={})
        store.end_session(noon + timedelta(seconds=seconds), 1, ((yesterday, seconds),),
                          "exited", None)
    finally:
        store.close()
    return DAY_NAMES[yesterday.weekday()]


def test_status_carries_the_weeks_use_loaded_from_the_store(daemon_factory: Any,
                                                             tmp_path: Path) -> None:
    if datetime.now(UTC).time() > time(23, 55):
        pytest.skip("too close to midnight: the day would change under the test")
    week_start = seed_yesterday(tmp_path / "state", 1800)
    d = daemon_factory(policy(GAME, supervisor=f'week_starts_on = "{week_start}"'),
                       env={"TZ": "UTC"})
    status = d.call("status")
    entry = status["users"][0]["entries"][0]
    assert (entry["used_today_s"], entry["used_week_s"], entry["quota_week_s"]) == (0, 1800, 3600)
    # Today's hour is cut to the week's last half hour.
    assert (entry["remaining_week_s"], entry["remaining_today_s"]) == (1800, 1800)
    group = status["users"][0]["groups"][0]
    assert (group["used_week_s"], group["quota_week_s"], group["remaining_week_s"],
            group["remaining_today_s"], group["quota_today_s"]) == (1800, 5400, 3600, 3600, None)
    d.call("launch", entry="game")
    session = d.call("status")["sessions"][0]
    assert session["deadline_cause"] == "quota"
    assert 1790 < session["remaining_s"] <= 1800


def test_a_week_that_started_today_holds_none_of_yesterdays_use(daemon_factory: Any,
                                                               tmp_path: Path) -> None:
    if datetime.now(UTC).time() > time(23, 55):
        pytest.skip("too close to midnight: the day would change under the test")
    yesterday = seed_yesterday(tmp_path / "state", 3600)
    today = DAY_NAMES[(DAY_NAMES.index(yesterday) + 1) % 7]
    d = daemon_factory(policy(GAME, supervisor=f'week_starts_on = "{today}"'),
                       env={"TZ": "UTC"})
    entry = d.call("status")["users"][0]["entries"][0]
    assert (entry["used_week_s"], entry["remaining_week_s"], entry["state"]) == (
        0, 3600, "available")


def test_a_set_below_what_the_week_has_left_shows_the_week_as_it_stands(
        daemon_factory: Any, tmp_path: Path) -> None:
    """review-15-s17 Q4 (be55474's own example): 15m a day, 25m a week, yesterday's 15
    played; ``=5m`` today leaves the day 5 minutes, and the week as it stands: 10 of
    25 minutes left, not "5m of 20m left this week" (the set lowered the day, not the
    week: unplayed, tomorrow has the week's 10)."""
    if datetime.now(UTC).time() > time(23, 55):
        pytest.skip("too close to midnight: the day would change under the test")
    week_start = seed_yesterday(tmp_path / "state", 900)
    d = daemon_factory(policy('[[entries]]\nid = "game"\ncommand = ["sleep", "600"]\n'
                              'limits = { daily_quota = "15m", weekly_quota = "25m" }\n',
                              supervisor=f'week_starts_on = "{week_start}"'),
                       env={"TZ": "UTC"})
    answer = d.call("grant", user=ME, target="game", duration="5m", mode="set")
    assert answer["allowance_s"] == 300 and answer["week_allowance_s"] == 1500, answer
    entry = d.call("status")["users"][0]["entries"][0]
    assert (entry["remaining_today_s"], entry["used_week_s"], entry["quota_week_s"],
            entry["remaining_week_s"]) == (300, 900, 1500, 600)
