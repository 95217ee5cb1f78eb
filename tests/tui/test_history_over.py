"""The History chart calls a day over only where the daemon's usage says so (json16's
left-alone: a day an extension carried past its allowance was drawn red and counted
"over quota", while `shepherd usage` says it is not)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from shepherd.tui.screens.history import series
from shepherd.tui.widgets.usage_chart import UsageChart

LAST = date(2026, 11, 30)


def line(used: float, over: bool | None, extended: float = 0.0) -> dict[str, Any]:
    found: dict[str, Any] = {"kind": "entry", "id": "mc", "used_s": used, "quota_s": 240,
                             "granted_s": 0, "allowed_s": 240}
    if over is not None:
        found["over"] = over
    if extended:
        found["extended_s"] = extended
    return found


def chart_text(days: list[dict[str, Any]]) -> str:
    chart = UsageChart()
    chart.days = series(days, "alex", "entry", "mc", LAST)
    return chart.render().plain


def test_a_day_an_extension_carried_past_its_allowance_is_not_over() -> None:
    days = [{"user": "alex", "day": LAST.isoformat(), "usage": [line(360, False, 120)]}]
    assert [d.over for d in series(days, "alex", "entry", "mc", LAST)][-1] is False
    assert "never over quota" in chart_text(days)


def test_a_day_the_daemon_calls_over_is_counted_over() -> None:
    days = [{"user": "alex", "day": (LAST - timedelta(days=1)).isoformat(),
             "usage": [line(360, True)]},
            {"user": "alex", "day": LAST.isoformat(), "usage": [line(100, False)]}]
    assert "over quota on 1 day." in chart_text(days)


def test_an_older_daemon_without_the_word_is_judged_by_the_allowance() -> None:
    days = [{"user": "alex", "day": LAST.isoformat(), "usage": [line(360, None)]}]
    assert "over quota on 1 day." in chart_text(days)
