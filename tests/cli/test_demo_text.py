"""`shepherd demo --plain` text: states and ends in words, never codes (review s7 M6)."""

from __future__ import annotations

from shepherd.cli.demo import _describe, _summary


def test_the_status_line_says_states_in_words_with_labels() -> None:
    status = {"sessions": [{"entry": "game", "remaining_s": 75.0}], "users": [{"entries": [
        {"id": "game", "label": "A short game", "state": "running", "reasons": []},
        {"id": "tablet", "label": "Tablet", "state": "outside_window", "reasons": []},
        {"id": "reading", "label": "Reading", "state": "busy", "reasons": []},
        {"id": "music", "label": "Music", "state": "busy",
         "reasons": [{"code": "cooldown", "until": "2026-11-30T17:00:00+00:00"}]}]}]}
    line = _summary(status)
    assert line == ("A short game running, 1m15s left; Tablet: outside hours; Reading: busy; "
                    "Music: resting")
    for code in ("outside_window", "cooldown", "tablet:"):
        assert code not in line


def test_events_read_in_words() -> None:
    ended = _describe({"type": "session_ended", "entry": "game", "reason": "expired",
                       "charged_s": 80.0})
    assert ended == "game ended: its time was up, 1m20s charged"
    locked = _describe({"type": "user_locked", "user": "alex"})
    assert locked == "alex was locked"
