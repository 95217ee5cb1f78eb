"""The grant ledger (review-1215-s9): who paid for which minute. The day's own time
(its quota, time added for today, its take-backs and sets) pays first, then time given
``--until`` a moment (the soonest ending first), then the week's time. A take-back or
set for today never touches the week's time (a set only sets aside what the day may
draw on it), and time used is never taken back."""

from __future__ import annotations

import pytest

from shepherd.engine import Engine, SessionStarted
from tests.engine.conftest import FakeClock, engine, local

# 2026-11-23 is a Monday; days start at 04:00 (conftest).
QUARTER = '[[entries]]\nid = "game"\ncommand = ["game"]\nlimits = { daily_quota = "15m" }\n'
HOUR = '[[entries]]\nid = "game"\ncommand = ["game"]\nlimits = { daily_quota = "1h" }\n'


def play(e: Engine, clock: FakeClock, seconds: float, session: int) -> float:
    assert isinstance(e.launch("alex", "game", clock.now, session), SessionStarted)
    deadline = e.deadline(session, clock.now)
    if deadline is not None:
        seconds = min(seconds, deadline.remaining_s)
    return e.end_session(session, clock.advance(seconds), "exited").charged_s


def left(e: Engine, clock: FakeClock) -> float:
    e.due(clock.now)
    remaining = e.availability("alex", "game", clock.now).remaining_today_s
    assert remaining is not None
    return remaining


@pytest.mark.parametrize(("mode", "asked"), [("take", 3600), ("set", 0), ("set", 1200)])
def test_a_take_back_after_a_used_until_grant_with_the_weeks_time_counts_nothing_twice(
        mode: str, asked: int) -> None:
    """HIGH-1: quota 15m; ``+10m --until 12:00``; ``+1h --until week``; 30 minutes
    played (the quota 15, the 12:00 grant 10, the week 5); then ``-1h`` (or ``=0s``,
    ``=20m``). The day's own time is all used and the 12:00 grant too: nothing of them is
    left to take, and the week's 55 minutes are the week's (today's, and the next day's
    if unused). Before: "45 taken", 10 minutes more today, and the week short."""
    e = engine(QUARTER)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 600, clock.now, until=local(23, 12))
    e.grant("alex", "game", 3600, clock.now, week=True)
    assert play(e, clock, 1800, 1) == 1800
    answer = e.grant("alex", "game", asked, clock.now, mode=mode)  # type: ignore[arg-type]
    if mode == "take":
        assert answer.seconds == 0 and answer.timed_taken_s == 0
        assert left(e, clock) == pytest.approx(3300)  # the week's time is not touched
        assert play(e, clock, 600, 2) == 600  # 40 minutes that day: the week paid 15
        clock.set_wall(local(24, 10))
        assert left(e, clock) == pytest.approx(900 + 2700)
    else:
        assert left(e, clock) == pytest.approx(0)  # set at what was used (20m lasting)
        clock.set_wall(local(24, 10))
        assert left(e, clock) == pytest.approx(900 + 3300)  # the week paid 5 minutes


def test_a_take_back_for_today_is_not_undone_by_taking_back_the_weeks_time() -> None:
    """HIGH-2 (the README's rule): ``+1h --until week``, ``-10m``, ``-1h --until week``:
    the take-back took 10 minutes of the day's own 15; taking the week's hour back
    leaves 5 minutes, not 15."""
    e = engine(QUARTER)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 3600, clock.now, week=True)
    e.grant("alex", "game", 600, clock.now, mode="take")
    assert left(e, clock) == pytest.approx(300 + 3600)
    taken = e.grant("alex", "game", 3600, clock.now, mode="take", week=True)
    assert taken.timed_taken_s == 3600
    assert left(e, clock) == pytest.approx(300)


@pytest.mark.parametrize("set_between", [False, True])
def test_one_week_take_back_over_two_week_grants_keeps_a_set_day(set_between: bool) -> None:
    """M1: two week grants and ``=5m`` (after both, or between them), then one ``-2h
    --until week`` taking both: the day set to 5 minutes keeps its 5 minutes."""
    e = engine(HOUR)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 3600, clock.now, week=True)
    if set_between:
        e.grant("alex", "game", 300, clock.now, mode="set")
    e.grant("alex", "game", 3600, clock.now, week=True)
    if not set_between:
        e.grant("alex", "game", 300, clock.now, mode="set")
    assert left(e, clock) == pytest.approx(300 + (3600 if set_between else 0))
    taken = e.grant("alex", "game", 7200, clock.now, mode="take", week=True)
    assert taken.timed_taken_s == 7200
    assert left(e, clock) == pytest.approx(300)
    clock.set_wall(local(24, 10))
    assert left(e, clock) == pytest.approx(3600)


def test_of_grants_ending_together_the_take_back_takes_the_last_given_first() -> None:
    """The read-back: one owner of the soonest-first split. Two grants until 12:00
    (ids -1 then -2, as ``policy simulate`` numbers them), 5 minutes of them used: the
    first given paid, so a take-back takes the last given whole, then the first's rest."""
    e = engine(QUARTER)
    clock = FakeClock(local(23, 10))
    assert play(e, clock, 900, 1) == 900
    first = e.grant("alex", "game", 600, clock.now, until=local(23, 12))
    second = e.grant("alex", "game", 600, clock.now, until=local(23, 12))
    assert first.seconds == second.seconds == 600
    assert play(e, clock, 300, 2) == 300
    ids = sorted(e.timed, key=abs)
    answer = e.grant("alex", "game", 720, clock.now, mode="take")
    assert answer.taken_from == ((ids[1], 600), (ids[0], 120))
    assert left(e, clock) == pytest.approx(180)
    clock.set_wall(local(23, 12))
    assert left(e, clock) == pytest.approx(0)


def test_time_until_a_moment_is_used_before_the_weeks_time_so_it_can_all_be_used() -> None:
    """M2 (the engine's side): with a week grant counting, 10 minutes given until 10:30
    at 10:00 on a 15m day can all be used before 10:30 (the quota 10:00-10:15, then the
    grant 10:15-10:25): no cap is said."""
    e = engine(QUARTER)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 3600, clock.now, week=True)
    answer = e.grant("alex", "game", 600, clock.now, until=local(23, 10, 30))
    assert [c for c in answer.capped_by if c.kind == "grant_end"] == []
    assert play(e, clock, 1500, 1) == 1500
    clock.set_wall(local(23, 10, 30))
    e.due(clock.now)
    [gone] = [g for g in e.timed.values() if not g.week]
    assert gone.paid == pytest.approx(600)
    assert left(e, clock) == pytest.approx(3600)  # the week's hour is whole


def test_a_set_days_aside_read_back_from_the_store_counts_the_same() -> None:
    """What a set set aside of the week's time is kept with it (the store's ``aside_s``,
    read back as ``Engine.aside``): an engine made from the same books (a restart, or
    ``explain``/``simulate --db``) says what the first said, today and the next day."""
    e = engine(HOUR)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 3600, clock.now, week=True)
    answer = e.grant("alex", "game", 1800, clock.now, mode="set")
    assert (answer.seconds, answer.week_aside_s) == (-5400, 3600)
    again = Engine(e.policy, e.zone, usage=e.usage, grants=e.grants,
                   timed_grants=list(e.timed.values()), aside=e.aside)
    for moment in (local(23, 10), local(24, 10)):
        clock.set_wall(moment)
        assert left(again, clock) == pytest.approx(left(e, clock))
    assert left(e, clock) == pytest.approx(7200)  # Tuesday: its hour and the week's
