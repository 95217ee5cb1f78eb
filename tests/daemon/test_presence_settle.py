"""The presence feed's settling of a flapping screen lock (issue 16, review-16-s5 MEDIUM 2):
what is handed on to the daemon, and when, on an injected monotonic clock."""

from __future__ import annotations

from shepherd.daemon.presence import Settle
from shepherd.presence import HERE, Presence

LOCKED = Presence("locked")
AWAY = Presence("switched_away")


def test_a_first_lock_and_a_return_are_handed_on_at_once() -> None:
    settle = Settle(every_s=1.0)
    assert settle.report("alex", LOCKED, 100.0) == (LOCKED, 100.0)
    assert settle.report("alex", HERE, 100.001) == (HERE, 100.001)
    assert settle.wake_at("alex") is None


def test_a_child_flapping_the_lock_is_handed_on_once_a_period_and_back_always_at_once() -> None:
    settle = Settle(every_s=1.0)
    handed = []
    now = 100.0
    for _ in range(1000):  # a thousand lock/unlock pairs in one second
        for presence in (LOCKED, HERE):
            answer = settle.report("alex", presence, now)
            if answer is not None:
                handed.append(answer[0])
            now += 0.0005
    # One pause, one return: the locks that came and went in between were never frozen.
    assert handed == [LOCKED, HERE]
    assert settle.wake_at("alex") is None  # it ended unlocked: nothing is held back


def test_a_lock_held_back_is_handed_on_when_its_turn_comes_with_when_it_began() -> None:
    settle = Settle(every_s=1.0)
    settle.report("alex", LOCKED, 100.0)
    settle.report("alex", HERE, 100.1)
    assert settle.report("alex", LOCKED, 100.2) is None  # too soon after the last pause
    assert settle.report("alex", AWAY, 100.3) is None  # still away: the latest is kept
    assert settle.wake_at("alex") == 101.0
    assert settle.due("alex", 100.9) is None
    assert settle.due("alex", 101.0) == (AWAY, 100.2)  # away since the first of them
    assert settle.due("alex", 102.0) is None  # handed on once


def test_a_lock_held_back_that_ended_before_its_turn_is_never_handed_on() -> None:
    settle = Settle(every_s=1.0)
    settle.report("alex", LOCKED, 100.0)
    settle.report("alex", HERE, 100.1)
    settle.report("alex", LOCKED, 100.2)
    settle.report("alex", HERE, 100.3)  # already handed on as there: nothing to say
    assert settle.wake_at("alex") is None
    assert settle.due("alex", 101.0) is None


def test_children_are_settled_each_on_their_own() -> None:
    settle = Settle(every_s=1.0)
    settle.report("alex", LOCKED, 100.0)
    settle.report("alex", HERE, 100.1)
    assert settle.report("alex", LOCKED, 100.2) is None
    assert settle.report("sam", LOCKED, 100.2) == (LOCKED, 100.2)


def test_the_first_report_of_a_child_is_handed_on_even_when_it_says_there() -> None:
    settle = Settle(every_s=1.0)
    assert settle.report("alex", HERE, 100.0) == (HERE, 100.0)
    assert settle.report("alex", HERE, 100.1) is None
