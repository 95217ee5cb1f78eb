"""``policy.explain`` through a real daemon: the day under the policy in force, with
the week's use from the store and the time a running session has used so far."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shepherd.ipc.protocol import RpcError
from tests.daemon.conftest import ME, noon_zone, policy
from tests.daemon.test_weekly_status import GAME, seed_yesterday


def test_today_counts_the_store_and_the_running_session(daemon_factory: Any,
                                                       tmp_path: Path) -> None:
    # Days from midnight where it is noon now: the half hour left is not cut by the day's
    # end, at any hour the test runs (at 23:36 UTC the day ended it after 24 minutes).
    zone = noon_zone()
    week_start = seed_yesterday(tmp_path / "state", 1800, ZoneInfo(zone))
    d = daemon_factory(policy(GAME, supervisor=f'week_starts_on = "{week_start}"'),
                       env={"TZ": zone})
    d.call("launch", entry="game")
    answer = d.call("policy.explain", user=ME)
    explained = answer["explanation"]
    assert explained["usage_known"]
    assert answer["day"] == datetime.now(ZoneInfo(zone)).date().isoformat()
    game = explained["entries"][0]
    # Half an hour yesterday, a few seconds now: under half an hour is left this week,
    # and the day ends it when the week's hour is used.
    assert 1700 < game["possible_s"] < 1800
    assert (game["sessions"][-1]["ends_because"], game["sessions"][-1]["period"]) == (
        "quota", "week")
    lines = answer["lines"]
    assert any(line.startswith("Running now: game") for line in lines)
    assert all(len(line) <= 80 for line in lines)
    # Review 11 (s5): the note went inside the first sentence when that was wrapped.
    note = next(i for i, line in enumerate(lines) if line.startswith("Running now:"))
    heading = " ".join(line.strip() for line in lines[:note])
    assert heading.startswith(f"{ME} on ") and heading.endswith(")."), lines[:note + 2]
    assert lines[note + 1].startswith("  ") or lines[note + 1][:1].isupper(), lines


def test_a_question_without_an_answer_is_refused_in_words(daemon_factory: Any) -> None:
    d = daemon_factory(policy(GAME))
    for params, said in (({"user": "nobody-here"}, "is not a child of this policy"),
                         ({"user": ME, "date": "someday"}, "is not a day"),
                         ({"user": ME, "from": "25:00"}, "is not a time of day"),
                         ({"user": ME, "date": "2020-01-01"}, "is over")):
        with pytest.raises(RpcError) as caught:
            d.call("policy.explain", **params)
        assert said in caught.value.message
    assert d.call("status")["users"][0]["name"] == ME  # and the daemon goes on


RESTING = """
[[entries]]
id = "game"
command = ["sleep", "600"]
limits = { max_run = "40m", cooldown = "30m" }
"""


def test_a_running_session_rests_after_it_stops_as_the_engine_would_make_it(
        daemon_factory: Any) -> None:
    # Review 15 (s7) M1: the live explanation said the running program could be used again
    # at once, while the daemon makes it rest for its cooldown once the session ends.
    d = daemon_factory(policy(RESTING), env={"TZ": noon_zone()})  # the rest ends today
    d.call("launch", entry="game")
    asked = datetime.now(UTC)
    explained = d.call("policy.explain", user=ME)["explanation"]
    game = explained["entries"][0]
    first = datetime.fromisoformat(game["sessions"][0]["start"])
    assert (first - asked).total_seconds() >= 29 * 60, game["sessions"][0]
    rest = game["waits"][0]
    assert [r["code"] for r in rest["reasons"]] == ["cooldown"], rest
