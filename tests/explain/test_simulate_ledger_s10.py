"""`policy simulate` words a grant until a moment as the engine will use it when time for
the week counts too (review-1215-s9 M2): the time given until a moment first (it runs out
soonest: review-1215-s12 F1), then the day's own time, the week's time last."""

from __future__ import annotations

from tests.explain.test_simulate_grant_words import texts


def test_with_the_weeks_time_counting_the_words_say_what_can_be_used_before_the_end() -> None:
    said = dict(texts("10:00 grant game +1h until week\n10:00 grant game +10m until 10:15\n"
                      "10:00 launch game\n"))
    assert said["10:00"].startswith("Game starts"), said
    grant = [t for at, t in texts("10:00 grant game +1h until week\n"
                                  "10:00 grant game +10m until 10:15\n") if at == "10:00"][1]
    assert "can be used" not in grant, grant  # all of it, before the day's own time


def test_a_take_back_after_a_used_grant_until_a_moment_takes_nothing_of_the_weeks() -> None:
    """HIGH-1 as a parent plays it: quota 10m, ``+10m until 12:00``, ``+1h until week``,
    25 minutes played (the 12:00 grant's 10 first, then the quota's 10, then 5 of the
    week's), ``-1h``: nothing of the day's own time nor of the 12:00 grant is left to
    take, so nothing is taken; the week's 55 minutes are still there."""
    said = texts("10:00 grant game +10m until 12:00\n10:00 grant game +1h until week\n"
                 "10:00 launch game\n10:25 stop\n10:25 grant game -1h\n10:26 check game\n")
    taken = [t for at, t in said if at == "10:25"][-1]
    assert taken == ("Nothing of Game was taken back from sam (1h20m in all today: 25m is "
                     "already used, and time used is never taken back; the rest is time given "
                     "for the week, which only a take-back --until week or a set (=D) "
                     "takes)."), taken
    assert said[-1] == ("10:26", "Game can start, for up to 55 minutes."), said
