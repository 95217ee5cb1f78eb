"""`policy simulate` words a grant as the daemon does (re-review 12/15 s7 L-b, L-d,
NEW-3, NEW-6): one wording, from one answer, for both."""

from __future__ import annotations

from datetime import date

from shepherd.explain.script import parse_script
from shepherd.explain.simulate import simulate_day
from shepherd.policy import load_policy_text
from tests.explain.conftest import GAME_AND_WEEKLY, PARIS
from tests.policies import two_in_a_group

POLICY = load_policy_text("""
version = 1
[supervisor]
day_starts_at = "04:00"
[[users]]
name = "sam"
""" + GAME_AND_WEEKLY + two_in_a_group('daily_quota = "10m"', group="g", labelled=True))
MONDAY = date(2026, 11, 30)


def texts(script: str) -> list[tuple[str, str]]:
    actions = parse_script(script, POLICY.supervisor.day_starts_at)
    simulation = simulate_day(POLICY, PARIS, "sam", MONDAY, actions)
    return [(s.at.astimezone(PARIS).strftime("%H:%M"), s.text) for s in simulation.steps
            if s.line is not None]


def test_a_group_grant_is_worded_as_the_daemon_words_it() -> None:
    said = texts("10:00 grant g +2m until 10:30\n10:01 grant g -3m\n10:02 grant g =5m\n")
    assert said == [
        ("10:00", "sam has 2 minutes more in the g budget until 10:30 (12m in all today "
                  "until then)."),
        ("10:01", "3 minutes taken back from sam's g budget for today (7m in all today and "
                  "2 minutes more until 10:30)."),
        ("10:02", "sam's g budget for today is set (5m in all today and 2 minutes more until "
                  "10:30)."),
    ]


def test_a_group_take_back_that_ends_a_running_program_names_it() -> None:
    said = texts("10:00 launch a\n10:03 grant g -9m\n")
    assert said[1] == ("10:03", "7 minutes taken back from sam's g budget for today, not 9 "
                                "minutes (3m in all today: 3m is already used, and time used is "
                                "never taken back). Alpha stops now: the g budget is used up.")


def test_a_refusal_says_the_change_back_as_it_was_typed() -> None:
    said = texts("10:00 grant game =25h\n")
    assert said == [("10:00", "The grant is refused: '=25h' is more than a day: taking time "
                              "back and setting the total are for today only, so at most 1d.")]


def test_more_than_is_left_of_today_is_not_said_as_today() -> None:
    said = texts("10:00 grant game +7d until week\n10:01 grant game +1d\n")
    assert said[0] == ("10:00", "sam has 7 days more of Game this week, on any day until "
                                "7 December at 04:00 (more than is left of today, which ends "
                                "tomorrow at 04:00).")
    assert "1d7d" not in said[1][1] and "more than is left of today" in said[1][1], said


def test_time_until_a_moment_on_a_weekly_only_entry_says_until_then() -> None:
    said = texts("10:00 grant wk +2m until 10:30\n")
    assert said == [("10:00", "sam has 2 minutes more of Weekly until 10:30 (12m in all this "
                              "week until then).")]


def test_the_week_said_after_time_until_a_moment_on_a_weekly_only_entry_is_what_lasts() -> None:
    said = texts("10:00 grant wk +2m until 10:30\n10:01 grant wk +3m until week\n"
                 "10:31 grant wk +1m until week\n")
    assert said[1] == ("10:01", "sam has 3 minutes more of Weekly this week, on any day until "
                                "7 December at 04:00 (13m in all this week and 2 minutes more "
                                "until 10:30).")
    assert said[2][1].endswith("(14m in all this week)."), said  # the 2 minutes ran out


def test_setting_the_total_after_a_partly_used_timed_grant_never_gives_time() -> None:
    """Review 15-s8 H1: 10m of quota, +4m until 11:00 with 3 of them used, then ``=10m``:
    1 minute was left and 1 minute is left; the day ends at 14m at most (it was 17m)."""
    script = ("09:00 launch game\n10:00 grant game +4m until 11:00\n10:00 launch game\n"
              "10:03 stop\n10:30 grant game =10m\n10:31 check game\n10:32 launch game\n")
    actions = parse_script(script, POLICY.supervisor.day_starts_at)
    simulation = simulate_day(POLICY, PARIS, "sam", MONDAY, actions)
    said = dict((s.at.astimezone(PARIS).strftime("%H:%M"), s.text) for s in simulation.steps
                if s.line is not None)
    assert said["10:30"] == ("sam's allowance of Game for today is set (10m in all today and "
                             "4 minutes more until 11:00).")
    assert said["10:31"] == "Game can start, for up to 1 minute."
    assert simulation.used["game"] == 14 * 60


def test_taking_back_after_a_partly_used_timed_grant_says_what_stays() -> None:
    said = texts("09:00 launch game\n10:00 grant game +4m until 11:00\n10:00 launch game\n"
                 "10:03 stop\n10:30 grant game -5m\n")
    assert said[-1] == ("10:30", "Nothing of Game was taken back from sam (10m in all today "
                                 "and 4 minutes more until 11:00: those 10m are already used, "
                                 "and time used is never taken back; what is left of the time "
                                 "given until 11:00 stays until then).")
