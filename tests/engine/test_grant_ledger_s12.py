"""The grant ledger's figures on a target with a weekly quota (review-1215-s11 MEDIUM-1):
of time given ``--until`` a moment, what is left today counts only what can be used
before then, the target's own time (the day's, and the week's quota) first, so every
figure shown (the grant's answer, ``status``, ``explain``) is what a launch gets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shepherd.engine import ActionRefused, Engine
from shepherd.engine.grants import TimedGrant
from shepherd.store import Store
from tests.engine.conftest import FakeClock, engine, local
from tests.engine.test_expiring_grants import play

# 2026-11-23 is a Monday; days start at 04:00 (conftest).
WEEKLY_ONLY = '{ weekly_quota = "1h" }'
DAY_AND_WEEK = '{ daily_quota = "2h", weekly_quota = "1h" }'


def game(limits: str) -> Engine:
    return engine(f'[[entries]]\nid = "game"\ncommand = ["game"]\nlimits = {limits}\n')


def figures(e: Engine, clock: FakeClock) -> tuple[float, float]:
    """(what is left today, what a launch gets)."""
    e.due(clock.now)
    seen = e.availability("alex", "game", clock.now)
    assert seen.remaining_today_s is not None and seen.time_left_s is not None
    return seen.remaining_today_s, seen.time_left_s


@pytest.mark.parametrize("limits", [WEEKLY_ONLY, DAY_AND_WEEK], ids=["weekly only",
                                                                      "day and week"])
def test_time_until_a_moment_is_used_before_the_weeks_quota(limits: str) -> None:
    """A 1h week (with or without a 2h day), ``+10m --until 10:30`` at 10:00: the grant
    runs out before the week's own hour, so it is used first (review-1215-s12 F1; before,
    MEDIUM-1 of s11 used the hour first and none of the 10 minutes could be used): 1h10m
    is left today, as the launch says, and the answer caps nothing at 10:30."""
    e = game(limits)
    clock = FakeClock(local(23, 10))
    answer = e.grant("alex", "game", 600, clock.now, until=local(23, 10, 30))
    assert [c for c in answer.capped_by if c.kind == "grant_end"] == []
    assert figures(e, clock) == (pytest.approx(4200), pytest.approx(4200))
    assert play(e, clock, 7200, 1) == pytest.approx(4200)


def test_time_until_a_moment_is_used_after_what_is_left_of_the_weeks_quota() -> None:
    """50 minutes of a 1h week used, ``+20m`` until 20 minutes on: all of it can be used
    (before the week's last 10, review-1215-s12 F1): 30 minutes left today, the launch's
    30, and the answer caps nothing; 5 minutes idle leave 15 of it and the week's 10."""
    e = game(WEEKLY_ONLY)
    clock = FakeClock(local(23, 9))
    assert play(e, clock, 3000, 1) == pytest.approx(3000)
    answer = e.grant("alex", "game", 1200, clock.now, until=clock.wall + timedelta(minutes=20))
    assert [c.usable_s for c in answer.capped_by if c.kind == "grant_end"] == []
    assert figures(e, clock) == (pytest.approx(1800), pytest.approx(1800))
    clock.advance(300)  # 5 minutes idle: 15 of the grant's minutes can still be used
    assert figures(e, clock) == (pytest.approx(1500), pytest.approx(1500))


def test_with_the_weeks_time_after_it_the_figures_are_the_launchs() -> None:
    """A 1h week, ``+10m --until 10:30`` and ``+1h --until week`` at 10:00: the 10
    minutes pay 10:00-10:10 (they run out first: review-1215-s12 F1), the week's quota
    10:10-11:10, then the week's grant: 2 hours 10 minutes."""
    e = game(WEEKLY_ONLY)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 600, clock.now, until=local(23, 10, 30))
    e.grant("alex", "game", 3600, clock.now, week=True)
    assert figures(e, clock) == (pytest.approx(7800), pytest.approx(7800))
    assert play(e, clock, 9000, 1) == pytest.approx(7800)


def test_a_launch_counts_past_a_grants_end_what_the_weeks_quota_left_it_to_pay() -> None:
    """A 1h week, ``+1m`` until 10:01 and ``+1m`` until 10:02 at 10:00: each pays first
    (review-1215-s12 F1; before, the week's hour paid first and neither was used, and a
    runway that counted one as paid gave 61 minutes, ledger11b's left-over): the launch
    gets 62 minutes, the week's 60 and each minute once."""
    e = game(WEEKLY_ONLY)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 60, clock.now, until=local(23, 10, 1))
    e.grant("alex", "game", 60, clock.now, until=local(23, 10, 2))
    assert figures(e, clock) == (pytest.approx(3720), pytest.approx(3720))
    assert play(e, clock, 9000, 1) == pytest.approx(3720)


# -- review-9-s11 L2: on a target without a daily quota, ``-D`` is for today as ``+D`` is --

def test_on_a_weekly_only_target_time_just_added_for_today_is_taken_back() -> None:
    """``+30m`` then ``-20m`` on a 1h week: 20 minutes taken back, 1h10m left today."""
    e = game(WEEKLY_ONLY)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 1800, clock.now)
    taken = e.grant("alex", "game", 1200, clock.now, mode="take")
    assert (taken.seconds, taken.held_at_used, taken.timed_taken_s) == (-1200, False, 0)
    assert figures(e, clock) == (pytest.approx(4200), pytest.approx(4200))


def test_on_a_weekly_only_target_a_take_back_is_for_today_and_never_takes_time_used() -> None:
    """50 minutes of a 1h week played, ``-20m``: only the 10 unused are taken (held at
    what is used), nothing is left today; the week's quota is the day's own time, so on
    Tuesday the 10 minutes the take-back kept from being used are there again."""
    e = game(WEEKLY_ONLY)
    clock = FakeClock(local(23, 9))
    assert play(e, clock, 3000, 1) == pytest.approx(3000)
    taken = e.grant("alex", "game", 1200, clock.now, mode="take")
    assert (taken.seconds, taken.held_at_used) == (-600, True)
    e.due(clock.now)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(0)
    clock.set_wall(local(24, 10))
    assert figures(e, clock) == (pytest.approx(600), pytest.approx(600))


def test_on_a_weekly_only_target_a_take_back_for_today_never_takes_the_weeks_grants() -> None:
    """A 1h week, ``+10m --until 12:00`` and ``+1h --until week`` at 10:00, then
    ``-2h``: the week's quota (60) and the 12:00 grant (10, the last taken) are taken,
    the week's hour is left (as on a target with a daily quota)."""
    e = game(WEEKLY_ONLY)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 600, clock.now, until=local(23, 12))
    e.grant("alex", "game", 3600, clock.now, week=True)
    taken = e.grant("alex", "game", 7200, clock.now, mode="take")
    assert (taken.seconds, taken.timed_taken_s, taken.held_at_used) == (-3600, 600, True)
    assert figures(e, clock) == (pytest.approx(3600), pytest.approx(3600))
    assert play(e, clock, 7200, 1) == pytest.approx(3600)
    clock.set_wall(local(24, 10))
    assert figures(e, clock) == (pytest.approx(3600), pytest.approx(3600))  # the week's


def test_on_a_weekly_only_target_a_take_back_after_the_weeks_grant_paid_takes_nothing() -> None:
    """A 1h week, ``+30m --until week``, 70 minutes played (the week's grant paid 10),
    ``-10m``: the day's own time is used, nothing is taken; 20 minutes are left."""
    e = game(WEEKLY_ONLY)
    clock = FakeClock(local(23, 9))
    e.grant("alex", "game", 1800, clock.now, week=True)
    assert play(e, clock, 4200, 1) == pytest.approx(4200)
    taken = e.grant("alex", "game", 600, clock.now, mode="take")
    assert (taken.seconds, taken.held_at_used) == (0, True)
    assert figures(e, clock) == (pytest.approx(1200), pytest.approx(1200))


def test_on_a_weekly_only_target_a_set_is_refused_with_what_to_type_instead() -> None:
    e = game(WEEKLY_ONLY)
    clock = FakeClock(local(23, 10))
    with pytest.raises(ActionRefused, match=r"only a weekly quota.*\(\+D\).*\(-D\) instead"):
        e.grant("alex", "game", 600, clock.now, mode="set")


def test_on_a_weekly_only_target_time_added_after_a_take_back_pays_for_its_part() -> None:
    """A 1h week, Tuesday ``-40m`` then ``+1m``: 21 minutes played (the week's quota 20,
    the added minute 1); Wednesday the week has 40 minutes (found by the weekly-only
    hand-kept ledger at 400 examples; issue 15)."""
    e = game(WEEKLY_ONLY)
    clock = FakeClock(local(24, 10))
    e.grant("alex", "game", 2400, clock.now, mode="take")
    e.grant("alex", "game", 60, clock.now)
    assert play(e, clock, 3600, 1) == pytest.approx(1260)
    clock.set_wall(local(25, 10))
    assert figures(e, clock) == (pytest.approx(2400), pytest.approx(2400))


def test_on_a_weekly_only_target_time_added_before_a_take_back_is_taken_first() -> None:
    """The other order (issue 15's counterpart): ``+1m`` then ``-40m`` takes the added
    minute first and 39 of the week's quota for Tuesday; the 21 minutes played are all
    the week's quota's, so Wednesday the week has 39 minutes."""
    e = game(WEEKLY_ONLY)
    clock = FakeClock(local(24, 10))
    e.grant("alex", "game", 60, clock.now)
    e.grant("alex", "game", 2400, clock.now, mode="take")
    assert play(e, clock, 3600, 1) == pytest.approx(1260)
    clock.set_wall(local(25, 10))
    assert figures(e, clock) == (pytest.approx(2340), pytest.approx(2340))


def test_on_a_weekly_only_target_time_given_until_a_moment_after_a_take_back_pays_too(
        ) -> None:
    """Issue 15 with time given until a moment: Tuesday ``-40m`` then ``+10m --until
    12:00``, 30 minutes played by then (the week's quota 20, the grant 10): Wednesday the
    week has 40 minutes, not 30."""
    e = game(WEEKLY_ONLY)
    clock = FakeClock(local(24, 10))
    e.grant("alex", "game", 2400, clock.now, mode="take")
    e.grant("alex", "game", 600, clock.now, until=local(24, 12))
    assert play(e, clock, 3600, 1) == pytest.approx(1800)
    clock.set_wall(local(25, 10))
    assert figures(e, clock) == (pytest.approx(2400), pytest.approx(2400))


def test_a_weekly_only_take_back_read_back_from_the_store_counts_the_same(
        tmp_path: Path) -> None:
    """A restart after ``+10m --until 12:00``, 50 minutes played (the grant paid the
    first 10: it ends first, review-1215-s12 F1) and ``-30m`` on a 1h week (the week's
    last 20 minutes for today: 20 taken, not 30): written to a real store as the daemon
    writes them and read back, the engine made from them says what the live one says,
    today (nothing) and on Tuesday (the week's 20 minutes the take-back kept from being
    used)."""
    e = game(WEEKLY_ONLY)
    clock = FakeClock(local(23, 9))
    store = Store.open(tmp_path / "shepherd.db", clock.wall)
    try:
        def grant(seconds: int, **how: Any) -> None:
            planned = e.plan_grant("alex", "game", seconds, clock.now, **how)
            gid = store.grant(clock.wall, "alex", "game", planned.day, planned.seconds,
                              actor="mum", expires_at=planned.expires_at, week=planned.week,
                              used_before_s=planned.used_s, taken_from=planned.taken_from,
                              aside_s=planned.week_aside_s, beyond_s=planned.beyond_own_s,
                              beyond_before_s=planned.beyond_before_s)
            e.apply_grant(planned, clock.now, gid if planned.expires_at is not None else None)

        grant(600, until=local(23, 12))
        assert play(e, clock, 3000, 1) == pytest.approx(3000)
        grant(1800, mode="take")
        books = store.load_accounting(local(23, 10).date())
    finally:
        store.close()
    again = Engine(e.policy, e.zone, usage=e.usage, grants=books.grants, timed_grants=[
        TimedGrant(g.id, g.user, g.target, g.day, g.seconds, g.expires_at, g.week, g.paid_s,
                   g.used_before_s, g.signed_after_s, g.beyond_before_s)
        for g in books.timed_grants], aside=books.aside, beyond=books.beyond)
    assert figures(again, clock) == figures(e, clock) == (pytest.approx(0), pytest.approx(0))
    clock.set_wall(local(24, 10))
    assert figures(again, clock) == figures(e, clock) == (pytest.approx(1200),
                                                          pytest.approx(1200))


@pytest.mark.parametrize(("order", "wednesday"), [
    ((-2400, 60), 2400),  # issue 15: the added minute pays for its part
    ((60, -2400), 2340),  # the take-back took the added minute first
], ids=["take then add", "add then take"])
def test_a_weekly_only_take_back_and_time_added_read_back_count_the_same(
        tmp_path: Path, order: tuple[int, int], wednesday: int) -> None:
    """Issue 15 through a real store: a 1h week, Tuesday a take-back of 40 minutes and
    a minute added, in either order, 21 minutes played; read back on Wednesday, the
    engine made from the store says what the live one says (no stored field more: the
    order is in what each time added for today kept of the take-backs after it)."""
    e = game(WEEKLY_ONLY)
    clock = FakeClock(local(24, 10))
    store = Store.open(tmp_path / "shepherd.db", clock.wall)
    try:
        for seconds in order:
            planned = e.plan_grant("alex", "game", abs(seconds), clock.now,
                                   mode="take" if seconds < 0 else "add")
            gid = store.grant(clock.wall, "alex", "game", planned.day, planned.seconds,
                              actor="mum", expires_at=planned.expires_at, week=planned.week,
                              used_before_s=planned.used_s, taken_from=planned.taken_from,
                              aside_s=planned.week_aside_s, beyond_s=planned.beyond_own_s,
                              beyond_before_s=planned.beyond_before_s)
            e.apply_grant(planned, clock.now, gid if planned.expires_at is not None else None)
        assert play(e, clock, 3600, 1) == pytest.approx(1260)
        books = store.load_accounting(local(23, 10).date())  # the week, from Monday
    finally:
        store.close()
    again = Engine(e.policy, e.zone, usage=e.usage, grants=books.grants, timed_grants=[
        TimedGrant(g.id, g.user, g.target, g.day, g.seconds, g.expires_at, g.week, g.paid_s,
                   g.used_before_s, g.signed_after_s, g.beyond_before_s)
        for g in books.timed_grants], aside=books.aside, beyond=books.beyond)
    clock.set_wall(local(25, 10))
    assert figures(again, clock) == figures(e, clock) == (pytest.approx(wednesday),
                                                          pytest.approx(wednesday))


def test_a_take_back_cutting_the_week_leaves_the_grants_until_a_moment_usable() -> None:
    """ci12b: ``+1m`` twice, ``+1m`` until 13 and 14 minutes on, take-backs of 1, 6, 21
    and 22 minutes on a 1h week: 12 minutes of the week's quota, then each grant's
    minute, the soonest ending first: 14 minutes (before: 13, the grant ending later
    paid the 13th minute in the week's count)."""
    from tests.engine import test_grant_ledger_s10 as s10
    t = s10.test_on_a_weekly_only_target_the_engine_lets_the_child_play_what_a_ledger_allows
    steps = [(0, "today", 1, 1), (0, "today", 1, 1), (0, "until", 1, 13), (0, "until", 1, 14),
             (0, "take", 1, 1), (0, "take", 6, 1), (0, "take", 21, 1), (0, "take", 22, 1)]
    t.hypothesis.inner_test(steps=steps)  # type: ignore[attr-defined]
