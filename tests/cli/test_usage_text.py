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
    assert "unlimited" in out[2]  # an entry in force with no daily limit still says so
