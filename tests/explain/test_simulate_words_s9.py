"""Words of review 12 (s8) LOWs, played through the engine by `policy simulate`, which
words a grant as the daemon does: a take-back on a running session says its new end
(L4)."""

from __future__ import annotations

from tests.explain.test_simulate_grant_words import texts


def test_a_take_back_on_a_running_session_says_its_new_end() -> None:
    said = dict(texts("10:00 launch game\n10:02 grant game -3m\n10:03 grant game =6m\n"))
    assert said["10:02"] == ("3 minutes of Game taken back from sam for today (7m in all "
                             "today). Game now stops at 10:07: its time for today runs out "
                             "then."), said
    assert said["10:03"] == ("sam's allowance of Game for today is set (6m in all today). "
                             "Game now stops at 10:06: its time for today runs out then."), said


def test_time_added_to_a_running_session_says_no_new_end() -> None:
    said = dict(texts("10:00 launch game\n10:02 grant game +3m\n"))
    assert said["10:02"] == "sam has 3 minutes more of Game today (13m in all today).", said


def warnings(script: str) -> list[tuple[str, str]]:
    from datetime import date

    from shepherd.explain.script import parse_script
    from shepherd.explain.simulate import simulate_day
    from tests.explain.test_simulate_grant_words import PARIS, POLICY

    simulation = simulate_day(POLICY, PARIS, "sam", date(2026, 11, 30),
                              parse_script(script, POLICY.supervisor.day_starts_at))
    return [(s.at.astimezone(PARIS).strftime("%H:%M:%S"), s.text) for s in simulation.steps
            if s.outcome == "warning"]


def test_launched_with_exactly_a_minute_left_the_minute_warning_is_given() -> None:
    """Review 12 s8 L7: with exactly 60 s left no warning came at all."""
    assert warnings("10:00 grant game =1m\n10:00 launch game\n") == [
        ("10:00:00", "Warning to sam about Game: 1 minute left, save now")]


def test_launched_just_over_a_minute_left_one_warning_not_two() -> None:
    """Review 12 s8 L7: with 61 s left, "1 minute 1 second left", then 1 s later "1
    minute left, save now". The most urgent warning due within seconds is given at once,
    alone, with the true time left."""
    said = warnings("10:00 grant game =1m\n10:00 grant game +1s\n10:01 launch game\n")
    assert said == [("10:01:00", "Warning to sam about Game: 1 minute 1 second left, save "
                                 "now")], said
    # A warning not due yet is not pulled forward: the minute's comes at a minute left.
    later = warnings("10:00 grant game =3m\n10:01 launch game\n")
    assert later == [("10:01:00", "Warning to sam about Game: 3 minutes left"),
                     ("10:03:00", "Warning to sam about Game: 1 minute left, save now")], later


def test_a_take_back_from_a_group_says_when_its_running_programs_now_stop() -> None:
    said = dict(texts("10:00 launch a\n10:02 grant g -3m\n10:03 grant g +1m\n"))
    assert said["10:02"] == ("3 minutes taken back from sam's g budget for today (7m in all "
                             "today). Alpha now stops at 10:07: the g budget runs out "
                             "then."), said
    assert said["10:03"] == "sam has 1 minute more in the g budget today (8m in all today)."
