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
                                "minutes (3m in all today: all of it is already used, and time "
                                "used is never taken back). Alpha stops now: the g budget is "
                                "used up.")


def test_a_refusal_says_the_change_back_as_it_was_typed() -> None:
    said = texts("10:00 grant game =25h\n")
    assert said == [("10:00", "The grant is refused: '=25h' is more than a day: taking time "
                              "back and setting the total are for today only, so at most 1d.")]


def test_more_than_is_left_of_today_is_not_said_as_today() -> None:
    said = texts("10:00 grant game +7d until week\n10:01 grant game +1d\n")
    assert said[0] == ("10:00", "sam has 7 days more of Game this week, on any day until "
                                "7 December at 04:00 (in all, more than is left of today, "
                                "which ends tomorrow at 04:00).")
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
    1 minute was left and 1 minute is left; the day ends at 14m at most (it was 17m).
    What lasts counts the 3 minutes the grant paid for (review-1215-s12 F1); they were
    used today, so they are inside the 10m set (review-15-s15 N2), and the set is held
    at the 13m already used."""
    script = ("09:00 launch game\n10:00 grant game +4m until 11:00\n10:00 launch game\n"
              "10:03 stop\n10:30 grant game =10m\n10:31 check game\n10:32 launch game\n")
    actions = parse_script(script, POLICY.supervisor.day_starts_at)
    simulation = simulate_day(POLICY, PARIS, "sam", MONDAY, actions)
    said = dict((s.at.astimezone(PARIS).strftime("%H:%M"), s.text) for s in simulation.steps
                if s.line is not None)
    assert said["10:30"] == ("sam's allowance of Game for today is set (13m in all today and "
                             "1 minute more until 11:00: those 13m are already used, and time "
                             "used is never taken back; what is left of the time given until "
                             "11:00 stays until then).")
    assert said["10:31"] == "Game can start, for up to 1 minute."
    assert simulation.used["game"] == 14 * 60


def test_taking_back_after_a_partly_used_timed_grant_takes_its_unused_part() -> None:
    """Review 15-s8 M3: 10m of quota used, +4m until 11:00 with 3 of them used: ``-5m``
    takes the minute left (the lasting 10m are held), and the day ends at 13m."""
    script = ("09:00 launch game\n10:00 grant game +4m until 11:00\n10:00 launch game\n"
              "10:03 stop\n10:30 grant game -5m\n10:31 check game\n")
    actions = parse_script(script, POLICY.supervisor.day_starts_at)
    simulation = simulate_day(POLICY, PARIS, "sam", MONDAY, actions)
    said = [(s.at.astimezone(PARIS).strftime("%H:%M"), s.text) for s in simulation.steps]
    assert ("10:30", "1 minute of Game taken back from sam for today, not 5 minutes (13m in "
                     "all today: all of it is already used, and time used is never taken "
                     "back).") in said
    assert ("10:31", "Game can't start: its time for today is used up (back tomorrow at "
                     "04:00).") in said, said
    assert ("11:00", "sam's extra time for Game (3 minutes, given until 11:00) has run out; "
                     "all of it was used.") in said, said
    assert simulation.used["game"] == 13 * 60


def test_the_days_end_gives_a_take_back_to_no_grant_made_after_it() -> None:
    """Review 12-s8 M5: ``-5m`` then ``+5m``, nothing played: the 5 minutes went unused,
    none of them taken back, and no use is claimed."""
    actions = parse_script("10:00 grant game -5m\n10:01 grant game +5m\n",
                           POLICY.supervisor.day_starts_at)
    simulation = simulate_day(POLICY, PARIS, "sam", MONDAY, actions)
    [end] = [s.text for s in simulation.steps if "has run out" in s.text]
    assert end == ("sam's extra time for Game today (5 minutes) has run out with the day; "
                   "5 minutes of it went unused.")


def test_a_timed_grant_that_cannot_all_be_used_says_so_and_its_end_stops_the_game() -> None:
    """Review 12-s8 M2: at 10:02, 10 minutes until 10:05: only 3 of them can be used, and
    the game stops at 10:05 because that time runs out, not "its time for today"."""
    said = texts("09:00 launch game\n10:02 grant game +10m until 10:05\n"
                 "10:02 launch game\n")
    assert ("10:02", "sam has 10 minutes more of Game until 10:05 (20m in all today until "
                     "then). Only 3 minutes of it can be used before it runs out at 10:05.") in said
    assert ("10:02", "Game starts; it may run until 10:05, when the time given until 10:05 "
                     "runs out.") in said, said
    actions = parse_script("09:00 launch game\n10:02 grant game +10m until 10:05\n"
                           "10:02 launch game\n", POLICY.supervisor.day_starts_at)
    simulation = simulate_day(POLICY, PARIS, "sam", MONDAY, actions)
    stops = [s.text for s in simulation.steps if s.text.startswith("Game stops")]
    assert stops[-1] == "Game stops after 3 minutes: the time given until 10:05 runs out."


def test_time_given_for_the_week_is_taken_back_but_never_what_was_used() -> None:
    """Review 12-s8 M6: ``+1h until week`` (meant for today), 20 minutes of it used:
    ``-2h until week`` takes the 40 left, and the day is over."""
    said = texts("09:00 grant game +1h until week\n09:00 launch game\n09:30 stop\n"
                 "09:40 grant game -2h until week\n09:41 check game\n")
    assert ("09:40", "40 minutes taken back from the time given to sam for Game this week, "
                     "not 2 hours.") in said
    assert said[-1] == ("09:41", "Game can't start: its time for today is used up (back "
                                 "tomorrow at 04:00).")


def test_the_explained_day_names_a_grants_end_as_what_stops_a_session() -> None:
    """Review 12-s8 M2 in `policy explain`: the day's 10 minutes used, 10 minutes given
    until 10:05 at 10:00: the session from 10:00 stops when that time runs out."""
    from datetime import datetime

    from shepherd.engine.grants import TimedGrant
    from shepherd.explain.day import explain_day
    from shepherd.explain.run import Starting
    from shepherd.explain.text import explanation_lines

    end = datetime(2026, 11, 30, 10, 5, tzinfo=PARIS)
    starting = Starting(usage={("sam", "game", MONDAY): 600.0}, timed_grants=(
        TimedGrant(1, "sam", "game", MONDAY, 600, end, used_before=600.0),), counted=True)
    explanation = explain_day(POLICY, PARIS, "sam", MONDAY,
                              datetime(2026, 11, 30, 10, 0, tzinfo=PARIS), starting, ["game"])
    text = "\n".join(explanation_lines(explanation, PARIS))
    assert "in use for 5 minutes, until the time given until 10:05 runs out" in text, text


def test_of_two_timed_grants_the_one_that_ends_first_is_used_first() -> None:
    """Review 15-s8 MEDIUM-1: quota used; +10m until 16:00 and +10m until 17:00, 10
    minutes played while both counted: they were the 16:00 grant's, so the 10 minutes
    until 17:00 are still there at 16:30."""
    said = texts("09:00 launch game\n15:00 grant game +10m until 16:00\n"
                 "15:00 grant game +10m until 17:00\n15:00 launch game\n15:10 stop\n"
                 "16:30 check game\n")
    assert said[-1] == ("16:30", "Game can start, for up to 10 minutes.")
    actions = parse_script("09:00 launch game\n15:00 grant game +10m until 16:00\n"
                           "15:00 grant game +10m until 17:00\n15:00 launch game\n15:10 stop\n",
                           POLICY.supervisor.day_starts_at)
    lines = [s.text for s in simulate_day(POLICY, PARIS, "sam", MONDAY, actions).steps
             if s.outcome == "grant_expired"]
    assert lines[0].endswith("all of it was used."), lines
    assert lines[1].endswith("10 minutes of it went unused."), lines


def test_time_given_until_two_moments_is_said_with_each_ones_end() -> None:
    """Review 12-s8 M1: the first 10 minutes end at 11:00, not at 18:00."""
    said = texts("10:00 grant game +10m until 11:00\n10:01 grant game +10m until 18:00\n"
                 "10:02 launch game\n10:07 grant game +1m\n")
    assert said[1] == ("10:01", "sam has 10 minutes more of Game until 18:00 (10m in all "
                                "today, 10 minutes more until 11:00 and 10 minutes more until "
                                "18:00).")
    # 5 minutes played came out of the grant ending at 11:00, which is used first
    # (review-1215-s12 F1): the day's total is its own 11m, as status says it (not 16m,
    # with what the time until 11:00 paid so far: review-15-s15 N5); what that time paid
    # joins it once it has run out
    assert said[-1] == ("10:07", "sam has 1 minute more of Game today (11m in all today, 5 "
                                 "minutes more until 11:00 and 10 minutes more until 18:00).")


def test_time_given_until_two_moments_on_a_weekly_only_entry_says_each_ones_end() -> None:
    said = texts("10:00 grant wk +2m until 10:30\n10:01 grant wk +3m until 11:00\n")
    assert said[1] == ("10:01", "sam has 3 minutes more of Weekly until 11:00 (10m in all "
                                "this week, 2 minutes more until 10:30 and 3 minutes more "
                                "until 11:00).")


def test_time_given_until_a_moment_pays_first_and_the_quota_is_said_for_the_day() -> None:
    """The grant pays first (it ends first: review-1215-s12 F1): of 10 minutes played
    after it, all 10 were the grant's, so the quota's last 5 minutes are left for the
    whole day, and nothing until 12:00."""
    said = texts("10:00 launch game\n10:05 stop\n10:05 grant game +10m until 12:00\n"
                 "10:05 launch game\n10:15 stop\n10:16 grant game +1m\n10:17 check game\n")
    assert said[-2] == ("10:16", "sam has 1 minute more of Game today (21m in all today).")
    assert said[-1] == ("10:17", "Game can start, for up to 6 minutes.")


def test_a_game_runs_on_the_later_grant_once_the_sooner_one_is_used_up() -> None:
    """Review 15-s9 MEDIUM-1: quota used; +20m until 15:40 and +20m until 16:20, launched
    at 15:02. The 15:40 grant pays until 15:22 and the 16:20 one until 15:42: the game
    may run 40 minutes, not stop at 15:40, and no time is left unused."""
    script = ("09:00 launch game\n15:00 grant game +20m until 15:40\n"
              "15:00 grant game +20m until 16:20\n15:02 check game\n15:02 launch game\n")
    said = texts(script)
    assert said[-2] == ("15:02", "Game can start, for up to 40 minutes.")
    assert said[-1] == ("15:02", "Game starts; it may run until 15:42, when its time for "
                                 "today runs out.")
    steps = simulate_day(POLICY, PARIS, "sam", MONDAY,
                         parse_script(script, POLICY.supervisor.day_starts_at)).steps
    stops = [s.text for s in steps if s.outcome == "stopped"]
    assert stops[-1] == "Game stops after 40 minutes: its time for today runs out.", stops
    ends = [s.text for s in steps if s.outcome == "grant_expired"]
    assert [x.endswith("all of it was used.") for x in ends] == [True, True], ends


def test_taking_back_the_weeks_time_leaves_a_day_that_was_set_as_it_was_set() -> None:
    """Review 12-s9 M2 (sim8): ``+1h until week``, ``=5m``, ``-1h until week``: the day
    keeps its 5 minutes, and a later ``+5m`` gives 5 minutes more."""
    said = dict(texts("10:00 grant game +1h until week\n10:01 grant game =5m\n"
                      "10:02 grant game -1h until week\n10:03 check game\n"
                      "10:04 grant game +5m\n10:05 check game\n"))
    assert said["10:02"] == "1 hour taken back from the time given to sam for Game this week."
    assert said["10:03"] == "Game can start, for up to 5 minutes."
    assert said["10:04"].startswith("sam has 5 minutes more of Game today (10m in all today"), said
    assert said["10:05"] == "Game can start, for up to 10 minutes."


def test_time_given_until_a_moment_says_what_of_it_can_be_used_before_the_days_own(
        ) -> None:
    """Review-1215-s12 F1 (before it, review 12-s9 M1 used the day's own time first): the
    time that runs out soonest is used first, so 5 of 10 minutes given until 10:05 can
    be used before then (not none), and all of 10 given until 10:15; the expiry lines
    agree."""
    said = texts("10:00 grant game +10m until 10:05\n")
    assert said[0][1].endswith("Only 5 minutes of it can be used before it runs out at "
                               "10:05."), said
    later = texts("10:00 grant game +10m until 10:15\n10:00 launch game\n")
    assert "can be used" not in later[0][1], later
    actions = parse_script("10:00 grant game +10m until 10:15\n10:00 launch game\n",
                           POLICY.supervisor.day_starts_at)
    simulation = simulate_day(POLICY, PARIS, "sam", MONDAY, actions)
    [end] = [s.text for s in simulation.steps if "has run out" in s.text]
    assert end.endswith("all of it was used."), end


def test_a_take_back_with_several_timed_grants_says_what_is_left_of_each() -> None:
    """Review 12-s9 M3 (sim10): ``=2m``, 10 minutes until 12:00, 5 until 03:59, 1 minute
    played (the 12:00 grant's: it ends first, review-1215-s12 F1), then ``-5m``: the 2
    minutes of what lasts are taken and 3 of the 5 until 03:59 (the last ending first);
    the answer says so, not "0s in all today" beside the 5 minutes as they were."""
    script = ("10:00 grant game =2m\n10:00 grant game +10m until 12:00\n"
              "10:00 grant game +5m until 03:59\n10:01 launch game\n10:02 stop\n"
              "10:05 grant game -5m\n10:06 check game\n")
    said = dict(texts(script))
    assert said["10:05"].startswith(
        "5 minutes of Game taken back from sam for today (1m in all today, 9 minutes more "
        "until 12:00 and 2 minutes more until tomorrow at 03:59"), said["10:05"]
    assert said["10:06"] == "Game can start, for up to 11 minutes."


def test_on_a_weekly_only_entry_time_given_until_a_moment_is_used_before_the_weeks(
        ) -> None:
    """Review-1215-s12 F1 (before it, review-1215-s11 MEDIUM-1 used the week's own time
    first): on a 10m week, 5 of 10 minutes given until 10:05 can be used before then,
    and the check says the grant's 5 and the week's 10; all of 10 given until 10:15."""
    said = texts("10:00 grant wk +10m until 10:05\n10:00 check wk\n")
    assert said[0][1].endswith("Only 5 minutes of it can be used before it runs out at "
                               "10:05."), said
    assert said[1] == ("10:00", "Weekly can start, for up to 15 minutes.")
    script = "10:00 grant wk +10m until 10:15\n10:00 launch wk\n"
    later = texts(script)
    assert "can be used" not in later[0][1], later
    simulation = simulate_day(POLICY, PARIS, "sam", MONDAY,
                              parse_script(script, POLICY.supervisor.day_starts_at))
    [end] = [s.text for s in simulation.steps if "has run out" in s.text]
    assert end.endswith("all of it was used."), end


def test_on_a_weekly_only_entry_a_take_back_is_for_today_as_time_added_is() -> None:
    """Review-9-s11 L2: ``+D`` on an entry with only a weekly quota is for today, and so
    is ``-D`` (it was refused: "no allowance to take time from"); held at what is used,
    it says why; ``=D`` is refused with what to type instead."""
    said = texts("10:00 grant wk +2m\n10:00 grant wk -1m\n10:00 grant wk -30m\n"
                 "10:00 grant wk =5m\n")
    assert said[0] == ("10:00", "sam has 2 minutes more of Weekly today (12m in all this week).")
    assert said[1] == ("10:00", "1 minute of Weekly taken back from sam for today (11m in all "
                                "this week today).")
    assert said[2][1].startswith(
        "11 minutes of Weekly taken back from sam for today, not 30 minutes (0s in all this "
        "week today: time used is never taken back, and time given for the week only by a "
        "take-back --until week)."), said
    assert said[3][1] == ("The grant is refused: Weekly has only a weekly quota, so there "
                          "is no day's total to set: add time for today (+D) or take some "
                          "back (-D) instead.")
    assert texts("10:00 grant wk -2m\n10:00 check wk\n")[1] == (
        "10:00", "Weekly can start, for up to 8 minutes.")


def test_in_all_today_beside_time_given_until_a_moment_counts_the_weeks_time() -> None:
    """Review-1215-s11 LOW-1: after ``+1h until week`` and ``+10m`` on a 10m day, 10
    minutes more until 12:00 make 1h30m in all today until then, not 30m (the total
    seemed to fall as time was added); so too beside time given until two moments."""
    said = texts("10:00 grant game +1h until week\n10:00 grant game +10m\n"
                 "10:00 grant game +10m until 12:00\n10:00 grant game +5m until 10:30\n")
    assert said[1] == ("10:00", "sam has 10 minutes more of Game today (1h20m in all today).")
    assert said[2] == ("10:00", "sam has 10 minutes more of Game until 12:00 (1h30m in all "
                                "today until then).")
    assert said[3][1].startswith("sam has 5 minutes more of Game until 10:30 (1h20m in all "
                                 "today, 5 minutes more until 10:30 and 10 minutes more until "
                                 "12:00)."), said


def test_a_group_grant_says_how_much_its_programs_hours_allow_and_when_none_opens() -> None:
    """Review-1215-s12 F3: on a Tuesday of the example policy every game closes by 19:00
    (Minecraft and Celeste at 19:00, SuperTuxKart at 18:30); the same grant on an entry
    said so, on the group it said nothing."""
    from tests.explain.test_simulate import EXAMPLE_POLICY
    tuesday = date(2026, 12, 1)

    def said(script: str) -> str:
        actions = parse_script(script, EXAMPLE_POLICY.supervisor.day_starts_at)
        [step] = [s for s in simulate_day(EXAMPLE_POLICY, PARIS, "alex", tuesday, actions).steps
                  if s.line is not None]
        return step.text

    assert said("18:50 grant games +1h\n") == (
        "alex has 1 hour more in the games budget today (2h30m in all today). The games "
        "programs' hours today allow only 10 minutes more, until 19:00.")
    assert said("19:30 grant games +1h\n") == (
        "alex has 1 hour more in the games budget today (2h30m in all today). But none of "
        "the games programs can be used again today: their hours are over.")


OWN_LIMITS_TEXT = """
version = 1
[supervisor]
day_starts_at = "04:00"
[[users]]
name = "sam"
[[entries]]
id = "a"
label = "Alpha"
command = ["sleep", "600"]
limits = { daily_quota = "10m" }
[[entries]]
id = "b"
label = "Beta"
command = ["sleep", "600"]
limits = { daily_quota = "10m" }
windows = [{ days = "daily", start = "08:00", end = "12:00" }]
[[groups]]
id = "g"
entries = ["a", "b"]
daily_quota = "15m"
"""
OWN_LIMITS = load_policy_text(OWN_LIMITS_TEXT)


def test_a_group_grant_says_how_much_its_programs_own_time_allows() -> None:
    """Review-12-s13 M2: Alpha's own 10 minutes used, Beta's 5 of 10: "+1h" on the g
    budget said "1h15m in all today" and nothing more, and 55 minutes of it went unused
    at the day's end; what its programs' own time allows is said, as for their hours."""
    def said(script: str) -> list[str]:
        actions = parse_script(script, OWN_LIMITS.supervisor.day_starts_at)
        steps = simulate_day(OWN_LIMITS, PARIS, "sam", MONDAY, actions).steps
        return [s.text for s in steps if s.line is not None]

    assert said("09:00 launch a\n09:20 launch b\n09:30 grant g +1h\n")[-1] == (
        "sam has 1 hour more in the g budget today (1h15m in all today). The g programs' "
        "own time today allows only 5 minutes more.")
    assert said("09:00 launch a\n09:20 launch b\n09:30 grant g +1h\n09:31 launch b\n"
                "10:00 grant g +10m\n")[-1] == (
        "sam has 10 minutes more in the g budget today (1h25m in all today). But none of "
        "the g programs can be used again today: their own time is used up.")
    # Beta's hours end before its own time: both are said.
    assert said("09:00 launch a\n11:55 grant g +1h\n")[-1] == (
        "sam has 1 hour more in the g budget today (1h15m in all today). The g programs' "
        "own time and hours today allow only 5 minutes more.")
    # Alpha unlimited, with no hours: only the budget limits the group, nothing is said.
    unlimited = load_policy_text(OWN_LIMITS_TEXT.replace(
        'label = "Alpha"\ncommand = ["sleep", "600"]\nlimits = { daily_quota = "10m" }\n',
        'label = "Alpha"\ncommand = ["sleep", "600"]\n'))
    assert unlimited.entries[0].limits.daily_quota is None
    actions = parse_script("09:20 launch b\n09:30 grant g +1h\n",
                           OWN_LIMITS.supervisor.day_starts_at)
    steps = simulate_day(unlimited, PARIS, "sam", MONDAY, actions).steps
    assert [s.text for s in steps if s.line is not None][-1] == (
        "sam has 1 hour more in the g budget today (1h15m in all today).")


def test_a_grant_ending_with_an_earlier_one_has_only_what_that_one_leaves() -> None:
    """review-15-s16 P1: ``+2m until 10:05`` at 10:00, then ``+2m`` (or ``+1m``) until
    10:05 at 10:04: the first given pays first and fills the minute left before 10:05,
    so none of the second can be used. It was said "Only 1 minute of it can be used"
    (with ``+1m``, nothing: as if all of it could)."""
    for second in ("2m", "1m"):
        said = texts(f"10:00 grant game +2m until 10:05\n10:04 grant game +{second} "
                     "until 10:05\n")
        assert said[1][1].endswith(
            "None of it can be used before it runs out at 10:05: Game's time given until "
            "then or sooner is used first and fills it."), said[1]
        if second == "2m":  # what can still be used before 10:05, as status says (P5)
            assert "and 1 minute more until 10:05)." in said[1][1], said[1]
    # three minutes before 10:05, the first grant's minute first: two for the second
    said = texts("10:00 grant game +1m until 10:05\n10:02 grant game +3m until 10:05\n")
    assert said[1][1].endswith("Only 2 minutes of it can be used before it runs out at "
                               "10:05."), said[1]


def test_time_until_a_moment_near_the_days_end_is_not_said_more_than_the_day() -> None:
    """review-15-s16 P3: ``+1m until 03:51`` at 03:50 (the day ends at 04:00) said
    "(more than is left of today, which ends at 04:00)" of its minute, meaning the day's
    total; time added for today still says so when it is."""
    said = texts("03:50 grant game +1m until 03:51\n03:55 grant game +2m\n")
    assert said[0][1].endswith("in all today until then)."), said[0]
    assert "more than is left of today" not in said[0][1]
    assert "(in all, more than is left of today, which ends at 04:00)" in said[1][1], said[1]
