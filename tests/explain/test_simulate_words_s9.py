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
