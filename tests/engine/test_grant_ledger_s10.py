"""The grant ledger (review-1215-s9): who paid for which minute. Time given ``--until``
a moment pays first (the soonest ending first: review-1215-s12 F1), then the day's own
time (its quota, time added for today, its take-backs and sets), then the week's time.
A take-back or set for today never touches the week's time (a set only sets aside what
the day may draw on it), and time used is never taken back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shepherd.engine import Engine, SessionStarted
from shepherd.engine.grants import TimedGrant
from shepherd.store import Store
from tests.engine.conftest import FakeClock, engine, local
from tests.engine.test_expiring_grants import play

# 2026-11-23 is a Monday; days start at 04:00 (conftest).
QUARTER = '[[entries]]\nid = "game"\ncommand = ["game"]\nlimits = { daily_quota = "15m" }\n'
HOUR = '[[entries]]\nid = "game"\ncommand = ["game"]\nlimits = { daily_quota = "1h" }\n'


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


# -- the ledger kept by hand: who paid for which minute, over three days of a week --

@dataclass
class _Given:
    """One grant of the hand-kept ledger, in minutes: what is left of it."""

    kind: str  # "until" (until a moment of its day) or "week"
    left: int
    day: int
    start: datetime | None = None  # an until grant: from when it counts, and until when
    end: datetime | None = None


LEDGER_STEPS = st.lists(
    st.tuples(st.integers(0, 2),
              st.sampled_from(["today", "week", "until", "take", "set", "week_take", "play",
                               "wait"]),
              st.integers(1, 30), st.integers(1, 20)),
    min_size=1, max_size=14).map(lambda steps: sorted(steps, key=lambda step: step[0]))


@settings(max_examples=80, deadline=None)
@given(steps=LEDGER_STEPS)
@example(steps=[(0, "until", 10, 20), (0, "week", 60, 1), (0, "play", 1, 20),
                (0, "play", 1, 10), (0, "take", 30, 1), (1, "wait", 1, 1)])  # HIGH-1
@example(steps=[(0, "week", 30, 1), (0, "take", 10, 1), (0, "week_take", 30, 1)])  # HIGH-2
@example(steps=[(0, "week", 30, 1), (0, "set", 5, 1), (0, "week", 30, 1),
                (0, "week_take", 60, 1), (1, "wait", 1, 1)])  # M1
# review-1215-s10: time added for today after the day drew on the week's time
@example(steps=[(0, "week", 60, 1), (0, "play", 1, 20), (0, "play", 1, 20), (0, "play", 1, 20),
                (0, "play", 1, 20), (0, "today", 30, 1), (1, "wait", 1, 1)])  # HIGH-1
@example(steps=[(0, "week", 60, 1), (0, "play", 1, 20), (0, "play", 1, 10),
                (0, "today", 10, 1), (1, "wait", 1, 1)])  # HIGH-1, the week's 45 minutes
@example(steps=[(0, "week", 60, 1), (0, "play", 1, 20), (0, "play", 1, 20), (0, "play", 1, 20),
                (0, "play", 1, 20), (0, "set", 90, 1), (1, "wait", 1, 1)])  # HIGH-1 (=1h30m)
@example(steps=[(0, "week", 60, 1), (0, "play", 1, 20), (0, "play", 1, 10),
                (0, "today", 10, 1), (0, "take", 10, 1)])  # HIGH-2
@example(steps=[(0, "set", 1, 1), (0, "week", 1, 1), (0, "play", 1, 2), (0, "today", 1, 1),
                (0, "set", 1, 1)])  # a set lowers the day to what is used
@example(steps=[(0, "play", 1, 8), (0, "until", 1, 9), (0, "play", 1, 8), (0, "today", 1, 1),
                (0, "wait", 1, 1)])  # time for today never repays what an until grant paid
@example(steps=[(0, "week", 60, 1), (0, "play", 1, 20), (0, "play", 1, 20), (0, "play", 1, 20),
                (0, "play", 1, 20), (0, "today", 30, 1), (0, "week_take", 60, 1),
                (1, "wait", 1, 1)])  # M2
@example(steps=[(0, "week", 1, 1), (2, "take", 15, 1), (2, "play", 1, 1), (2, "today", 1, 1),
                (2, "until", 1, 1)])  # ledger13: the week paid before the grant was given
@example(steps=[(0, "until", 1, 1), (0, "play", 1, 1), (0, "set", 1, 1)])  # N2 (words16)
@example(steps=[(0, "week", 2, 1), (1, "set", 16, 1), (1, "week_take", 1, 1)])  # F1
@example(steps=[(0, "today", 1, 1), (0, "week", 1, 1), (0, "set", 16, 1),
                (0, "take", 16, 1)])  # review-15-s20 F3b: a set takes back the +1m first
@example(steps=[(0, "week", 15, 1), (1, "today", 1, 1), (1, "take", 15, 1), (1, "set", 15, 1),
                (1, "week_take", 1, 1)])  # (s22: Engine.raises, the take-back first)
@example(steps=[(0, "week", 1, 1), (0, "set", 1, 1), (0, "set", 2, 1),
                (0, "take", 2, 1)])  # (s22: the raise gives back the aside first, N2)
@example(steps=[(0, "week", 1, 1), (0, "set", 1, 1), (0, "week", 1, 1),
                (0, "week_take", 1, 1)])  # (ci24f: the week's time since the set first)
def test_the_engine_lets_the_child_play_what_a_hand_kept_ledger_allows(
        steps: list[tuple[int, str, int, int]]) -> None:
    """A 15m-a-day target over Monday to Wednesday: time for today (``+D``), for the week
    (``+D --until week``), until a moment (``+D --until HH:MM``), ``-D``, ``=D`` and
    ``-D --until week``, and play, minute by minute. The ledger, in whole minutes, pays
    each minute played from the time that runs out soonest (review-1215-s12 F1): the
    grants until a moment counting then (the soonest ending first), then the day's own
    time (quota, time for today, take-backs and sets), then the week's (the first given
    first), as far as the day may draw on it.
    ``-D`` takes the day's own time not yet used, then what is left of the grants until a
    moment (the last ending first), never the week's; ``=D`` takes back what the day's
    raises gave first, then sets aside the week's time the day may draw, then lowers its
    own time (raised, it gives back what a set set aside first, then adds to its own);
    ``-D --until week`` takes what the week's grants have left, the last given first, and
    an aside never holds more than that. Time used is never taken back. At every step
    what the engine says is left today is the ledger's, and the child plays exactly as
    long as the ledger pays for. Every change comes at any moment of the day, before or
    after play (review-1215-s10): a grant never pays for use made before it was given."""
    e = engine(QUARTER)
    clock = FakeClock(local(23, 10))
    grants: list[_Given] = []
    today, own, aside, drawn = 0, 15, 0, 0
    own_total = 15  # the day's own time in all (own: what is left of it)
    upaid = 0  # what the day's grants until a moment paid so far
    pool_at_start = 0  # what the week's grants had left when the day began
    # of the day's own time, what its raises gave since the last week grant and what
    # take-backs took: a set that lowers the day takes the first back first (Engine.raises,
    # review-15-s20 F3b)
    raised_today = took_today = 0  # grants.py DayRaises, kept by hand
    # and what was given for the week since the day's last set, and the raises that time
    # ended the count of (DayRaises.week, s23; DayRaises.under, s24)
    week_since = under_today = 0

    def week_left() -> int:
        return sum(g.left for g in grants if g.kind == "week")

    def counting() -> list[_Given]:
        return sorted((g for g in grants if g.kind == "until" and g.day == today
                       and g.start is not None and g.end is not None
                       and g.start <= clock.wall < g.end), key=lambda g: g.end or clock.wall)

    def may_draw() -> int:
        return max(max(pool_at_start + 0 - aside, 0) - drawn, 0)

    def ledger_left() -> int:
        # of the grants until a moment, only what can be used before it, played without
        # a break from now: the soonest ending first (L2), before the day's own time
        # (review-1215-s12 F1)
        cursor, usable = clock.wall, 0
        for g in counting():
            assert g.end is not None
            part = max(min(g.left, int((g.end - cursor).total_seconds()) // 60), 0)
            cursor += timedelta(minutes=part)
            usable += part
        return own + usable + min(may_draw(), week_left())

    session = 0
    for day, kind, a, b in steps:
        if day != today:
            today, own, aside, drawn = day, 15, 0, 0
            own_total = 15
            upaid = 0
            raised_today = took_today = 0
            week_since = under_today = 0
            clock.set_wall(local(23 + day, 10))
            pool_at_start = week_left()
            assert left(e, clock) == pytest.approx(60 * (15 + week_left()))
        if kind == "today":
            e.grant("alex", "game", a * 60, clock.now)
            own += a
            own_total += a
            back_took = min(a, took_today)  # it fills what take-backs took first
            took_today -= back_took  # (what take-backs since the last set took)
            raised_today += a - back_took
        elif kind == "week":
            e.grant("alex", "game", a * 60, clock.now, week=True)
            under_today += raised_today  # the raises before it are the day's own now
            raised_today = 0
            week_since += a
            grants.append(_Given("week", a, today))
            pool_at_start += a
        elif kind == "until":
            end = clock.wall + timedelta(minutes=b)
            e.grant("alex", "game", a * 60, clock.now, until=end)
            grants.append(_Given("until", a, today, clock.wall, end))
        elif kind == "take":
            answer = e.grant("alex", "game", a * 60, clock.now, mode="take")
            taken = min(a, own)
            from_raised = min(taken, raised_today)  # what raises gave first
            raised_today -= from_raised
            took_today += taken - from_raised
            own -= taken
            own_total -= taken
            for g in reversed(counting()):
                part = min(a - taken, g.left)
                g.left -= part
                taken += part
            assert -answer.seconds + answer.timed_taken_s == taken * 60
        elif kind == "set":
            e.grant("alex", "game", a * 60, clock.now, mode="set")
            # what lasts the day: its own time and what it may draw on the week's, never
            # below what they paid for; what grants until a moment paid so far is inside
            # the day's whole (review-15-s15 N2)
            wanted = max(a - upaid, own_total - own + drawn)
            access = max(pool_at_start - aside, 0)  # what it drew on the week's included
            if wanted >= own_total + access:  # raised: its own time
                # what a set set aside comes back first (review-15-s19b N2), where the
                # week's grants still hold it
                raised = wanted - access - own_total
                back = min(raised, aside) if week_left() >= aside else 0
                aside -= back
                own, own_total = own + raised - back, own_total + raised - back
                if raised:  # (a set that changes nothing is no word here: no row)
                    took_today = 0
                raised_today += raised - back  # (a set's raise is all a raise)
                week_since = under_today = 0
            else:  # lowered: what the day's raises gave not used yet, then the week's
                # time not drawn yet, then its own
                lowered = own_total + access - wanted
                first = min(lowered, max(min(raised_today, own), 0))
                part = min(lowered - first, max(access - drawn, 0))
                aside += part
                own, own_total = own - (lowered - part), own_total - (lowered - part)
                raised_today = max(raised_today - first, 0)
                took_today = 0
                week_since = under_today = 0
        elif kind == "week_take":
            answer = e.grant("alex", "game", a * 60, clock.now, mode="take", week=True)
            taken = 0
            for g in reversed([g for g in grants if g.kind == "week"]):
                part = min(a - taken, g.left)
                g.left -= part
                taken += part
            pool_at_start -= taken
            # what was given for the week since today's last set goes first (today's to
            # draw, s23), then what a set of today set aside for the other days: today
            # keeps what it may still draw (review-15-s17c F1); the raises that time
            # ended the count of are raises again (s24)
            since = min(taken, week_since)
            week_since -= since
            again = under_today if week_since == 0 else min(under_today, since)
            raised_today, under_today = raised_today + again, under_today - again
            aside -= min(aside, taken - since)
            assert answer.timed_taken_s == taken * 60
        elif kind == "play":
            for _ in range(b):
                assert left(e, clock) == pytest.approx(60 * ledger_left()), "before a minute"
                if ledger_left() < 1:
                    break
                if counting() and any(g.left for g in counting()):
                    next(g for g in counting() if g.left).left -= 1
                    upaid += 1
                elif own > 0:
                    own -= 1
                else:
                    assert may_draw() >= 1
                    drawn += 1
                    next(g for g in grants if g.kind == "week" and g.left).left -= 1
                session += 1
                assert isinstance(e.launch("alex", "game", clock.now, session), SessionStarted)
                e.end_session(session, clock.advance(60), "exited")
        elif kind == "wait":
            clock.advance(b * 60)
        assert left(e, clock) == pytest.approx(60 * ledger_left()), (kind, a, b)


# -- review-1215-s10: a grant never pays for use made before it was given --

def _week_used_up() -> tuple[Engine, FakeClock]:
    """15m a day, ``+1h --until week``, 75 minutes played: the quota and the week's hour."""
    e = engine(QUARTER)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 3600, clock.now, week=True)
    assert play(e, clock, 75 * 60, 1) == pytest.approx(75 * 60)
    return e, clock


@pytest.mark.parametrize("change", ["add", "set"])
def test_time_added_for_today_after_the_week_paid_runs_out_with_the_day(change: str) -> None:
    """HIGH-1: ``+30m`` (or ``=1h45m``) after the week's hour was used is today's own time:
    unused, it is gone at the day's end, and Tuesday has its quota only."""
    e, clock = _week_used_up()
    if change == "add":
        e.grant("alex", "game", 1800, clock.now)
    else:
        e.grant("alex", "game", 105 * 60, clock.now, mode="set")
    assert left(e, clock) == pytest.approx(1800)
    clock.set_wall(local(24, 10))
    assert left(e, clock) == pytest.approx(900)


def test_time_added_after_part_of_the_week_was_drawn_leaves_the_week_what_it_had() -> None:
    """HIGH-1, the week half used: 30 played (15 of them the week's), ``+10m`` unused:
    Tuesday has 15 + the week's 45, not 70."""
    e = engine(QUARTER)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 3600, clock.now, week=True)
    play(e, clock, 30 * 60, 1)
    e.grant("alex", "game", 600, clock.now)
    assert left(e, clock) == pytest.approx(55 * 60)
    clock.set_wall(local(24, 10))
    assert left(e, clock) == pytest.approx(60 * 60)


def test_time_just_added_is_taken_back_whole() -> None:
    """HIGH-2: ``+10m`` then ``-10m`` with no play between changes nothing, and the answer
    says 10 minutes taken back."""
    e = engine(QUARTER)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 3600, clock.now, week=True)
    play(e, clock, 30 * 60, 1)
    e.grant("alex", "game", 600, clock.now)
    answer = e.grant("alex", "game", 600, clock.now, mode="take")
    assert -answer.seconds == 600
    assert left(e, clock) == pytest.approx(45 * 60)


def test_time_just_added_is_taken_back_whole_during_a_session() -> None:
    """HIGH-2 during a session (review k8 X4): at 20 minutes, with the week paying,
    ``+10m`` then ``-10m`` takes the 10 minutes and the session ends at 75 minutes."""
    e = engine(QUARTER)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 3600, clock.now, week=True)
    assert isinstance(e.launch("alex", "game", clock.now, 1), SessionStarted)
    clock.advance(20 * 60)
    e.due(clock.now)
    e.grant("alex", "game", 600, clock.now)
    answer = e.grant("alex", "game", 600, clock.now, mode="take")
    assert -answer.seconds == 600
    deadline = e.deadline(1, clock.now)
    assert deadline is not None and deadline.remaining_s == pytest.approx(55 * 60)


def test_taking_back_the_weeks_time_never_takes_time_just_added_for_today() -> None:
    """M2: the week's hour all used, ``+30m``, ``-1h --until week`` takes nothing; today
    keeps its 30 minutes, Tuesday has its quota."""
    e, clock = _week_used_up()
    e.grant("alex", "game", 1800, clock.now)
    answer = e.grant("alex", "game", 3600, clock.now, mode="take", week=True)
    assert answer.timed_taken_s == 0
    assert left(e, clock) == pytest.approx(1800)
    clock.set_wall(local(24, 10))
    assert left(e, clock) == pytest.approx(900)


def test_an_engine_rebuilt_from_the_books_mid_day_counts_the_same() -> None:
    """A restart after HIGH-1's state: the engine made from the same books says what the
    live one says, today and the next day."""
    e, clock = _week_used_up()
    e.grant("alex", "game", 1800, clock.now)
    again = Engine(e.policy, e.zone, usage=e.usage, grants=e.grants,
                   timed_grants=list(e.timed.values()), aside=e.aside,
                   beyond=e.beyond)
    assert left(again, clock) == pytest.approx(left(e, clock)) == pytest.approx(1800)
    clock.set_wall(local(24, 10))
    assert left(again, clock) == pytest.approx(left(e, clock)) == pytest.approx(900)


def test_time_added_after_the_weeks_time_paid_is_said_and_audited_as_it_counts() -> None:
    """M1: ``+30m`` after the quota and the week's hour were played says the day's whole
    (1h45m: quota, the week's hour, the 30 minutes), and at the day's end the audit says
    all 30 minutes went unused (none was played after they were given)."""
    from shepherd.engine import GrantExpired

    e, clock = _week_used_up()
    answer = e.grant("alex", "game", 1800, clock.now)
    assert answer.allowance_s == 105 * 60
    clock.set_wall(local(24, 4, 1))
    [gone] = [ev for ev in e.due(clock.now) if isinstance(ev, GrantExpired) and not ev.week]
    assert gone.unused_s == pytest.approx(1800)


def test_on_a_weekly_only_target_time_added_after_the_weeks_grant_paid_runs_out() -> None:
    """HIGH-1 (review k7 R5): a weekly-only hour, ``+30m --until week``, 90 minutes played
    on Monday (the hour and the 30 minutes), ``+20m`` unused: Tuesday has nothing."""
    e = engine('[[entries]]\nid = "game"\ncommand = ["game"]\n'
               'limits = { weekly_quota = "1h" }\n')
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 1800, clock.now, week=True)
    assert play(e, clock, 90 * 60, 1) == pytest.approx(90 * 60)
    answer = e.grant("alex", "game", 1200, clock.now)
    assert answer.beyond_own_s == 1800  # the week's grant paid the last 30 minutes
    assert left(e, clock) == pytest.approx(1200)
    again = Engine(e.policy, e.zone, usage=e.usage, grants=e.grants,
                   timed_grants=list(e.timed.values()), aside=e.aside, beyond=e.beyond)
    clock.set_wall(local(24, 10))
    assert left(e, clock) == pytest.approx(0)
    assert left(again, clock) == pytest.approx(0)  # the same from the books (a restart)


def test_a_raising_set_pays_after_the_time_added_before_it() -> None:
    """L1: ``+1h``, ``=2h``, ``+1h``, 58 minutes played on a 15m day: the first ``+1h``
    paid for the 43 minutes beyond the quota, so 17 minutes of it went unused."""
    from shepherd.engine import GrantExpired

    e = engine(QUARTER)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 3600, clock.now)
    e.grant("alex", "game", 7200, clock.now, mode="set")
    e.grant("alex", "game", 3600, clock.now)
    play(e, clock, 58 * 60, 1)
    clock.set_wall(local(24, 4, 1))
    gone = sorted((ev for ev in e.due(clock.now) if isinstance(ev, GrantExpired)),
                  key=lambda ev: abs(ev.grant_id))
    assert [round(ev.unused_s or 0) for ev in gone] == [17 * 60, 3600]


def test_what_is_left_today_counts_of_an_until_grant_only_what_can_be_used_before_its_end(
        ) -> None:
    """L2: the quota used, ``+10m --until 10:05`` and ``+1h --until week`` at 10:00: what
    is left today is 65 minutes (5 of the 10 can be used before 10:05), as the launch
    says."""
    e = engine(QUARTER)
    clock = FakeClock(local(23, 9, 30))
    play(e, clock, 900, 1)
    clock.set_wall(local(23, 10))
    e.grant("alex", "game", 600, clock.now, until=local(23, 10, 5))
    e.grant("alex", "game", 3600, clock.now, week=True)
    assert left(e, clock) == pytest.approx(65 * 60)


WEEKLY_ONLY = ('[[entries]]\nid = "game"\ncommand = ["game"]\n'
               'limits = { weekly_quota = "1h" }\n')
WEEKLY_STEPS = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(["today", "week", "until", "take", "play",
                                                  "wait"]),
              st.integers(1, 30), st.integers(1, 25)),
    min_size=1, max_size=12).map(lambda steps: sorted(steps, key=lambda step: step[0]))


@settings(max_examples=60, deadline=None)
@given(steps=WEEKLY_STEPS)
@example(steps=[(0, "week", 30, 1), (0, "play", 1, 25), (0, "play", 1, 25),
                (0, "play", 1, 25), (0, "play", 1, 15), (0, "today", 20, 1),
                (1, "wait", 1, 1)])  # review-1215-s10 HIGH-1, the weekly-only form
@example(steps=[(0, "week", 30, 1), (0, "play", 1, 25), (0, "play", 1, 25),
                (0, "play", 1, 20), (0, "today", 20, 1), (0, "play", 1, 5),
                (1, "wait", 1, 1)])  # time added after the week's grant drew pays after it
@example(steps=[(0, "until", 1, 1)])  # review-1215-s11 MEDIUM-1: the week's hour outlasts it
@example(steps=[(1, "take", 40, 1), (1, "today", 1, 1), (1, "play", 1, 25),
                (2, "wait", 1, 1)])  # issue 15: the added minute pays for its part
@example(steps=[(0, "until", 1, 1), (0, "until", 1, 2)])  # and a projection past the first
@example(steps=[(0, "today", 1, 1), (0, "today", 1, 1), (0, "until", 1, 13),
                (0, "until", 1, 14), (0, "take", 1, 1), (0, "take", 6, 1),
                (0, "take", 21, 1), (0, "take", 22, 1)])  # ci12b: the sooner end pays first
@example(steps=[(0, "week", 1, 1), (0, "play", 1, 22), (1, "take", 17, 1),
                (1, "play", 1, 22), (2, "until", 1, 17)])  # the week's grant paid the cut day
def test_on_a_weekly_only_target_the_engine_lets_the_child_play_what_a_ledger_allows(
        steps: list[tuple[int, str, int, int]]) -> None:
    """The hand-kept ledger on a target with a weekly quota (1h) and no daily one, Monday
    to Wednesday: time for today (``+D``), for the week and until a moment, and play,
    minute by minute, each at any moment of a day. Each minute is paid by the grants
    until a moment counting then first (the soonest ending first: they run out soonest,
    review-1215-s12 F1), then the week's quota (it is the target's own time: the days
    before spent it), then the day's time for today, then the week's grants (the first
    given first). Time for today and until a
    moment is gone when it ends; a grant never pays for use made before it was given
    (review-1215-s10 HIGH-1 on a weekly-only target). A take-back for today (``-D``,
    review-9-s11 L2) takes time for today first, then of the week's quota for today only
    (the next day has it again), then what is left of the grants until a moment (the
    last ending first); never the week's grants, never time used. At every step what the engine says
    is left today is the ledger's (of a grant until a moment, what can be used before
    then: review-1215-s11 MEDIUM-1), and the child plays exactly as long as it pays for."""
    e = engine(WEEKLY_ONLY)
    clock = FakeClock(local(23, 10))
    grants: list[_Given] = []
    today, own, quota = 0, 0, 60
    cut = 0  # what take-backs for today took of the week's quota: for today only

    def counting() -> list[_Given]:
        return sorted((g for g in grants if g.kind == "until" and g.day == today
                       and g.start is not None and g.end is not None
                       and g.start <= clock.wall < g.end), key=lambda g: g.end or clock.wall)

    def ledger_left() -> int:
        # of the grants until a moment, only what can be used before it, played without
        # a break from now: the soonest ending first (review-1215-s11 MEDIUM-1, as the
        # daily ledger's L2), before the week's quota and time for today (review-1215-s12
        # F1)
        cursor, usable = clock.wall, 0
        for g in counting():
            assert g.end is not None
            part = max(min(g.left, int((g.end - cursor).total_seconds()) // 60), 0)
            cursor += timedelta(minutes=part)
            usable += part
        return (max(quota - cut, 0) + own + usable
                + sum(g.left for g in grants if g.kind == "week"))

    session = 0
    for day, kind, a, b in steps:
        if day != today:
            today, own, cut = day, 0, 0
            clock.set_wall(local(23 + day, 10))
            assert left(e, clock) == pytest.approx(60 * ledger_left()), "a new day"
        if kind == "today":
            e.grant("alex", "game", a * 60, clock.now)
            own += a
        elif kind == "week":
            e.grant("alex", "game", a * 60, clock.now, week=True)
            grants.append(_Given("week", a, today))
        elif kind == "until":
            end = clock.wall + timedelta(minutes=b)
            e.grant("alex", "game", a * 60, clock.now, until=end)
            grants.append(_Given("until", a, today, clock.wall, end))
        elif kind == "take":
            # for today (review-9-s11 L2): own time, then until grants
            answer = e.grant("alex", "game", a * 60, clock.now, mode="take")
            taken = min(a, own)
            own -= taken
            part = min(a - taken, max(quota - cut, 0))
            cut += part
            taken += part
            for g in reversed(counting()):
                part = min(a - taken, g.left)
                g.left -= part
                taken += part
            assert -answer.seconds + answer.timed_taken_s == taken * 60
        elif kind == "play":
            for _ in range(b):
                assert left(e, clock) == pytest.approx(60 * ledger_left()), "before a minute"
                if ledger_left() < 1:
                    break
                if any(g.left for g in counting()):
                    next(g for g in counting() if g.left).left -= 1
                elif quota - cut > 0:
                    quota -= 1
                elif own > 0:
                    own -= 1
                else:
                    next(g for g in grants if g.kind == "week" and g.left).left -= 1
                session += 1
                assert isinstance(e.launch("alex", "game", clock.now, session), SessionStarted)
                e.end_session(session, clock.advance(60), "exited")
        elif kind == "wait":
            clock.advance(b * 60)
        assert left(e, clock) == pytest.approx(60 * ledger_left()), (kind, a, b)


@pytest.mark.parametrize(("limits", "tuesday_left"), [
    ('{ daily_quota = "15m" }', 900),  # Tuesday has its quota only
    ('{ weekly_quota = "15m" }', 0),  # the weekly-only form (ledger11b): nor on Tuesday
], ids=["daily", "weekly only"])
def test_time_given_until_a_moment_never_takes_over_what_the_week_paid_before_it(
        limits: str, tuesday_left: float) -> None:
    """15m a day (or a week), ``+1m --until week``, 16 minutes played (the week's grant
    paid the 16th), ``+1m`` for today, ``+1m --until`` 5 minutes on, 1 minute played (the
    grant until a moment pays it: it ends first, review-1215-s12 F1): at its end the
    minute for today is left, never the week's minute again (before the fix: two)."""
    e = engine(f'[[entries]]\nid = "game"\ncommand = ["game"]\nlimits = {limits}\n')
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 60, clock.now, week=True)
    assert play(e, clock, 16 * 60, 1) == pytest.approx(16 * 60)
    e.grant("alex", "game", 60, clock.now)
    e.grant("alex", "game", 60, clock.now, until=clock.wall + timedelta(minutes=5))
    assert play(e, clock, 60, 2) == pytest.approx(60)
    clock.advance(600)
    assert left(e, clock) == pytest.approx(60)
    clock.set_wall(local(24, 10))
    assert left(e, clock) == pytest.approx(tuesday_left)


def test_an_engine_rebuilt_from_the_store_keeps_what_others_paid_before_a_grant(
        tmp_path: Path) -> None:
    """A restart after the fourth gap's state: the grants written to a store as the
    daemon writes them (``beyond_before_s`` with the grant until a moment) and read back
    make an engine that says what the live one says, before the grant's end, after it
    and on Tuesday."""
    e = engine(QUARTER)
    clock = FakeClock(local(23, 10))
    store = Store.open(tmp_path / "shepherd.db", clock.wall)
    try:
        def grant(seconds: int, **how: Any) -> None:
            planned = e.grant("alex", "game", seconds, clock.now, **how)
            store.grant(clock.wall, "alex", "game", planned.day, planned.seconds, actor="mum",
                        expires_at=planned.expires_at, week=planned.week,
                        used_before_s=planned.used_s, aside_s=planned.week_aside_s,
                        beyond_s=planned.beyond_own_s, beyond_before_s=planned.beyond_before_s)

        grant(60, week=True)
        play(e, clock, 16 * 60, 1)
        grant(60)
        grant(60, until=clock.wall + timedelta(minutes=5))
        play(e, clock, 60, 2)
        books = store.load_accounting(local(23, 10).date())
    finally:
        store.close()
    # the week's grant, time for today (kept to its day's end), the grant until 10:21
    assert [g.beyond_before_s for g in books.timed_grants] == [0, 0, pytest.approx(60)]
    again = Engine(e.policy, e.zone, usage=e.usage, grants=books.grants, timed_grants=[
        TimedGrant(g.id, g.user, g.target, g.day, g.seconds, g.expires_at, g.week, g.paid_s,
                   g.used_before_s, g.signed_after_s, g.beyond_before_s)
        for g in books.timed_grants], aside=books.aside, beyond=books.beyond)
    assert left(again, clock) == pytest.approx(left(e, clock)) == pytest.approx(60)
    clock.advance(600)
    assert left(again, clock) == pytest.approx(left(e, clock)) == pytest.approx(60)
    clock.set_wall(local(24, 10))
    assert left(again, clock) == pytest.approx(left(e, clock)) == pytest.approx(900)
