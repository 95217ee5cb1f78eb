"""Usage history: entries of the policy in force first, removed ones marked; typos refused."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from shepherd.engine import ActionRefused
from shepherd.engine.engine import _calendar
from shepherd.engine.history import usage_report
from tests.engine.conftest import PARIS, local, policy

ENTRIES = '[[entries]]\nid = "game"\ncommand = ["g"]\nlimits = { daily_quota = "1h" }\n'
DAY = date(2026, 11, 25)
AT: dict[str, Any] = {"now": datetime(2026, 11, 25, 20, tzinfo=PARIS), "zone": PARIS}


def test_entries_no_longer_in_the_policy_are_marked_as_former() -> None:
    rows = [("alex", "game", DAY, 600.0), ("alex", "oldgame", DAY, 300.0)]
    [day] = usage_report(rows, [], policy(ENTRIES), DAY, DAY, "alex", **AT)
    lines = {line.id: line for line in day.lines}
    assert lines["game"].current and lines["game"].quota_s == 3600
    assert not lines["oldgame"].current
    assert day.to_json()["usage"][1]["current"] is False


def test_an_unknown_child_is_refused_and_a_former_child_with_usage_is_not() -> None:
    with pytest.raises(ActionRefused, match=r"no child called 'alx'.*alex, sam"):
        usage_report([], [], policy(ENTRIES), DAY, DAY, "alx", **AT)
    [day] = usage_report([("robin", "game", DAY, 60.0)], [], policy(ENTRIES), DAY, DAY, "robin",
                         **AT)
    assert day.user == "robin"
    assert usage_report([], [], policy(ENTRIES), DAY, DAY, "sam", **AT) == []


BOTH_KINDS = ENTRIES + """
[[entries]]
id = "wk"
label = "Weekly"
command = ["w"]
limits = { weekly_quota = "10m" }
"""


def test_a_day_shows_what_it_really_allowed_and_the_week_its_own() -> None:
    """Review s7 NEW-4: every grant row was summed as the day's. Now time given until a
    moment that ran out counts what it paid for (unused: nothing; unknown: nothing), time
    for today counts as given, time for the week is shown as the week's, and a
    weekly-only entry shows its week, not "unlimited"."""
    pol = policy(BOTH_KINDS)
    day_end = _calendar(pol, PARIS).day_end(DAY)
    ran_out = local(25, 10, 2)
    grants = [
        ("alex", "game", DAY, 300, day_end, False, False, None),  # +5m for today
        ("alex", "game", DAY, 120, ran_out, False, True, 0.0),  # +2m until 10:02, unused
        ("alex", "game", DAY, 600, ran_out, False, True, 240.0),  # +10m until 10:02, 4m used
        ("alex", "game", DAY, 60, ran_out, False, True, None),  # noted before paid was kept
        ("alex", "game", DAY, 900, local(25, 21), False, False, None),  # still counts
        ("alex", "wk", DAY - timedelta(days=1), 180, day_end + timedelta(days=5), True,
         False, None),  # +3m for the week, given on Tuesday
        ("alex", "wk", DAY, 120, ran_out, False, True, 0.0),  # +2m until 10:02, unused
    ]
    rows = [("alex", "game", DAY, 4000.0), ("alex", "wk", DAY - timedelta(days=2), 300.0),
            ("alex", "wk", DAY, 420.0)]
    [day] = usage_report(rows, grants, pol, DAY, DAY, "alex", **AT)
    lines = {line.id: line for line in day.lines}
    game, wk = lines["game"], lines["wk"]
    assert (game.granted_s, game.over, game.weekly) == (300 + 240 + 900, False, False)
    assert (wk.quota_s, wk.granted_s, wk.quota_week_s, wk.granted_week_s) == (None, 0, 600, 180)
    assert (wk.used_week_s, wk.over) == (720.0, False)
    assert day.to_json()["usage"][1]["quota_week_s"] == 600
    # At 22:00 the 15 minutes until 21:00 have run out, not noted: they count nothing
    # (what they paid for is not known), and 66m40s used is within 1h + 9m.
    [late] = usage_report(rows, grants, pol, DAY, DAY, "alex", now=local(25, 22), zone=PARIS)
    assert [(x.granted_s, x.over) for x in late.lines if x.id == "game"] == [(540, False)]
    more = [("alex", "wk", DAY, 120.0)]  # 14 minutes in the week: 10m + 3m allowed, the
    # 2 minutes until 10:02 ran out unused (counted, they would hide it)
    [over] = usage_report(rows + more, grants, pol, DAY, DAY, "alex", **AT)
    assert [x.over for x in over.lines if x.id == "wk"] == [True]
