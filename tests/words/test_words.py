"""The one renderer: durations, moments, refusals, states and warnings in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shepherd.engine import (
    AlreadyRunning,
    Cooldown,
    GroupQuotaExhausted,
    Locked,
    NotAllowedForUser,
    OutsideWindow,
    QuotaExhausted,
    StoreUnavailable,
    UnknownEntry,
)
from shepherd.words import (
    at_moment,
    format_duration,
    lock_note,
    reason_clause,
    refusal_sentence,
    spoken_duration,
    state_word,
    until_moment,
    warning_text,
)

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 25, 9, 40, tzinfo=PARIS)  # a Wednesday


def local(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=PARIS)


@pytest.mark.parametrize(("seconds", "words"), [
    (0, "0 seconds"), (1, "1 second"), (45, "45 seconds"), (60, "1 minute"),
    (90, "1 minute 30 seconds"), (59.6, "1 minute"), (299.7, "5 minutes"),
    (900, "15 minutes"), (5400, "1 hour 30 minutes"), (3590, "1 hour"),
    (7200, "2 hours"), (86_400 + 3600, "1 day 1 hour"), (-5, "0 seconds"),
    (344, "5 minutes"), (929, "15 minutes"),  # s7 L3: never "6 minutes" for 5m44s
])
def test_durations_are_spoken_as_a_person_says_them(seconds: float, words: str) -> None:
    assert spoken_duration(seconds) == words


def test_compact_durations_are_the_policy_syntax() -> None:
    assert format_duration(5400) == "1h30m"
    assert format_duration(900) == "15m"


@pytest.mark.parametrize(("moment", "at", "until"), [
    (local(25, 15, 30), "at 15:30", "until 15:30"),
    (local(26, 4), "tomorrow at 04:00", "until tomorrow at 04:00"),
    (local(28, 9), "on Saturday at 09:00", "until Saturday at 09:00"),
    (local(30, 9), "on Monday at 09:00", "until Monday at 09:00"),
    (datetime(2026, 12, 9, 9, tzinfo=PARIS), "on 9 December at 09:00",
     "until 9 December at 09:00"),
    (datetime(2027, 1, 2, 9, tzinfo=PARIS), "on 2 January 2027 at 09:00",
     "until 2 January 2027 at 09:00"),
])
def test_moments_are_local_short_and_relative_to_now(moment: datetime, at: str,
                                                     until: str) -> None:
    assert at_moment(moment, NOW, PARIS) == at
    assert until_moment(moment, NOW, PARIS) == until


def test_moments_are_shown_in_the_local_zone_whatever_zone_they_come_in() -> None:
    utc = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)  # 15:30 in Paris
    assert at_moment(utc, NOW, PARIS) == "at 15:30"
    assert at_moment(utc, NOW, ZoneInfo("America/New_York")) == "at 09:30"


def test_a_moment_something_becomes_possible_is_rounded_up_so_the_child_is_not_refused() -> None:
    assert until_moment(local(25, 10, 0, 30), NOW, PARIS) == "until 10:01"
    assert at_moment(local(25, 23, 59, 1), NOW, PARIS) == "tomorrow at 00:00"
    assert at_moment(local(25, 10, 0, 30), NOW, PARIS, up=False) == "at 10:00"


def test_the_issue_example_reads_as_a_parent_would_say_it() -> None:
    reasons = [GroupQuotaExhausted("games", 7200.0, 7200, local(26, 4)),
               Cooldown(local(25, 10, 0, 30))]
    assert refusal_sentence("Minecraft", reasons, NOW, PARIS) == (
        "Minecraft can't start: the games budget for today is used up "
        "(back tomorrow at 04:00), and it needs a rest until 10:01")


def test_reasons_as_json_read_the_same_as_reason_objects() -> None:
    reasons = [QuotaExhausted(3600.0, 3600, local(28, 4)), OutsideWindow(local(25, 15, 30)),
               Locked("alex")]
    as_json = [r.to_json() for r in reasons]
    sentence = refusal_sentence("Celeste", reasons, NOW, PARIS)
    assert refusal_sentence("Celeste", as_json, NOW, PARIS) == sentence
    assert sentence == (
        "Celeste can't start: its time for today is used up (back on Saturday at 04:00), "
        "it is outside its allowed hours (opens at 15:30), and alex is locked by a parent")


def test_a_refusal_told_to_the_locked_child_says_you() -> None:
    """Review 11 s6 F9: the child read "A short game can't start: nobody is locked"."""
    reasons = [Locked("alex").to_json()]
    assert refusal_sentence("Celeste", reasons, NOW, PARIS, you="alex") == \
        "Celeste can't start: you are locked by a parent"
    assert refusal_sentence("Celeste", reasons, NOW, PARIS, you="sam") == \
        "Celeste can't start: alex is locked by a parent"  # a brother is not "you"
    theirs = [NotAllowedForUser("alex", "celeste").to_json()]
    assert refusal_sentence("Celeste", theirs, NOW, PARIS, you="alex") == \
        "Celeste can't start: it is not one of your entries"


def test_a_grant_to_a_locked_child_is_said_in_good_grammar() -> None:
    assert lock_note("alex", 60) == ("alex is locked: the 1 minute is given, but alex can't use "
                                     "it until you unlock them.")
    assert lock_note("alex", 900).startswith("alex is locked: the 15 minutes are given")


@pytest.mark.parametrize(("reason", "clause"), [
    (NotAllowedForUser("sam", "minecraft"), "it is not one of sam's entries"),
    (AlreadyRunning((3,), 1, True), "it is already running"),
    (AlreadyRunning((3,), 1), "another program is running (only one may run at a time)"),
    (AlreadyRunning((3, 4), 2), "2 programs are running (the most allowed at once)"),
    (OutsideWindow(None), "it is outside its allowed hours, and none are coming up"),
    (QuotaExhausted(0.0, 0, None), "it has no time allowed"),
    (QuotaExhausted(0.0, 0, local(28, 4)),
     "it has no time allowed today (back on Saturday at 04:00)"),
    (GroupQuotaExhausted("games", 0.0, 0, local(26, 4)),
     "the games budget allows no time today (back tomorrow at 04:00)"),
    (GroupQuotaExhausted("games", 0.0, 0, None), "the games budget allows no time"),
    (QuotaExhausted(7200.0, 7200, local(30, 4), "week"),
     "its time for this week is used up (back on Monday at 04:00)"),
    (GroupQuotaExhausted("games", 36000.0, 36000, local(30, 4), "week"),
     "the games budget for this week is used up (back on Monday at 04:00)"),
    (StoreUnavailable("disk full"), "Shepherd cannot record time right now, so nothing may start"),
])
def test_every_reason_has_a_clause(reason: object, clause: str) -> None:
    assert reason_clause(reason, NOW, PARIS) == clause  # type: ignore[arg-type]


def test_a_reason_this_version_does_not_know_still_says_something() -> None:
    assert reason_clause({"code": "solar_flare"}, NOW, PARIS) == "it is refused (solar_flare)"
    assert reason_clause({}, NOW, PARIS) == "it is refused (no reason given)"


def test_bad_times_in_json_do_not_break_the_sentence() -> None:
    assert reason_clause({"code": "cooldown", "until": "soon"}, NOW, PARIS) == "it needs a rest"


def test_an_unknown_entry_lists_the_entries_the_child_has() -> None:
    sentence = refusal_sentence("minecraf", [UnknownEntry("minecraf", ("minecraft", "celeste",
                                                                       "music"))], NOW, PARIS)
    assert sentence == ('There is no entry called "minecraf"; '
                        "the entries are minecraft, celeste and music.")
    alone = refusal_sentence("x", [UnknownEntry("x").to_json()], NOW, PARIS)
    assert alone == 'There is no entry called "x", and none are set up for this child.'


def test_an_unknown_entry_names_each_entry_as_status_shows_it_with_its_id() -> None:
    """Review 12 F2: status shows labels, so the list shows them too, with the id where
    it is spelt otherwise."""
    sentence = refusal_sentence("Minecraf", [UnknownEntry(
        "Minecraf", ("rest", "minecraft"), ("Rest Game", "Minecraft"))], NOW, PARIS)
    assert sentence == ('There is no entry called "Minecraf"; the entries are '
                        "Rest Game (rest) and Minecraft.")


@pytest.mark.parametrize(("state", "word"), [
    ("available", "available"), ("cooldown", "resting"), ("quota_exhausted", "used up"),
    ("outside_window", "outside hours"), ("not_allowed", "not allowed"), ("busy", "busy"),
    ("some_new_state", "some new state"),
])
def test_states_are_short_words(state: str, word: str) -> None:
    assert state_word(state) == word


@pytest.mark.parametrize(("message", "left", "text"), [
    # launched with 60 s left: the "2 minutes" warning fires at once and tells the truth
    ("2 minutes left", 60, "1 minute left"),
    ("5 minutes left", 300, "5 minutes left"),
    ("1 minute left, save now", 40, "40 seconds left, save now"),
    ("Only 5m to go!", 125, "Only 2 minutes 5 seconds to go!"),
    ("{left} left: save your world", 90, "1 minute 30 seconds left: save your world"),
    ("Save your world!", 120, "2 minutes left. Save your world!"),
    ("Music stops at 21:30", 600, "10 minutes left. Music stops at 21:30"),
    ("", 299.9, "5 minutes left"),
    # review-12-s13 M1: the whole amount a parent wrote is replaced, never a part of it
    ("Half an hour left, then homework", 1800, "30 minutes left, then homework"),
    ("2 minutes and 30 seconds left", 180, "3 minutes left"),
    ("2 minutes, 30 seconds left", 60, "1 minute left"),
    ("A quarter of an hour left, then dinner", 60, "1 minute left, then dinner"),
    ("An hour and a half left", 5400, "1 hour 30 minutes left"),
    ("5 more minutes!", 60, "1 minute more!"),
    ("Only five more minutes", 60, "Only 1 minute more"),
    ("1h30m left", 60, "1 minute left"),
    ("1 h 30 m left", 90, "1 minute 30 seconds left"),
])
def test_a_warning_says_the_true_time_left(message: str, left: float, text: str) -> None:
    assert warning_text(message, left) == text


def test_dates_cross_a_daylight_saving_change_correctly() -> None:
    before = datetime(2026, 10, 24, 22, 0, tzinfo=PARIS)  # Saturday, summer time
    after = before.astimezone(UTC) + timedelta(hours=7)  # 7 real hours: 04:00 in winter time
    assert at_moment(after, before, PARIS) == "tomorrow at 04:00"


def test_a_grant_says_what_it_gave_for_the_day_or_for_the_week() -> None:
    from shepherd.words import grant_sentence

    day = {"user": "sam", "target": "games", "seconds": 900, "mode": "add",
           "allowance_s": 6300}
    assert grant_sentence(day, NOW, PARIS) == (
        "sam has 15 minutes more of games today (1h45m in all today).")
    week = {"user": "sam", "target": "videos", "label": "Videos", "seconds": 900,
            "mode": "add", "allowance_s": None, "week_allowance_s": 18900, "unlimited": False}
    assert grant_sentence(week, NOW, PARIS) == (
        "sam has 15 minutes more of Videos today (5h15m in all this week).")
    free = {**week, "week_allowance_s": None, "unlimited": True}
    assert grant_sentence(free, NOW, PARIS).endswith(
        "today. Videos has no daily limit, so this changes nothing.")


def test_a_grant_that_expires_says_until_when_and_its_expiry_says_what_went_unused() -> None:
    from shepherd.words import expiry_sentence, grant_sentence

    until = NOW.replace(hour=17, minute=0, second=0, microsecond=0)
    timed = {"user": "sam", "target": "games", "seconds": 1800, "mode": "add",
             "allowance_s": 7200, "expires_at": until.isoformat(), "week": False}
    assert grant_sentence(timed, NOW, PARIS) == (
        "sam has 30 minutes more of games until 17:00 (2h in all today until then).")
    week_end = (NOW + timedelta(days=1)).replace(hour=4, minute=0, second=0, microsecond=0)
    pooled = {**timed, "expires_at": week_end.isoformat(), "week": True}
    assert grant_sentence(pooled, NOW, PARIS) == (  # (its last day: rev15-s25 D)
        "sam has 30 minutes more of games this week, which ends tomorrow at 04:00 "
        "(2h in all today).")
    two_days = {**pooled, "expires_at": (week_end + timedelta(days=1)).isoformat()}
    assert "this week, on any day until " in grant_sentence(two_days, NOW, PARIS)
    gone = {"user": "sam", "target": "games", "seconds": 1800, "expires_at": until.isoformat(),
            "week": False, "unused_s": 600.0}
    assert expiry_sentence(gone, until, PARIS) == (
        "sam's extra time for games (30 minutes, given until 17:00) has run out; 10 minutes "
        "of it went unused.")
    assert expiry_sentence({**gone, "unused_s": 0.0}, until, PARIS).endswith(
        "; all of it was used.")
    assert expiry_sentence({**pooled, "unused_s": None}, week_end, PARIS) == (
        "sam's extra time for games this week (30 minutes) has run out with the week.")
def test_the_audit_view_says_when_a_program_was_started_outside_shepherd() -> None:
    from shepherd.tui.words import event_summary

    started = {"type": "session_started", "user": "alex", "entry": "minecraft",
               "data": {"origin": "outside", "matched_by": "exe"}}
    assert event_summary(started) == (
        "alex started minecraft outside Shepherd: counted as a session")
    stopped = {"type": "launch_denied", "user": "alex", "entry": "minecraft",
               "data": {"origin": "outside", "reasons": [{"code": "locked"}]}}
    assert event_summary(stopped).startswith(
        "alex started minecraft outside Shepherd, and it was stopped: ")


def test_a_pause_says_why_and_since_when() -> None:
    from shepherd.words import pause_clause, resumed_clause
    now = datetime(2026, 11, 25, 16, 0, tzinfo=ZoneInfo("Europe/Paris"))
    zone = ZoneInfo("Europe/Paris")
    assert pause_clause({"cause": "locked", "since": "2026-11-25T15:42:30+01:00"}, now,
                        zone) == "paused since 15:42: the screen is locked"
    assert pause_clause({"cause": "switched_away", "since": "2026-11-24T23:10:00+01:00"},
                        now, zone) == ("paused since yesterday at 23:10: another account "
                                       "has the screen")
    assert resumed_clause("idle", 1200) == ("counted again after 20 minutes (nobody was "
                                            "using the screen)")


def test_a_childs_note_in_the_audit_view_is_shown_as_written() -> None:
    from rich.text import Text

    from shepherd.tui.words import event_summary

    asked = {"type": "time_requested", "user": "alex", "entry": "minecraft",
             "data": {"seconds": 600, "note": "please [/] thanks [b]"}}
    shown = Text.from_markup(event_summary(asked))  # the audit view reads it as markup
    assert shown.plain.endswith("“please [/] thanks [b]”")


def test_the_tui_stylesheet_is_installed_with_the_package() -> None:
    # `pip install .` (the README's install steps) installs package data only as listed.
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())
    listed = data["tool"]["setuptools"]["package-data"]["shepherd"]
    shipped = {p.relative_to(root / "shepherd").as_posix()
               for p in (root / "shepherd").rglob("*") if p.suffix in {".tcss", ".toml"}}
    assert shipped and all(any(Path(f).match(pattern) for pattern in listed) for f in shipped)


def test_the_policy_view_says_a_weekly_only_budget_per_week() -> None:
    from shepherd.tui.words import policy_text

    sup = {"day_starts_at": 240, "week_starts_on": "mon", "admin_group": "shepherd-admin",
           "stop_grace": 10, "audit_retention": 86400, "on_restart": "adopt"}
    groups = [{"id": "games", "entries": ["a", "b"], "daily_quota": None,
               "weekly_quota": 10800},
              {"id": "videos", "entries": ["c"], "daily_quota": {"single": 3600},
               "weekly_quota": 18000}]
    shown = policy_text("p.toml", {"supervisor": sup, "users": [], "entries": [],
                                   "groups": groups}).plain
    assert "games: a, b share 3h a week per child" in shown
    assert "videos: c share 1h a day, per week 5h per child" in shown


def test_repeats_of_a_refusal_say_how_many_in_the_minute_after() -> None:
    """A child's loop of refused launches is one row with a count (review-9-s12 M1)."""
    from shepherd.tui.words import event_summary

    repeats = {"type": "launch_denied", "user": "nobody", "entry": "minecraft",
               "data": {"reasons": [{"code": "locked"}], "repeated": 412, "window_s": 60}}
    said = event_summary(repeats, labels={"minecraft": "Minecraft"})
    assert said.startswith("nobody tried to start Minecraft 412 more times in the minute "
                           "after (refused: "), said
    assert said.endswith(")")
    once = {"type": "launch_denied", "user": "nobody", "entry": "minecraft",
            "data": {"reasons": [{"code": "locked"}], "repeated": 1, "window_s": 60}}
    assert "1 more time in the minute after" in event_summary(once)


def test_repeats_of_a_program_started_outside_say_each_was_stopped() -> None:
    """A shell loop starting a refused game outside Shepherd is one row with a count too
    (review-14-s17 M1), said as what happened: started, and stopped each time."""
    from shepherd.tui.words import event_summary

    repeats = {"type": "launch_denied", "user": "nobody", "entry": "game",
               "data": {"reasons": [{"code": "quota_exhausted"}], "origin": "outside",
                        "repeated": 679, "window_s": 60, "pids": [41, 42]}}
    said = event_summary(repeats, labels={"game": "Game"})
    assert said.startswith("nobody started Game outside Shepherd 679 more times in the "
                           "minute after, and each was stopped: "), said


def test_an_audited_refusal_is_said_as_at_its_own_moment_not_when_it_is_read() -> None:
    """review-14-s32 L1: "try again in 40 seconds" read an hour later said "1 second"."""
    from datetime import datetime as _dt

    from shepherd.words.events import event_summary
    row = {"type": "launch_denied", "ts": "2026-12-04T10:00:00+00:00", "user": "nobody",
           "entry": "game", "data": {"reasons": [{
               "code": "too_many_starts", "user": "nobody", "most": 12, "window_s": 60,
               "until": "2026-12-04T10:00:40+00:00"}]}}
    said = event_summary(row, UTC)
    assert said == ("nobody could not start game: nobody has started or tried to start programs "
                    "12 times in the last minute, the most Shepherd allows (try again in 40 "
                    "seconds)"), said
    assert _dt.now(UTC).year >= 2026  # (read long after the row's moment)


def test_a_loader_whose_program_cannot_be_known_is_said_as_the_loader_not_an_entry() -> None:
    """Its audit row holds the first entry it may have been (review-14-s34c H1's rest):
    read back, it is said as what was started, through the loader, and why it was stopped;
    named as the child named it, never said to be a program Shepherd could not tell
    (review-14-s36 L1, L2)."""
    from shepherd.engine.events import ProgramUnknown
    from shepherd.words.events import event_summary
    from shepherd.words.refusals import refusal_sentence
    loader = "/lib64/ld-linux-x86-64.so.2"
    told = refusal_sentence("shorx", (ProgramUnknown("/home/ann/shorx"),), datetime.now(UTC),
                            UTC, "ann")
    assert told == ("shorx can't start: it was started through the system's loader in a way "
                    "Shepherd could not see into, so it may not run: start the program "
                    "itself"), told
    long_line = refusal_sentence("gcc", (ProgramUnknown("/usr/bin/gcc", True),),
                                 datetime.now(UTC), UTC, "ann")
    assert long_line == ("gcc can't start: its command line is longer than Shepherd reads, so "
                         "Shepherd cannot tell what it is and it may not run"), long_line

    def said(reason: ProgramUnknown, exe: str) -> str:
        row = {"type": "launch_denied", "ts": "2026-12-05T02:00:00+00:00", "user": "ann",
               "entry": "open", "data": {"reasons": [reason.to_json()], "origin": "outside",
                                         "pid": 5, "exe": exe}}
        return event_summary(row, UTC, labels={"open": "Open"})

    unnamed = said(ProgramUnknown(loader), loader)
    assert unnamed.startswith("ann started a program through the system's loader outside "
                              "Shepherd, and it was stopped: it was started through"), unnamed
    named = said(ProgramUnknown("/home/ann/shorx"), "/home/ann/shorx")
    assert named.startswith("ann started shorx through the system's loader outside "), named
    in_memory = said(ProgramUnknown("/memfd:shorx"), "/memfd:shorx (deleted)")
    assert in_memory.startswith("ann started shorx (run from memory) through the system's "
                                "loader outside "), in_memory
    build = said(ProgramUnknown("/usr/bin/gcc", True), "/usr/bin/gcc")
    assert build.startswith("ann started gcc with a command line too long to read outside "
                            "Shepherd, and it was stopped: its command line is longer"), build
    assert not any("Open" in text for text in (unnamed, named, build))
