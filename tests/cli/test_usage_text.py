"""`shepherd usage` text: entries of the policy in force, then former ones under a heading."""

from __future__ import annotations

import pytest

from shepherd.cli.review import print_usage_report


def test_former_entries_come_last_under_a_heading(capsys: pytest.CaptureFixture[str]) -> None:
    line = {"kind": "entry", "quota_s": None, "granted_s": 0}
    print_usage_report({"days": [{"day": "2026-11-25", "user": "alex", "usage": [
        {**line, "id": "oldgame", "used_s": 300, "current": False},
        {**line, "id": "game", "used_s": 600, "current": True},
        {"kind": "group", "id": "games", "used_s": 900, "quota_s": 3600, "granted_s": 0,
         "current": True},
    ]}]})
    out = capsys.readouterr().out.splitlines()
    assert [row.split()[0] for row in out[2:]] == ["game", "[games]", "no", "oldgame"]
    assert out[4] == "    no longer in the policy:"
    # Review 12 F9: a removed entry is not "unlimited"; it is gone, so only its use shows.
    assert out[5].split() == ["oldgame", "5m", "used"]
    assert "no daily limit" in out[2]  # an entry in force with no daily limit still says so


def test_time_taken_back_is_said_as_taken_back(capsys: pytest.CaptureFixture[str]) -> None:
    """Review s7 M3: -30m was shown as "+0s granted"; OVER agrees with the figures shown."""
    print_usage_report({"days": [{"day": "2026-11-25", "user": "alex", "usage": [
        {"kind": "entry", "id": "game", "used_s": 600, "quota_s": 3600, "granted_s": -1800,
         "current": True},
        {"kind": "entry", "id": "tv", "used_s": 2400, "quota_s": 3600, "granted_s": -1800,
         "current": True},
        {"kind": "entry", "id": "book", "used_s": 60, "quota_s": 3600, "granted_s": 900,
         "current": True}]}]})
    out = capsys.readouterr().out.splitlines()
    assert out[2].split() == ["game", "10m", "/", "1h,", "30m", "taken", "back"]
    assert out[3].split() == ["tv", "40m", "/", "1h,", "30m", "taken", "back", "OVER"]
    assert out[4].split() == ["book", "1m", "/", "1h,", "+15m", "granted"]
    assert "+0s" not in "\n".join(out)


def test_entries_are_named_by_label_in_a_column_that_fits(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Review s7 L6: ids in a fixed 20-character column that long ids overflowed."""
    print_usage_report({"days": [{"day": "2026-11-25", "user": "alex", "usage": [
        {"kind": "entry", "id": "longname", "label": "A Very Long Entry Name Indeed",
         "used_s": 60, "quota_s": 3600, "granted_s": 0, "current": True},
        {"kind": "entry", "id": "mc", "label": "Minecraft", "used_s": 600, "quota_s": 3600,
         "granted_s": 0, "current": True}]}]})
    out = capsys.readouterr().out.splitlines()
    assert out[2].startswith("    A Very Long Entry Name Indeed ")
    assert out[3].startswith("    Minecraft ")
    assert out[2].index(" / ") == out[3].index(" / ")  # the figures line up


def test_a_weekly_quota_and_time_for_the_week_are_shown_as_the_weeks(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Review s7 NEW-4: a weekly-only entry read "unlimited" and its week grant was the
    day's; OVER comes from the report (the week's use counts too)."""
    print_usage_report({"days": [{"day": "2026-11-25", "user": "alex", "usage": [
        {"kind": "entry", "id": "wk", "label": "Weekly", "used_s": 420, "quota_s": None,
         "granted_s": 0, "current": True, "quota_week_s": 600, "granted_week_s": 180,
         "used_week_s": 840, "over": True},
        {"kind": "entry", "id": "game", "used_s": 600, "quota_s": 3600, "granted_s": 300,
         "current": True, "over": False}]}]})
    out = capsys.readouterr().out.splitlines()
    assert out[2].split() == ["Weekly", "7m", "/", "no", "daily", "limit;", "this", "week",
                              "14m", "/", "10m,", "+3m", "for", "the", "week", "OVER"]
    assert out[3].split() == ["game", "10m", "/", "1h,", "+5m", "granted"]
    assert "unlimited" not in "\n".join(out)
