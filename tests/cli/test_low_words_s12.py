"""Words a parent or child reads (review-1215-s12, LOW): said as a person would."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from shepherd.cli import remote
from shepherd.cli.demo import _describe
from shepherd.cli.review import print_usage_report
from shepherd.daemon.core import BadRequest, Caller, Forbidden
from shepherd.tui.words import bottom_line


def test_a_child_naming_another_child_is_told_what_they_may_do() -> None:
    with pytest.raises(Forbidden) as refused:
        Caller("kid", admin=False, child="kid").target("root", "launch")
    assert str(refused.value) == "You can only start programs for yourself."


def test_a_parent_who_names_no_child_is_told_the_option() -> None:
    with pytest.raises(BadRequest) as refused:
        Caller("root", admin=True).target(None, "launch")
    assert str(refused.value) == "say which child: --user CHILD"


def test_a_locked_childs_program_is_theirs(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(remote, "_run", lambda args, method, **params: {"stopped": [3]})
    remote.cmd_lock(argparse.Namespace(command="lock", user="nobody"))
    out = capsys.readouterr().out
    assert out.startswith("nobody is locked: their running program was stopped; ")
    monkeypatch.setattr(remote, "_run", lambda args, method, **params: {"stopped": [3, 4]})
    remote.cmd_lock(argparse.Namespace(command="lock", user="nobody"))
    assert "their 2 running programs were stopped" in capsys.readouterr().out


def test_the_childs_bottom_line_says_the_label_once() -> None:
    assert bottom_line("Minecraft", "Minecraft can start: 3m if started now") \
        == "Minecraft can start: 3m if started now"
    assert bottom_line("Minecraft", "resting for 2m, until 21:30") \
        == "Minecraft: resting for 2m, until 21:30"


def test_the_plain_demo_names_entries_by_label() -> None:
    labels = {"game": "A short game"}
    started = _describe({"type": "session_started", "entry": "game", "session_id": 1}, labels)
    assert started == "started A short game (session 1)"
    ended = _describe({"type": "session_ended", "entry": "game", "reason": "expired",
                       "charged_s": 80.0}, labels)
    assert ended.startswith("A short game ended: ")
    warned = _describe({"type": "warning_issued", "entry": "game", "severity": "info",
                        "text": "1 minute left"}, labels)
    assert warned == "WARNING (info) A short game: 1 minute left"


def test_usage_says_no_daily_limit_one_way_and_separates_what_was_taken_back(
        capsys: pytest.CaptureFixture[str]) -> None:
    def line(**fields: Any) -> dict[str, Any]:
        return {"kind": "entry", "used_s": 0, "granted_s": 0, "current": True, **fields}
    print_usage_report({"days": [{"day": "2026-11-25", "user": "alex", "usage": [
        line(id="broken", label="Broken", quota_s=None),
        line(id="videos", label="Videos", quota_s=None, quota_week_s=600, used_week_s=0),
        line(id="mc", label="Minecraft", quota_s=None, quota_week_s=None, used_week_s=0,
             granted_week_s=120),
        line(kind="group", id="games", used_s=71, quota_s=240, granted_s=-109),
        line(id="book", label="Book", used_s=60, quota_s=3600, granted_s=900)]}]})
    out = capsys.readouterr().out
    assert "unlimited" not in out
    assert out.count("no daily limit") == 3
    assert "no weekly limit" in out
    assert "4m, 1m49s taken back" in out
    assert "1h, +15m granted" in out


@pytest.mark.parametrize("command", ["usage", "audit"])
def test_every_option_of_usage_and_audit_says_what_it_does(command: str) -> None:
    from shepherd.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in sub.choices[command]._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, (command, action.option_strings)


def test_a_deadline_days_away_reads_until_the_day(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    monkeypatch.setattr(remote, "_now", lambda: (datetime(2026, 12, 2, 21, 0, tzinfo=UTC), UTC))
    monkeypatch.setattr(remote, "call", lambda args, method, **params: {
        "label": "Videos", "entry": "videos", "session_id": 4, "remaining_s": 185400.0,
        "deadline": "2026-12-05T00:30:40+00:00"})
    remote.cmd_launch(argparse.Namespace(entry="videos", user=None, json=False))
    out = capsys.readouterr().out
    assert out == ("Videos started (session 4): 2 days 3 hours 30 minutes, "
                   "until Saturday at 00:30.\n")


def test_asking_for_time_of_an_entry_with_no_limit_says_it_changes_nothing(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    from shepherd.words import answer_notes

    monkeypatch.setattr(remote, "_run", lambda args, method, **params: {
        "request_id": 2, "entry": "broken", "label": "Broken", "again": False,
        "unlimited": True})
    remote.cmd_request(argparse.Namespace(entry="broken", duration=600, note="", user=None))
    assert capsys.readouterr().out.splitlines()[-1] \
        == "Broken has no daily limit, so this changes nothing."
    said = answer_notes({"user": "nobody", "entry": "broken", "label": "Broken",
                         "granted_s": 600, "limited_by": [], "capped_by": [],
                         "unlimited": True}, datetime(2026, 12, 2, tzinfo=UTC), UTC)
    assert said == "Broken has no daily limit, so this changes nothing."
