"""`usage` on a weekly-only entry with time added for today says the week's figure as
`grant` and `status` say it (review-1215-s12 F11)."""

from __future__ import annotations

import pytest

from shepherd.cli.review import print_usage_report
from shepherd.engine.history import UsageLine


def test_time_added_today_on_a_weekly_only_entry_is_the_weeks_for_today(
        capsys: pytest.CaptureFixture[str]) -> None:
    # `grant nobody videos +10m`: "(20m in all this week)"; status: "15m40s of 20m left
    # this week"; usage said "Videos 4m20s / no daily limit +10m granted; this week
    # 4m20s / 10m".
    videos = UsageLine("entry", "videos", 260.0, None, 600, label="Videos",
                       quota_week_s=600, used_week_s=260.0)
    taken = UsageLine("entry", "tv", 60.0, None, -300, label="TV", quota_week_s=600,
                      used_week_s=60.0)
    print_usage_report({"days": [{"day": "2026-11-25", "user": "nobody",
                                  "usage": [videos.to_json(), taken.to_json()]}]})
    out = capsys.readouterr().out.splitlines()
    assert out[2].split() == ["Videos", "4m20s", "/", "no", "daily", "limit;", "this", "week",
                              "4m20s", "/", "20m", "(10m,", "+10m", "granted", "for",
                              "today)"], out
    assert out[3].split() == ["TV", "1m", "/", "no", "daily", "limit;", "this", "week", "1m",
                              "/", "5m", "(10m,", "5m", "taken", "back", "for", "today)"], out
