"""Usage history: entries of the policy in force first, removed ones marked; typos refused."""

from __future__ import annotations

from datetime import date

import pytest

from shepherd.engine import ActionRefused
from shepherd.engine.history import usage_report
from tests.engine.conftest import policy

ENTRIES = '[[entries]]\nid = "game"\ncommand = ["g"]\nlimits = { daily_quota = "1h" }\n'
DAY = date(2026, 11, 25)


def test_entries_no_longer_in_the_policy_are_marked_as_former() -> None:
    rows = [("alex", "game", DAY, 600.0), ("alex", "oldgame", DAY, 300.0)]
    [day] = usage_report(rows, {}, policy(ENTRIES), DAY, DAY, "alex")
    lines = {line.id: line for line in day.lines}
    assert lines["game"].current and lines["game"].quota_s == 3600
    assert not lines["oldgame"].current
    assert day.to_json()["usage"][1]["current"] is False


def test_an_unknown_child_is_refused_and_a_former_child_with_usage_is_not() -> None:
    with pytest.raises(ActionRefused, match=r"no child called 'alx'.*alex, sam"):
        usage_report([], {}, policy(ENTRIES), DAY, DAY, "alx")
    [day] = usage_report([("robin", "game", DAY, 60.0)], {}, policy(ENTRIES), DAY, DAY, "robin")
    assert day.user == "robin"
    assert usage_report([], {}, policy(ENTRIES), DAY, DAY, "sam") == []
