"""Grants in words: the one sentence the CLI and the TUI both show after a grant."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shepherd.engine import GrantCap, GroupQuotaExhausted
from shepherd.words import cap_sentence, grant_notes, grant_sentence

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 25, 16, 48, tzinfo=PARIS)


def result(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"user": "alex", "target": "tiny", "label": "Tiny Game",
                            "kind": "entry", "mode": "add", "seconds": 600, "change_s": 600,
                            "allowance_s": 3000, "used_s": 0.0, "held_at_used": False,
                            "unlimited": False, "limited_by": [], "capped_by": []}
    return {**base, **changes}


def test_taking_back_more_than_is_left_says_what_was_really_taken() -> None:
    """Review F3: 26s of a 40s quota used, "-1h" takes back 14s, not an hour."""
    said = grant_sentence(result(mode="take", seconds=3600, change_s=-14, allowance_s=26,
                                 used_s=26.0, held_at_used=True), NOW, PARIS)
    assert said == ("14 seconds of Tiny Game taken back from alex for today, not 1 hour "
                    "(26s in all today: all of it is already used, and time used is never "
                    "taken back).")
    nothing = grant_sentence(result(target="games", label="games", kind="group", mode="take",
                                    seconds=300, change_s=0, allowance_s=55, used_s=55.0,
                                    held_at_used=True), NOW, PARIS)
    assert nothing.startswith("Nothing of alex's games budget was taken back (55s in all")
    assert "5 minutes" not in nothing


def test_a_take_back_to_what_was_used_names_no_week_time_nobody_gave() -> None:
    """Review-12-s13 M3: 9.08 s used of 20 minutes, "-1h": the allowance held at the use
    is 10 whole seconds, and the words said "the rest is time given for the week" (no
    week time was ever given) whenever the use had a fraction under half a second."""
    for used in (9.08, 9.5, 9.92):
        said = grant_sentence(result(mode="take", seconds=3600, change_s=-1190,
                                     allowance_s=10, used_s=used, held_at_used=True),
                              NOW, PARIS)
        assert said == ("19 minutes 50 seconds of Tiny Game taken back from alex for today, "
                        "not 1 hour (10s in all today: all of it is already used, and time "
                        "used is never taken back)."), said
    week = grant_sentence(result(mode="take", seconds=3600, change_s=-1190, allowance_s=70,
                                 used_s=9.08, held_at_used=True), NOW, PARIS)
    assert week.endswith("9s is already used, and time used is never taken back; the rest "
                         "is time given for the week, which only a take-back --until week "
                         "or a set (=D) takes)."), week
    # none used, and the rest all the week's (a set took the day's own time: s22b G3)
    none = grant_sentence(result(mode="take", seconds=3600, change_s=0, allowance_s=1200,
                                 used_s=0.0, held_at_used=True), NOW, PARIS)
    assert none == ("Nothing of Tiny Game was taken back from alex (20m in all today: all of "
                    "it is time given for the week, which only a take-back --until week or a "
                    "set (=D) takes)."), none


def test_a_take_back_of_more_than_the_day_has_says_no_use_where_none_was_made() -> None:
    """review-15-s23 (LOW, s22 F7): on a day the week's quota left 5 of its 20 minutes,
    nothing played, ``-30m`` took the day's 20 and said "all of it is already used"."""
    said = grant_sentence(result(mode="take", seconds=1800, change_s=-1200, allowance_s=0,
                                 used_s=0.0, held_at_used=True), NOW, PARIS)
    assert said == ("20 minutes of Tiny Game taken back from alex for today, not 30 "
                    "minutes (0s in all today)."), said


def test_a_group_is_called_a_budget() -> None:
    """Review F6: "more of games" reads as a game; it is the games budget."""
    said = grant_sentence(result(target="games", label="games", kind="group", seconds=300,
                                 change_s=300), NOW, PARIS)
    assert said == "alex has 5 minutes more in the games budget today (50m in all today)."


def test_a_grant_still_capped_says_what_caps_it_in_words() -> None:
    """Review F1: a group budget or the hours left that allow less than the allowance."""
    caps = [GrantCap("group_quota", 45.0, "games"),
            GrantCap("window", 1860.0, None, datetime(2026, 11, 25, 17, 20, tzinfo=PARIS))]
    said = grant_sentence(result(capped_by=[c.to_json() for c in caps]), NOW, PARIS)
    assert said == ("alex has 10 minutes more of Tiny Game today (50m in all today). The games "
                    "budget still allows only 45 seconds today. Tiny Game's hours today allow "
                    "only 31 minutes more, until 17:20.")
    running = GrantCap("group_quota", 300.0, "games",
                       datetime(2026, 11, 25, 16, 53, 30, tzinfo=PARIS), running=True)
    assert cap_sentence("Tiny Game", running, NOW, PARIS) == \
        "The games budget still ends it at 16:53."
    hours = GrantCap("window", 300.0, None, datetime(2026, 11, 25, 16, 53, tzinfo=PARIS), True)
    assert cap_sentence("Tiny Game", hours, NOW, PARIS) == \
        "This session still ends at 16:53: that is when its hours end."


def test_no_daily_limit_and_a_refusal_are_said_the_same_by_everyone() -> None:
    """Review F1: the TUI said "only matters for a group budget", which is not true."""
    assert grant_notes("Music", unlimited=True, now=NOW, zone=PARIS) == \
        "Music has no daily limit, so this changes nothing."
    assert grant_sentence(result(label="Music", allowance_s=None, unlimited=True), NOW,
                          PARIS).endswith("today. Music has no daily limit, so this changes "
                                          "nothing.")
    spent = GroupQuotaExhausted("games", 2700.0, 2700, None)
    assert grant_notes("Minecraft", limited_by=[spent], capped_by=[GrantCap("window", 9.0)],
                       now=NOW, zone=PARIS) == \
        "But Minecraft still can't be used today: the games budget for today is used up."


def test_a_grant_names_what_the_weeks_quota_still_allows() -> None:
    """Review (words3): "30m in all today" while only 21m were left this week."""
    week = GrantCap("quota", 1260.0, period="week")
    said = grant_sentence(result(mode="set", seconds=1800, change_s=-1800, allowance_s=1800,
                                 capped_by=[week.to_json()]), NOW, PARIS)
    assert said == ("alex's allowance of Tiny Game for today is set (30m in all today). "
                    "Tiny Game's weekly quota still allows only 21 minutes this week.")
    budget = GrantCap("group_quota", 600.0, "games", period="week")
    assert cap_sentence("Tiny Game", budget, NOW, PARIS) == \
        "The games budget still allows only 10 minutes this week."
    ends = datetime(2026, 11, 25, 17, 9, tzinfo=PARIS)
    assert cap_sentence("Tiny Game", GrantCap("quota", 1260.0, None, ends, True, "week"), NOW,
                        PARIS) == "Tiny Game's weekly quota still ends it at 17:09."
    assert cap_sentence("Tiny Game", GrantCap("group_quota", 60.0, "games", ends, True, "week"),
                        NOW, PARIS) == "The games budget for the week still ends it at 17:09."


def test_time_added_until_a_moment_or_for_the_week_says_so_with_its_caps() -> None:
    until = datetime(2026, 11, 25, 17, 30, tzinfo=PARIS).isoformat()
    said = grant_sentence(result(expires_at=until, capped_by=[
        GrantCap("group_quota", 45.0, "games").to_json()]), NOW, PARIS)
    assert said == ("alex has 10 minutes more of Tiny Game until 17:30 (50m in all today "
                    "until then). The games budget still allows only 45 seconds today.")


def test_setting_or_taking_while_time_given_until_a_moment_counts_says_what_lasts() -> None:
    """Review s7 H1: "=2h" while 30 minutes given until 17:30 still count is 2h for the
    day, and the 30 minutes on top until then; never "2h30m in all today"."""
    until = datetime(2026, 11, 25, 17, 30, tzinfo=PARIS).isoformat()
    said = grant_sentence(result(mode="set", seconds=7200, change_s=3600, allowance_s=9000,
                                 lasting_s=7200, lasting_from=until), NOW, PARIS)
    assert said == ("alex's allowance of Tiny Game for today is set (2h in all today and 30 "
                    "minutes more until 17:30).")
    held = grant_sentence(result(mode="take", seconds=900, change_s=0, allowance_s=5400,
                                 lasting_s=3600, lasting_from=until, used_s=4200.0,
                                 held_at_used=True), NOW, PARIS)
    assert held == ("Nothing of Tiny Game was taken back from alex (1h in all today and 30 "
                    "minutes more until 17:30: those 1h are already used, and time used is "
                    "never taken back; what is left of the time given until 17:30 stays until "
                    "then).")


def test_a_take_back_that_ends_the_session_says_it_stops_now() -> None:
    """Review s7 M1: the parent is told the running session ends at once."""
    ends = GrantCap("quota", 0.47, None, NOW, running=True)
    said = grant_sentence(result(mode="take", seconds=3600, change_s=-3561, allowance_s=39,
                                 used_s=38.5, held_at_used=True,
                                 capped_by=[ends.to_json()]), NOW, PARIS)
    assert said.endswith("(39s in all today: all of it is already used, and time used is never "
                         "taken back). Tiny Game stops now: its time for today is used up.")
    group = GrantCap("group_quota", 0.0, "games", NOW, running=True)
    assert cap_sentence("Tiny Game", group, NOW, PARIS) == \
        "Tiny Game stops now: the games budget is used up."


def test_a_grant_to_a_locked_child_says_the_lock_truthfully() -> None:
    """Review s7 M7: not "can't be used today" (a parent lifts a lock, not the day), and
    a group says it too; the request's sentence (``lock_note``) is reused."""
    locked = [{"code": "locked", "user": "alex"}]
    said = grant_sentence(result(seconds=300, change_s=300, limited_by=locked), NOW, PARIS)
    assert said == ("alex has 5 minutes more of Tiny Game today (50m in all today). alex is "
                    "locked: the 5 minutes are given, but alex can't use them until you unlock "
                    "them.")
    group = grant_sentence(result(target="games", label="games", kind="group", seconds=300,
                                  change_s=300, limited_by=locked), NOW, PARIS)
    assert group.endswith("alex is locked: the 5 minutes are given, but alex can't use them "
                          "until you unlock them.")
    assert "today:" not in said


def test_a_grants_end_given_to_the_second_is_said_rounded_down() -> None:
    """Review 15-s8 L3: an end at 17:12:36 is "until 17:12" (the README: an end is
    rounded down), in the answer and in the expiry line alike."""
    from shepherd.words import expiry_sentence

    end = NOW.replace(hour=17, minute=12, second=36)
    said = grant_sentence(result(expires_at=end.isoformat(), allowance_s=3000), NOW, PARIS)
    assert said.startswith("alex has 10 minutes more of Tiny Game until 17:12 ("), said
    gone = {"user": "alex", "label": "Tiny Game", "seconds": 600, "expires_at": end.isoformat(),
            "week": False, "unused_s": 600.0}
    assert expiry_sentence(gone, end, PARIS) == (
        "alex's extra time for Tiny Game (10 minutes, given until 17:12) has run out; 10 "
        "minutes of it went unused.")


def test_an_expiry_all_taken_back_claims_no_use() -> None:
    """Review 15-s8 L3: +10m then =0s: nothing was left of it, and nothing was used."""
    from shepherd.words import expiry_sentence

    gone = {"user": "alex", "label": "Tiny Game", "seconds": 600, "with_day": True,
            "taken_s": 600.0, "unused_s": 0.0, "paid_s": 0.0, "week": False}
    assert expiry_sentence(gone, NOW, PARIS) == (
        "alex's extra time for Tiny Game today (10 minutes, all of it taken back) has run "
        "out with the day.")


def test_the_tuis_question_for_a_take_back_from_the_week_says_so() -> None:
    """Review 12-s8 M6: the TUI asks before taking from the week's grants."""
    from shepherd.tui.words import grant_question

    assert grant_question("alex", "Tiny Game", 1200, False, "take", "week") == (
        "Take 20 minutes of Tiny Game back from the time given to alex for this week?")
    assert grant_question("alex", "Tiny Game", 1200, False, "take") == (
        "Take 20 minutes of Tiny Game back from alex for today?")


def test_a_group_grant_capped_by_its_programs_hours_names_the_group() -> None:
    """Review-1215-s12 F3: the hours of a group's programs, together."""
    some = GrantCap("window", 600.0, "games", datetime(2026, 11, 25, 19, 0, tzinfo=PARIS))
    assert cap_sentence("games", some, NOW, PARIS) == \
        "The games programs' hours today allow only 10 minutes more, until 19:00."
    assert cap_sentence("games", GrantCap("window", 0.0, "games"), NOW, PARIS) == \
        "But none of the games programs can be used again today: their hours are over."


def test_time_given_until_a_moment_that_sooner_grants_fill_says_they_are_used_first() -> None:
    """Review-1215-s12 F1: the day's own time no longer comes first; when none of the time
    given until 17:00 can be used before then, it is the time given until then or sooner
    that fills it (not "other time today is used first")."""
    cap = GrantCap("grant_end", 0.0, until=datetime(2026, 11, 25, 17, 0, tzinfo=PARIS),
                   period="day")
    assert cap_sentence("Tiny Game", cap, NOW, PARIS) == (
        "None of it can be used before it runs out at 17:00: Tiny Game's time given until "
        "then or sooner is used first and fills it.")


def test_what_can_be_used_of_a_timed_grant_is_never_said_rounded_up_to_all_of_it() -> None:
    """review-15-s15 N6: "Only 1 minute of it can be used" of a 1 minute grant. What is
    said is never more than what can be used: 29m57s of a half hour is said to the
    second, not "30 minutes" (the rounding of longer durations)."""
    ends = datetime(2026, 11, 25, 17, 30, tzinfo=PARIS)
    for usable, said in [(1797.0, "29 minutes 57 seconds"), (1740.0, "29 minutes"),
                         (58.0, "58 seconds")]:
        cap = GrantCap("grant_end", usable, until=ends, period="day")
        assert cap_sentence("Tiny Game", cap, NOW, PARIS) == (
            f"Only {said} of it can be used before it runs out at 17:30.")
