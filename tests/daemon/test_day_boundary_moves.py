"""A `policy reload` that moves ``day_starts_at`` never gives time (review-9-s11 M1),
through a real daemon, and a restart over the same SQLite store keeps the switch."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shepherd.ipc.protocol import LAUNCH_DENIED, RpcError
from tests.daemon.conftest import noon_zone, policy, wait_for

NAP = '[[entries]]\nid = "nap"\ncommand = ["sleep", "600"]\nlimits = { daily_quota = "2s" }\n'


def days_at(moment: datetime) -> str:
    return policy(NAP, f'stop_grace = "2s"\nday_starts_at = "{moment:%H:%M}"')


def refused(d: Any) -> set[str]:
    with pytest.raises(RpcError) as caught:
        d.call("launch", entry="nap")
    assert caught.value.code == LAUNCH_DENIED
    return {r["code"] for r in caught.value.data["denied"]}


def nap_line(d: Any) -> dict[str, Any]:
    (user,) = d.call("status")["users"]
    (line,) = [e for e in user["entries"] if e["id"] == "nap"]
    return dict(line)


def test_a_reload_moving_the_day_later_keeps_the_spent_day_over_a_restart(
        daemon_factory: Any) -> None:
    zone = noon_zone()  # "later" as minutes after midnight, at any hour the test runs
    now = datetime.now(ZoneInfo(zone))
    # The day began two hours ago; the new boundary is half an hour from now: under it,
    # now belongs to the day before, which has no use recorded.
    d = daemon_factory(days_at(now - timedelta(hours=2)), env={"TZ": zone})
    d.call("launch", entry="nap")
    wait_for(lambda: not d.call("status")["sessions"], 30, "the nap to use its quota")
    assert refused(d) == {"quota_exhausted"}
    later = now + timedelta(minutes=30)
    d.policy_path.write_text(days_at(later))
    answer = d.call("policy.reload")
    assert refused(d) == {"quota_exhausted"}  # the spent day goes on
    boundary = answer["day_boundary"]
    assert boundary["day_starts_at"] == f"{later:%H:%M}"
    assert datetime.fromisoformat(boundary["takes_effect_at"]) > now + timedelta(hours=22)
    assert f"Quota days start at {later:%H:%M}" in boundary["text"]
    line = nap_line(d)
    assert line["state"] != "available" and line["used_today_s"] >= 2.0
    # A restart over the same store: the switch is kept, and the daemon says when.
    d.stop()
    d.start()
    assert refused(d) == {"quota_exhausted"}
    assert nap_line(d)["used_today_s"] >= 2.0
    assert d.log.read_text().count(f"Quota days start at {later:%H:%M}") == 2
    # Moved again while the daemon is down (earlier, now): still the same day.
    d.stop()
    d.policy_path.write_text(days_at(now - timedelta(hours=1)))
    d.start()
    assert refused(d) == {"quota_exhausted"}
    assert f"Quota days start at {now - timedelta(hours=1):%H:%M}" in d.log.read_text()
