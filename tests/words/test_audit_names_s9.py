"""Review 12 (s8) L2: the audit names every entry by its label (a warning, an
extension), a group's timed grant runs out as "the games budget", and a grant until a
moment of the next morning says "tomorrow"."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from shepherd.words import expiry_sentence
from shepherd.words.events import event_summary

PARIS = ZoneInfo("Europe/Paris")
LABELS = {"game": "Space Game"}
NOW = datetime(2026, 11, 30, 8, 30, tzinfo=PARIS)


def row(kind: str, data: dict[str, object], ts: str = "2026-11-30T08:09:00+01:00") -> dict[
        str, object]:
    return {"type": kind, "ts": ts, "user": "nobody", "entry": "game", "data": data}


def test_a_warning_names_the_entry() -> None:
    said = event_summary(row("warning_issued", {"text": "5 minutes left"}), PARIS,
                         labels=LABELS)
    assert said == "nobody warned about Space Game: 5 minutes left", said


def test_an_extension_names_the_entry() -> None:
    said = event_summary(row("session_extended", {"session_id": 3, "seconds": 300}), PARIS,
                         labels=LABELS)
    assert said == "nobody's Space Game (session 3) extended by 5m", said


def test_a_grant_until_the_next_morning_says_tomorrow() -> None:
    said = event_summary(row("time_granted", {
        "target": "game", "seconds": 600, "mode": "add",
        "expires_at": "2026-12-01T03:59:00+01:00"}), PARIS, labels=LABELS)
    assert said == "nobody got 10m more of Space Game until tomorrow at 03:59", said


def test_a_groups_timed_grant_runs_out_as_the_budget() -> None:
    said = expiry_sentence({"user": "nobody", "target": "games", "label": "games",
                            "kind": "group", "seconds": 120,
                            "expires_at": "2026-11-30T08:20:00+01:00", "unused_s": 120},
                           NOW, PARIS)
    assert said == ("nobody's extra time in the games budget (2 minutes, given until 08:20) "
                    "has run out; 2 minutes of it went unused."), said
