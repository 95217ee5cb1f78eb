"""Weekly quotas (SPEC §3): like daily ones over the quota week, which starts on
``week_starts_on`` at ``day_starts_at``; a launch must fit both."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shepherd.engine import (
    Engine,
    GroupQuotaExhausted,
    Instant,
    LaunchDenied,
    QuotaExhausted,
    SessionDue,
    SessionStarted,
)
from shepherd.engine.grants import TimedGrant
from shepherd.store import Accounting, Store
from tests.engine.conftest import USERS, FakeClock, alex_at_once, engine, local
from tests.engine.test_grant_ledger_s16 import run_ledger
from tests.policies import two_in_a_group

# 2026-11-23 is a Monday; days start at 04:00 (conftest).
WEEKLY_ONLY = '[[entries]]\nid = "game"\ncommand = ["game"]\nlimits = { weekly_quota = "2h" }\n'
BOTH = """
[[entries]]
id = "game"
command = ["game"]
limits = { daily_quota = "1h", weekly_quota = "1h30m" }
"""
GROUP = two_in_a_group('daily_quota = "2h"', 'weekly_quota = "3h"')


def started(result: object) -> SessionStarted:
    assert isinstance(result, SessionStarted), result
    return result


def denied(result: object) -> LaunchDenied:
    assert isinstance(result, LaunchDenied), result
    return result


def play(e: Engine, clock: FakeClock, entry: str, seconds: float, session: int) -> float:
    """Launch, play for ``seconds`` (or until the engine says stop), stop; time charged."""
    started(e.launch("alex", entry, clock.now, session))
    deadline = e.deadline(session, clock.now)
    if deadline is not None:
        seconds = min(seconds, deadline.remaining_s)
    return e.end_session(session, clock.advance(seconds), "exited").charged_s


def test_a_weekly_quota_is_spent_over_the_days_of_the_week() -> None:
    e = engine(WEEKLY_ONLY)
    clock = FakeClock(local(23, 16))
    assert play(e, clock, "game", 3600, 1) == 3600
    clock.set_wall(local(24, 16))
    assert play(e, clock, "game", 5400, 2) == 3600  # only the week's second hour
    clock.set_wall(local(26, 10))
    reason = denied(e.launch("alex", "game", clock.now, 3)).reasons[0]
    # Used up for the week: back when next week starts, Monday 30 November at 04:00.
    assert reason == QuotaExhausted(7200.0, 7200, local(30, 4), "week")


def test_a_launch_must_fit_both_the_day_and_the_week() -> None:
    e = engine(BOTH)
    clock = FakeClock(local(23, 16))
    assert play(e, clock, "game", 2 * 3600, 1) == 3600  # the day's hour binds
    clock.set_wall(local(24, 16))
    deadline = started(e.launch("alex", "game", clock.now, 2)).deadline
    assert deadline is not None
    assert (deadline.cause, deadline.period, deadline.remaining_s) == ("quota", "week", 1800)
    e.end_session(2, clock.advance(1800), "expired")
    clock.set_wall(local(25, 16))
    verdict = e.availability("alex", "game", clock.now)
    assert verdict.state == "quota_exhausted" and verdict.remaining_today_s == 0
    assert verdict.reasons == (QuotaExhausted(5400.0, 5400, local(30, 4), "week"),)


def test_the_week_starts_on_week_starts_on_at_day_starts_at() -> None:
    users = USERS.replace('day_starts_at = "04:00"',
                          'day_starts_at = "04:00"\nweek_starts_on = "sat"')
    e = engine(WEEKLY_ONLY, users)
    clock = FakeClock(local(27, 16))  # Friday
    assert play(e, clock, "game", 3 * 3600, 1) == 7200
    # Saturday 03:59 still belongs to Friday's quota day, so to the old week.
    clock.set_wall(local(28, 3, 59))
    assert denied(e.launch("alex", "game", clock.now, 2)).reasons == (
        QuotaExhausted(7200.0, 7200, local(28, 4), "week"),)
    clock.set_wall(local(28, 4))
    assert e.availability("alex", "game", clock.now).remaining_today_s == 7200


def test_a_groups_weekly_quota_is_shared_by_its_entries() -> None:
    e = engine(GROUP)
    clock = FakeClock(local(23, 16))
    assert play(e, clock, "a", 2 * 3600, 1) == 7200
    clock.set_wall(local(24, 16))
    deadline = started(e.launch("alex", "b", clock.now, 2)).deadline
    assert deadline is not None
    assert (deadline.cause, deadline.group, deadline.period, deadline.remaining_s) == (
        "group_quota", "games", "week", 3600)
    e.end_session(2, clock.advance(3600), "expired")
    clock.set_wall(local(25, 16))
    assert denied(e.launch("alex", "a", clock.now, 3)).reasons == (
        GroupQuotaExhausted("games", 10800.0, 10800, local(30, 4), "week"),)
    # Per user: Sam's week is untouched.
    assert isinstance(e.launch("sam", "a", clock.now, 4), SessionStarted)


def test_the_deadline_counts_the_days_a_session_runs_through_against_the_week() -> None:
    # Ten hours left in the week and no other limit: launched at 23:00, the session
    # has until 04:00 (five hours of the day) and then five more, not ten more.
    e = engine('[[entries]]\nid = "x"\ncommand = ["x"]\nlimits = { weekly_quota = "10h" }\n')
    clock = FakeClock(local(24, 23))
    deadline = started(e.launch("alex", "x", clock.now, 1)).deadline
    assert deadline is not None
    assert (deadline.wall, deadline.period) == (local(25, 9), "week")
    e.charge(clock.advance(6 * 3600))  # 05:00: past the day start, the week goes on
    deadline = e.deadline(1, clock.now)
    assert deadline is not None and deadline.wall == local(25, 9)
    clock.advance(4 * 3600)
    assert [ev for ev in e.due(clock.now) if isinstance(ev, SessionDue)] == [
        SessionDue(1, "expired")]
    ended = e.end_session(1, clock.advance(60), "expired")
    assert ended.charged_s == 10 * 3600
    assert e.used("alex", ("x",), date(2026, 11, 24), None) == 5 * 3600


def test_a_grant_counts_for_the_week_on_its_day_and_for_what_it_paid_for_after() -> None:
    e = engine(BOTH)
    clock = FakeClock(local(23, 16))
    # Monday: an extra 30 minutes, used in full. The week's hour and a half is not
    # touched by them: Tuesday still has half an hour.
    e.grant("alex", "game", 1800, clock.now)
    assert play(e, clock, "game", 3 * 3600, 1) == 5400
    clock.set_wall(local(24, 16))
    limits = e.limits_of("game")
    assert limits is not None
    day, week = e.standing("alex", limits, date(2026, 11, 24), clock.now)
    assert day is not None and week is not None
    assert (week.used_s, week.allowance_s, week.left_s) == (5400, 7200, 1800)
    # Tuesday: an extra hour on top of the week's last half hour, not used but for
    # that half hour. Wednesday it no longer counts.
    e.grant("alex", "game", 3600, clock.now)
    assert e.availability("alex", "game", clock.now).remaining_today_s == 5400
    assert play(e, clock, "game", 1800, 2) == 1800
    clock.set_wall(local(25, 16))
    assert denied(e.launch("alex", "game", clock.now, 3)).reasons == (
        QuotaExhausted(7200.0, 7200, local(30, 4), "week"),)


def test_a_grant_on_a_day_the_week_binds_gives_that_time_today() -> None:
    e = engine(WEEKLY_ONLY)
    clock = FakeClock(local(23, 16))
    assert play(e, clock, "game", 3 * 3600, 1) == 7200
    clock.set_wall(local(24, 16))
    e.grant("alex", "game", 900, clock.now)
    assert play(e, clock, "game", 3600, 2) == 900
    clock.set_wall(local(25, 16))
    assert not e.availability("alex", "game", clock.now).allowed


def test_an_extension_runs_past_the_week_once() -> None:
    e = engine(WEEKLY_ONLY)
    clock = FakeClock(local(23, 16))
    started(e.launch("alex", "game", clock.now, 1))
    e.charge(clock.advance(3600))
    e.extend(1, 1800, clock.now)
    deadline = e.deadline(1, clock.now)
    assert deadline is not None and deadline.remaining_s == 3600 + 1800
    ended = e.end_session(1, clock.advance(2 * 3600), "expired")
    assert ended.charged_s == 2 * 3600 + 1800


@pytest.mark.parametrize("week_start", ["mon", "wed", "sun"])
def test_status_standing_reports_the_week_so_far(week_start: str) -> None:
    users = USERS.replace('day_starts_at = "04:00"',
                          f'day_starts_at = "04:00"\nweek_starts_on = "{week_start}"')
    e = engine(BOTH, users)
    clock = FakeClock(local(24, 16))  # Tuesday: 30 minutes
    play(e, clock, "game", 1800, 1)
    clock.set_wall(local(25, 16))  # Wednesday: 20 minutes
    play(e, clock, "game", 1200, 2)
    limits = e.limits_of("game")
    assert limits is not None
    day, week = e.standing("alex", limits, date(2026, 11, 25), clock.now)
    assert day is not None and week is not None
    assert day.used_s == 1200
    # Monday- and Sunday-started weeks hold both days; a Wednesday-started one only today.
    assert week.used_s == (1200 if week_start == "wed" else 3000)


def test_an_extension_spent_across_a_day_start_within_the_week_is_spent_once() -> None:
    # The week's last five minutes start at 03:55; the session runs on past 04:00
    # (a new day, the same week), and gets a minute's extension at 04:35, when
    # everything since 03:55 is charged at once. The minute is spent then: nothing more.
    e = engine('[[entries]]\nid = "x"\ncommand = ["x"]\nlimits = { weekly_quota = "5m" }\n')
    clock = FakeClock(local(24, 3, 55))
    started(e.launch("alex", "x", clock.now, 1))
    clock.advance(40 * 60)
    e.extend(1, 60, clock.now)
    e.charge(clock.now)
    e.charge(clock.advance(2))
    ended = e.end_session(1, clock.advance(600), "expired")
    assert ended.charged_s == 300 + 60


def test_a_grant_to_a_target_with_only_a_weekly_quota_says_the_weeks_allowance() -> None:
    e = engine(WEEKLY_ONLY)
    clock = FakeClock(local(24, 16))
    granted = e.grant("alex", "game", 900, clock.now)
    assert (granted.allowance_s, granted.week_allowance_s) == (None, 7200 + 900)


def test_a_paused_session_spends_none_of_the_week_and_its_end_moves_out() -> None:
    # Rule 12 with a weekly quota: locked time is not billed, toward the week either.
    e = engine(WEEKLY_ONLY)
    monday, wednesday = date(2026, 11, 23), date(2026, 11, 25)
    e.usage[("alex", "game", monday)] = 3600.0
    clock = FakeClock(local(25, 16))
    started(e.launch("alex", "game", clock.now, 1))
    first = e.deadline(1, clock.now)
    assert first is not None and first.period == "week"
    assert first.remaining_s == pytest.approx(3600)
    clock.advance(600)
    e.pause("alex", "locked", clock.now, clock.now)
    for _ in range(60):  # an hour locked, the daemon's checkpoints charge nothing
        e.charge(clock.advance(60))
    limits = e.limits_of("game")
    assert limits is not None
    _, week = e.standing("alex", limits, wednesday, clock.now)
    assert week is not None and week.used_s == pytest.approx(4200)
    assert not [ev for ev in e.due(clock.now) if isinstance(ev, SessionDue)]
    e.resume("alex", clock.now)
    later = e.deadline(1, clock.now)
    assert later is not None and later.period == "week"
    assert later.wall == local(25, 18)  # back at 17:10 (an hour locked), with 50m left
    clock.advance(3000)
    assert [ev for ev in e.due(clock.now) if isinstance(ev, SessionDue)]
    assert e.end_session(1, clock.now, "expired").charged_s == pytest.approx(3600)
    _, week = e.standing("alex", limits, wednesday, None)
    assert week is not None and week.used_s == pytest.approx(7200)  # exactly the week's 2h


def test_a_paused_session_does_not_share_a_groups_weekly_quota() -> None:
    radio = GROUP.replace('command = ["b"]', 'command = ["b"]\ncount = "running"')
    e = engine(radio, alex_at_once(2))
    clock = FakeClock(local(25, 16))
    e.usage[("alex", "a", date(2026, 11, 23))] = 2 * 3600.0  # 1h of the week's 3h left
    started(e.launch("alex", "a", clock.now, 1))
    started(e.launch("alex", "b", clock.now, 2))
    shared = e.deadline(2, clock.now)
    assert shared is not None and shared.period == "week"
    assert shared.remaining_s == pytest.approx(1800)  # the hour, spent by both at once
    e.pause("alex", "locked", clock.now, clock.now)  # "a" pauses, "b" counts running time
    alone = e.deadline(2, clock.now)
    assert alone is not None and alone.remaining_s == pytest.approx(3600)


# -- review-15-s15 N1: a timed grant the day did not need is not week time later --

TWENTY_THIRTY = ('[[entries]]\nid = "game"\ncommand = ["game"]\n'
                 'limits = { daily_quota = "20m", weekly_quota = "30m" }\n')


def twenty_thirty(target: str) -> tuple[Engine, str]:
    """20m a day, 30m a week: the entry "game" (``target`` "game") or the group "games"
    of "a" and "b"; the engine and the entry the child plays."""
    if target == "game":
        return engine(TWENTY_THIRTY), "game"
    return engine(two_in_a_group('daily_quota = "20m"', 'weekly_quota = "30m"')), "a"


@pytest.mark.parametrize(("until", "monday", "tuesday"),
                         [(True, 1200, 600), (False, 1200, 600), (True, 3000, 600),
                          (None, 1200, 600)])
def test_a_timed_grant_used_within_the_days_own_time_leaves_the_week_as_it_was(
        until: bool | None, monday: int, tuesday: int) -> None:
    """N1: 20m a day, 30m a week; on Monday ``+30m --until 23:59`` (True), ``+30m`` for
    today (False) or nothing (None), then ``monday`` seconds played. 20 minutes played
    are the day's own: the week has 10 minutes left on Tuesday whatever was given
    (before: 20 with ``--until``); 50 played are the quota and the grant's 30: 10 left."""
    e = engine(TWENTY_THIRTY)
    clock = FakeClock(local(23, 10))
    if until is not None:
        e.grant("alex", "game", 1800, clock.now,
                until=local(23, 23, 59) if until else None)
    assert isinstance(e.launch("alex", "game", clock.now, 1), SessionStarted)
    e.end_session(1, clock.advance(monday), "exited")
    clock.set_wall(local(24, 10))
    e.due(clock.now)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(tuesday)


def test_a_timed_grant_on_a_day_the_week_cut_short_pays_all_it_paid_on_the_week() -> None:
    """N1's rule must not take from the child: 20m a day, 30m a week; Monday's 20 played;
    on Tuesday ``+30m --until 23:59`` and play: the grant's 30 and the week's last 10
    (not the day's 20). On Wednesday ``+10m`` for the week gives 10 minutes, all of it."""
    e = engine(TWENTY_THIRTY)
    clock = FakeClock(local(23, 10))
    assert isinstance(e.launch("alex", "game", clock.now, 1), SessionStarted)
    e.end_session(1, clock.advance(1200), "exited")
    clock.set_wall(local(24, 10))
    e.grant("alex", "game", 1800, clock.now, until=local(24, 23, 59))
    assert isinstance(e.launch("alex", "game", clock.now, 2), SessionStarted)
    deadline = e.deadline(2, clock.now)
    assert deadline is not None and deadline.remaining_s == pytest.approx(2400)
    e.end_session(2, clock.advance(2400), "exited")
    clock.set_wall(local(25, 10))
    e.due(clock.now)
    e.grant("alex", "game", 600, clock.now, week=True)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(600)


def _play_until(e: Engine, clock: FakeClock, session: int, until: datetime | None) -> float:
    """Run ``session`` as the daemon does (charged each minute, stopped when due) until
    the engine says stop or ``until``; end it; the seconds it ran."""
    start = clock.mono
    while True:
        deadline = e.deadline(session, clock.now)
        step = 60.0 if deadline is None else min(60.0, deadline.remaining_s)
        if until is not None:
            step = min(step, (until - clock.wall).total_seconds())
        if step <= 0:
            break
        clock.advance(step)
        e.charge(clock.now)
        if SessionDue(session, "expired") in e.due(clock.now):
            break
    e.end_session(session, clock.now, "expired")
    return clock.mono - start


def _monday_night(daily: int, weekly: int, before: int, timed: int, until: int, today: int,
                  launch: int) -> tuple[Engine, FakeClock]:
    """Monday: ``before`` minutes played at 10:00; at 02:00 (still Monday's day, which
    ends at 04:00) ``+timed`` minutes until ``until`` minutes later and ``+today`` for
    the day; the clock at ``launch`` minutes after 02:00."""
    e = engine("[[entries]]\nid = \"game\"\ncommand = [\"game\"]\n"
               f"limits = {{ daily_quota = \"{daily}m\", weekly_quota = \"{weekly}m\" }}\n")
    clock = FakeClock(local(23, 10))
    if before:
        started(e.launch("alex", "game", clock.now, 9))
        _play_until(e, clock, 9, local(23, 10) + timedelta(minutes=before))
    night = local(24, 2)
    clock.set_wall(night)
    if timed:
        e.grant("alex", "game", timed * 60, clock.now, until=night + timedelta(minutes=until))
    if today:
        e.grant("alex", "game", today * 60, clock.now)
    clock.set_wall(night + timedelta(minutes=launch))
    e.due(clock.now)
    return e, clock


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(daily=st.integers(10, 90), weekly=st.integers(20, 200), before=st.integers(0, 90),
       timed=st.integers(0, 60), until=st.integers(1, 119), today=st.integers(0, 30),
       launch=st.integers(0, 119))
@example(daily=60, weekly=90, before=0, timed=30, until=90, today=0, launch=60)
@example(daily=60, weekly=100, before=30, timed=30, until=100, today=10, launch=50)
def test_a_session_across_the_day_start_ends_as_if_stopped_and_launched_again_there(
        daily: int, weekly: int, before: int, timed: int, until: int, today: int,
        launch: int) -> None:
    """spend15b's open risk (N1's rule): at 04:00 Monday's timed grant starts to count on
    the week only for Monday's use beyond its quota, so the week may shrink under a
    running session. A session across 04:00 must run exactly as long as one stopped at
    04:00 and launched again (never longer), and the week never holds more than its quota
    and the grants."""
    e, clock = _monday_night(daily, weekly, before, timed, until, today, launch)
    if not isinstance(e.launch("alex", "game", clock.now, 1), SessionStarted):
        return
    whole = _play_until(e, clock, 1, None)
    e, clock = _monday_night(daily, weekly, before, timed, until, today, launch)
    started(e.launch("alex", "game", clock.now, 1))
    split = _play_until(e, clock, 1, local(24, 4))
    if clock.wall >= local(24, 4) and isinstance(
            again := e.launch("alex", "game", clock.now, 2), SessionStarted):
        split += _play_until(e, clock, again.session_id, None)
    assert whole == pytest.approx(split, abs=1)
    monday, tuesday = (e.used("alex", ("game",), date(2026, 11, d), None) for d in (23, 24))
    assert monday <= (daily + timed + today) * 60 + 1
    assert tuesday <= daily * 60 + 1
    assert monday + tuesday <= (weekly + timed + today) * 60 + 1


TWENTY_45 = ('[[entries]]\nid = "game"\ncommand = ["game"]\n'
             'limits = { daily_quota = "20m", weekly_quota = "45m" }\n')


@pytest.mark.parametrize(("change", "wednesday"), [
    (None, 300), ("today", 300), ("until", 300), ("set", 300)])
def test_time_for_today_given_after_the_days_play_never_repays_the_weeks_grant(
        change: str | None, wednesday: int) -> None:
    """review-15-s16 P2: 20m a day, 45m a week; Monday ``+30m --until week`` and 50
    played (the day's 20, the week grant's 30: the day may not go past its quota on the
    week's quota); Tuesday 20 played, then ``+5m`` (or ``=1h``) given and not played.
    Wednesday has the week's 45 less the 40 of the days' own time: 5 minutes. The week's
    walk had let the week's quota pay Monday first, so Tuesday's 20 looked paid by the
    week grant, and Tuesday's late ``+5m`` repaid 5 of it: 10 minutes."""
    e = engine(TWENTY_45)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 1800, clock.now, week=True)
    assert play(e, clock, "game", 3 * 3600, 1) == pytest.approx(3000)
    clock.set_wall(local(24, 10))
    assert play(e, clock, "game", 3 * 3600, 2) == pytest.approx(1200)
    if change == "today":
        e.grant("alex", "game", 300, clock.now)
    elif change == "until":
        e.grant("alex", "game", 300, clock.now, until=local(24, 20))
    elif change == "set":
        e.grant("alex", "game", 3600, clock.now, mode="set")
    clock.set_wall(local(25, 10))
    e.due(clock.now)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(
        wednesday)


@pytest.mark.parametrize("change", [None, "today", "set"])
def test_a_week_smaller_than_the_day_never_has_the_weeks_grant_again(
        change: str | None) -> None:
    """review-15-s16 P2's second form (the lead's): 20m a day, 15m a week; Monday 09:00
    ``+20m --until week`` and 35 played (the week's 15, then the week grant's 20: the
    day's quota has 5 minutes more, but the week's quota has none); Monday 15:00 ``+30m``
    (or ``=1h``: the day's 20 and the week grant's 20 are in the day's whole, so it adds
    20 minutes, and the week's quota still binds) for today, not played. Tuesday has
    nothing: the week and its grant are spent. The day's count had the grant paying only
    beyond the day's 20 (15 minutes), so the late ``+30m`` repaid the other 5 and Tuesday
    had 15 minutes."""
    e = engine('[[entries]]\nid = "game"\ncommand = ["game"]\n'
               'limits = { daily_quota = "20m", weekly_quota = "15m" }\n')
    clock = FakeClock(local(23, 9))
    e.grant("alex", "game", 1200, clock.now, week=True)
    assert play(e, clock, "game", 3 * 3600, 1) == pytest.approx(35 * 60)
    clock.set_wall(local(23, 15))
    if change == "today":
        e.grant("alex", "game", 1800, clock.now)
    elif change == "set":
        e.grant("alex", "game", 3600, clock.now, mode="set")
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(
        0 if change is None else 1800 if change == "today" else 20 * 60)
    clock.set_wall(local(24, 10))
    e.due(clock.now)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(0)


@pytest.mark.parametrize(("change", "tuesday"), [
    (None, 600), (("set", 300), 300), (("set", 840), 600), (("take", 60), 600),
    (("take", 600), 300)])
def test_lowering_a_day_when_the_week_has_less_than_its_quota_left_leaves_what_was_set(
        change: tuple[str, int] | None, tuesday: int) -> None:
    """Found by the week ledger (p2fix16): 15m a day, 25m a week, Monday's 15 played; on
    Tuesday the week's 10 minutes bind. A take-back or a set lowers the day; on the week it
    cuts only what it leaves the day below the week's 10, as the day counts once it is
    over: ``=5m`` leaves 5 minutes (it left none: the set's 10-minute cut came off the
    week's 10 too); ``=14m`` or ``-1m`` the week's 10 (it left 9), ``-10m`` 5 (it left 0)."""
    e = engine('[[entries]]\nid = "game"\ncommand = ["game"]\n'
               'limits = { daily_quota = "15m", weekly_quota = "25m" }\n')
    clock = FakeClock(local(23, 10))
    assert play(e, clock, "game", 3600, 1) == pytest.approx(900)
    clock.set_wall(local(24, 10))
    if change is not None:
        e.grant("alex", "game", change[1], clock.now, mode=change[0])  # type: ignore[arg-type]
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(
        tuesday)
    assert play(e, clock, "game", 3600, 2) == pytest.approx(tuesday)


@pytest.mark.parametrize("lowered", [False, True])
def test_time_until_a_moment_on_a_day_set_below_its_quota_pays_beyond_the_days_own_time(
        lowered: bool) -> None:
    """Found by the week ledger (p2fix16; pre-existing): 15m a day, 25m a week; Monday
    ``=1m``, ``+10m --until`` 10 minutes on, 11 played (the 10 minutes, then the day's 1).
    Once the day is over the grant counts for the use beyond the day's own time (1 minute
    after the set), not beyond its quota (review-15-s15 N1's rule, which had it pay for
    nothing and the week's quota for all 11): Tuesday has its 15 (before: 14)."""
    e = engine('[[entries]]\nid = "game"\ncommand = ["game"]\n'
               'limits = { daily_quota = "15m", weekly_quota = "25m" }\n')
    clock = FakeClock(local(23, 10))
    if lowered:
        e.grant("alex", "game", 60, clock.now, mode="set")
    e.grant("alex", "game", 600, clock.now, until=local(23, 10, 10))
    assert play(e, clock, "game", 11 * 60, 1) == pytest.approx(660)
    clock.set_wall(local(24, 10))
    e.due(clock.now)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(
        900 if lowered else 14 * 60)


@pytest.mark.parametrize("change", ["take", "set"])
@pytest.mark.parametrize("added", [1, 5, 10])
def test_a_cut_after_the_added_time_was_used_takes_the_quotas_unusable_minutes(
        added: int, change: str) -> None:
    """low17 (review Q1, p2fix16's LOWERED): 15m a day, 10m a week. Monday ``+Xm`` and
    10 + X minutes played (the week's 10, then the added minutes), then ``-Xm`` (or
    ``=1m``, held at the use): a take-back or a lowering set takes the day's unused own
    time, never what was used: the added minutes were used, so it takes the quota's
    minutes the week's quota could never pay (15 - 10). Monday is not over the week, and
    Tuesday's and Wednesday's ``+Xm`` are theirs (before: 0, 0, 5 left; the parent was
    told "X minutes more")."""
    e = engine('[[entries]]\nid = "game"\ncommand = ["game"]\n'
               'limits = { daily_quota = "15m", weekly_quota = "10m" }\n')
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", added * 60, clock.now)
    assert play(e, clock, "game", 3600, 1) == pytest.approx((10 + added) * 60)
    seconds = added * 60 if change == "take" else 60
    e.grant("alex", "game", seconds, clock.now, mode=change)  # type: ignore[arg-type]
    for session, day in ((2, 24), (3, 25)):
        clock.set_wall(local(day, 10))
        assert e.availability("alex", "game", clock.now).remaining_today_s == 0
        e.grant("alex", "game", added * 60, clock.now)
        assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(
            added * 60)
        assert play(e, clock, "game", 3600, session) == pytest.approx(added * 60)


def grant_through(store: Store, e: Engine, clock: FakeClock, target: str, seconds: int,
                  mode: str = "add", week: bool = False) -> None:
    """A grant written to a real store as the daemon writes it, then made."""
    planned = e.plan_grant("alex", target, seconds, clock.now, mode,  # type: ignore[arg-type]
                           week=week)
    gid = store.grant(clock.wall, "alex", target, planned.day, planned.seconds,
                      actor="mum", expires_at=planned.expires_at, week=planned.week,
                      used_before_s=planned.used_s, taken_from=planned.taken_from,
                      aside_s=planned.week_aside_s, beyond_s=planned.beyond_own_s,
                      beyond_before_s=planned.beyond_before_s, kept_s=planned.kept_s,
                      raises=planned.raises)
    e.apply_grant(planned, clock.now, gid if planned.expires_at is not None else None)


def rebuilt(e: Engine, books: Accounting, kept: bool = True) -> Engine:
    """The engine a restart makes from ``books`` (the use as ``e`` has it), as the
    daemon makes it (core.py ``_load``; with the expiries it noted: review-15-s20 T3)."""
    return Engine(e.policy, e.zone, usage=e.usage, grants=books.grants, timed_grants=[
        TimedGrant(g.id, g.user, g.target, g.day, g.seconds, g.expires_at, g.week,
                   g.paid_s, g.used_before_s, g.signed_after_s, g.beyond_before_s)
        for g in books.timed_grants], expiries_noted=books.expiries_noted,
        aside=books.aside, beyond=books.beyond,
        kept=books.kept if kept else None, raises=books.raises if kept else None)


def test_a_cut_after_the_added_time_was_used_reads_back_from_the_store_the_same(
        tmp_path: Path) -> None:
    """A restart after the Q1 example (15m a day, 10m a week, Monday ``+5m``, 15 played,
    ``-5m``): written to a real store as the daemon writes them (``kept_s``, migration
    11) and read back, the engine made from them says Tuesday's ``+5m`` is 5 minutes, as
    the live one does; made without what the take-back kept, it says nothing (the net
    split, before low17)."""
    e = engine('[[entries]]\nid = "game"\ncommand = ["game"]\n'
               'limits = { daily_quota = "15m", weekly_quota = "10m" }\n')
    clock = FakeClock(local(23, 10))
    store = Store.open(tmp_path / "shepherd.db", clock.wall)
    try:
        grant_through(store, e, clock, "game", 300)
        assert play(e, clock, "game", 3600, 1) == pytest.approx(900)
        grant_through(store, e, clock, "game", 300, "take")
        books = store.load_accounting(local(23, 10).date())
    finally:
        store.close()
    assert books.kept == {("alex", "game", local(23, 10).date()): 300}
    again, before = rebuilt(e, books), rebuilt(e, books, kept=False)
    clock.set_wall(local(24, 10))
    for one in (e, again, before):
        one.grant("alex", "game", 300, clock.now)
    assert [one.availability("alex", "game", clock.now).remaining_today_s
            for one in (e, again, before)] == [pytest.approx(300), pytest.approx(300), 0]


def test_time_for_today_after_a_grant_until_a_moment_never_repays_the_weeks_grant() -> None:
    """Found by the week ledger with lowering steps (low17; pre-existing): 15m a day, 10m
    a week, Monday ``+1m --until week``; Tuesday 11 played (the week's 10, then the week's
    grant), then ``+1m --until`` a minute on and ``+1m``. While the first still counted,
    today's walk took it for the day's own time, so the week's grant seemed to have paid
    nothing when ``+1m`` was given, and once the day was over ``+1m`` paid the 11th minute
    and Wednesday had the week's grant again (60 s left; the week's quota and its grant
    were all used: 0)."""
    e = engine('[[entries]]\nid = "game"\ncommand = ["game"]\n'
               'limits = { daily_quota = "15m", weekly_quota = "10m" }\n')
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 60, clock.now, week=True)
    clock.set_wall(local(24, 10))
    assert play(e, clock, "game", 3600, 1) == pytest.approx(660)
    e.grant("alex", "game", 60, clock.now, until=clock.wall + timedelta(minutes=1))
    e.grant("alex", "game", 60, clock.now)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(120)
    clock.set_wall(local(25, 10))
    assert e.availability("alex", "game", clock.now).remaining_today_s == 0


@pytest.mark.parametrize("change", [("set", 600), ("take", 120)])
def test_a_cut_beside_a_grant_until_a_moment_lowers_the_days_own_time_only(
        change: tuple[str, int]) -> None:
    """Found by the week ledger with lowering steps (low17; pre-existing): 15m a day, 10m
    a week. ``+1m --until`` 11 minutes on, then ``=10m`` (or ``-2m``): the cut lowers the
    day's own time (its quota's minutes the week's quota could not pay), and the minute
    given until then comes on top: 11 minutes (the week's walk took the grant for part of
    the day's own time, so the cut seemed to take it too: 10)."""
    e = engine('[[entries]]\nid = "game"\ncommand = ["game"]\n'
               'limits = { daily_quota = "15m", weekly_quota = "10m" }\n')
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 60, clock.now, until=clock.wall + timedelta(minutes=11))
    e.grant("alex", "game", change[1], clock.now, mode=change[0])  # type: ignore[arg-type]
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(660)
    assert play(e, clock, "game", 3600, 1) == pytest.approx(660)


def test_a_take_back_after_the_pool_paid_and_a_grant_until_a_moment_takes_the_days_own(
        ) -> None:
    """Found by the week ledger with lowering steps (low17; pre-existing): 15m a day, 10m
    a week, Monday ``+5m --until week``; Tuesday 15 played (the week's 10, the grant's 5),
    ``+7m --until`` 22 minutes on, then ``-2m``: it takes 2 of the day's own time not
    used (its quota's minutes the week's quota could not pay), and the 7 minutes until
    then are left (it took them from the grant until then: 5 left)."""
    e = engine('[[entries]]\nid = "game"\ncommand = ["game"]\n'
               'limits = { daily_quota = "15m", weekly_quota = "10m" }\n')
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 300, clock.now, week=True)
    clock.set_wall(local(24, 10))
    assert play(e, clock, "game", 3600, 1) == pytest.approx(900)
    e.grant("alex", "game", 420, clock.now, until=clock.wall + timedelta(minutes=22))
    answer = e.grant("alex", "game", 120, clock.now, mode="take")
    assert (answer.seconds, answer.timed_taken_s) == (-120, 0)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(420)


def _minutes_limits(daily: int, weekly: int) -> str:
    return ('[[entries]]\nid = "game"\ncommand = ["game"]\n'
            f'limits = {{ daily_quota = "{daily}m", weekly_quota = "{weekly}m" }}\n')


@pytest.mark.parametrize(("daily", "weekly", "week_grant", "timed", "today", "mid"), [
    (30, 40, 19, 21, 7, False), (30, 40, 19, 21, 7, True), (15, 15, 10, 1, 10, False),
    (15, 25, 19, 21, 7, False), (30, 40, 19, 5, 7, False)])
def test_time_until_a_moment_given_after_the_days_play_never_repays_the_weeks_grant(
        daily: int, weekly: int, week_grant: int, timed: int, today: int, mid: bool) -> None:
    """review-15-s17 Q2: 30m a day, 40m a week; Monday's 30 played; Tuesday 08:07
    ``+19m --until week`` (before the launch or during the session) and all played (the
    week's 10, the week grant's 19); after the play ``+21m --until`` five minutes on,
    then ``+7m``, neither played. Wednesday has nothing: the week and its grant are spent.
    The day's split counted the grant until a moment, still counting at the ``+7m``, at
    its whole 21 minutes of the day's own time, so the week grant's draw recorded then
    was 0 and Wednesday had min(21, 7) minutes again."""
    e = engine(_minutes_limits(daily, weekly))
    clock = FakeClock(local(23, 8))
    assert play(e, clock, "game", 3 * 3600, 1) == pytest.approx(daily * 60)
    clock.set_wall(local(24, 8, 7))
    if not mid:
        e.grant("alex", "game", week_grant * 60, clock.now, week=True)
    started(e.launch("alex", "game", clock.now, 2))
    clock.advance(60)
    if mid:
        e.grant("alex", "game", week_grant * 60, clock.now, week=True)
    deadline = e.deadline(2, clock.now)
    assert deadline is not None and deadline.remaining_s is not None
    tuesday = e.end_session(2, clock.advance(deadline.remaining_s), "exited").charged_s
    assert tuesday == pytest.approx((weekly - daily + week_grant) * 60)
    e.grant("alex", "game", timed * 60, clock.now, until=clock.wall + timedelta(minutes=5))
    e.grant("alex", "game", today * 60, clock.now)
    clock.set_wall(local(25, 10))
    e.due(clock.now)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(0)
    denied(e.launch("alex", "game", clock.now, 3))


@pytest.mark.parametrize("group", [False, True])
def test_unused_evening_time_until_a_moment_is_never_the_next_mornings_week_time(
        group: bool) -> None:
    """review-15-s17 Q2, repeated (r5, r6): 15m a day, 15m a week (an entry's, or a
    group's played on either entry); Monday's 15 played; Tuesday 08:00
    ``+10m --until week``, 10 played; then each evening at 20:00 ``+10m --until 20:05``
    and ``+10m``, none of it played. No morning after has time: the week allows 25
    minutes and they are used (it had 10 every morning: 90 in all)."""
    e = engine(two_in_a_group('daily_quota = "15m"', 'weekly_quota = "15m"') if group
               else _minutes_limits(15, 15))
    target, entries = ("games", ("a", "b")) if group else ("game", ("game", "game"))
    clock = FakeClock(local(23, 8))
    assert play(e, clock, entries[0], 3600, 1) == pytest.approx(900)
    clock.set_wall(local(24, 8))
    e.grant("alex", target, 600, clock.now, week=True)
    assert play(e, clock, entries[1], 3600, 2) == pytest.approx(600)
    for day in range(24, 29):
        clock.set_wall(local(day, 20))
        e.grant("alex", target, 600, clock.now, until=local(day, 20, 5))
        e.grant("alex", target, 600, clock.now)
        clock.set_wall(local(day + 1, 8))
        e.due(clock.now)
        entry = entries[day % 2]
        assert e.availability("alex", entry, clock.now).time_left_s == pytest.approx(0)
        denied(e.launch("alex", entry, clock.now, 3 + day))


@pytest.mark.parametrize(("weekly", "change", "tuesday_left", "week_left"), [
    (25, ("set", 300), 300, 600), (25, ("set", 840), 600, 600), (25, ("take", 60), 600, 600),
    (25, ("take", 600), 300, 600), (25, ("set", 0), 0, 600), (100, ("set", 300), 300, 85 * 60),
    (100, ("take", 600), 300, 85 * 60)])
def test_a_take_back_or_set_for_today_shows_the_week_as_it_stands(
        weekly: int, change: tuple[str, int], tuesday_left: int, week_left: int) -> None:
    """review-15-s17 Q4: 15m a day, Monday's 15 played; Tuesday's take-back or set lowers
    the day's own time and no more (be55474), so the week's figure is the week as it
    stands (25m week: 10 of 25 minutes left, not "5m of 20m" after ``=5m``), the same
    as on Wednesday with Tuesday unplayed; what Tuesday may play is what it was."""
    def tuesday() -> tuple[Engine, FakeClock]:
        e = engine(_minutes_limits(15, weekly))
        clock = FakeClock(local(23, 10))
        assert play(e, clock, "game", 3600, 1) == pytest.approx(900)
        clock.set_wall(local(24, 10))
        e.grant("alex", "game", change[1], clock.now, mode=change[0])  # type: ignore[arg-type]
        return e, clock

    e, clock = tuesday()
    limits = e.limits_of("game")
    assert limits is not None
    day, week = e.standing("alex", limits, date(2026, 11, 24), clock.now)
    assert day is not None and week is not None
    assert (week.used_s, week.allowance_s, week.left_s) == (900, weekly * 60, week_left)
    assert e.week_left_today("alex", limits, date(2026, 11, 24), clock.now) == week_left
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(
        tuesday_left)
    if tuesday_left:
        assert play(e, clock, "game", 3600, 2) == pytest.approx(tuesday_left)
    else:
        denied(e.launch("alex", "game", clock.now, 2))
    e, clock = tuesday()  # unplayed: Wednesday has the week as it stood
    clock.set_wall(local(25, 10))
    e.due(clock.now)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(
        min(week_left, 900))


def test_the_week_ledger_agrees_on_time_until_a_moment_given_after_the_days_play() -> None:
    """review-15-s17 Q2 through the week ledger (tests/engine/test_grant_ledger_s16.py):
    15m a day, 10m a week; Monday 10 played (the week's quota), ``+10m --until week`` and
    10 played, then ``+1m --until`` 5 minutes on and ``+10m``, neither played: Tuesday
    has nothing (it had the minute until a moment's again)."""
    run_ledger(10, [(0, "play", 1, 10), (0, "week", 10, 1), (0, "play", 1, 25),
                    (0, "until", 1, 5), (0, "today", 10, 1), (1, "wait", 1, 1)])


@pytest.mark.parametrize("cut", [None, ("take", 300), ("set", 300), ("take", 60)])
def test_a_cut_beside_time_until_a_moment_on_a_spent_week_leaves_later_days_their_time(
        cut: tuple[str, int] | None) -> None:
    """review-15-s17b R1: 20m a day, 15m a week, Monday's 15 played (the week's quota
    spent). Tuesday ``+20m --until`` 30 minutes on, then ``-5m`` (or ``=5m``, ``-1m``),
    and 20 minutes played: the grant paid them all. Once Tuesday was over its minutes
    counted on the week only beyond the day's own time cut to 15 (the quota less the
    cut), not beyond what the week's quota had left (none): 15 of them became use beyond
    the week, and each later day's ``+5m`` paid for it (0 left, or 4 with ``-1m``)."""
    e = engine('[[entries]]\nid = "game"\ncommand = ["game"]\n'
               'limits = { daily_quota = "20m", weekly_quota = "15m" }\n')
    clock = FakeClock(local(23, 10))
    assert play(e, clock, "game", 3 * 3600, 1) == pytest.approx(900)
    clock.set_wall(local(24, 10))
    e.grant("alex", "game", 1200, clock.now, until=clock.wall + timedelta(minutes=30))
    if cut is not None:
        e.grant("alex", "game", cut[1], clock.now, mode=cut[0])  # type: ignore[arg-type]
    assert play(e, clock, "game", 3 * 3600, 2) == pytest.approx(1200)
    for session, day in ((3, 25), (4, 26)):
        clock.set_wall(local(day, 10))
        e.due(clock.now)
        e.grant("alex", "game", 300, clock.now)
        assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(
            300)
        assert play(e, clock, "game", 3600, session) == pytest.approx(300)


@pytest.mark.parametrize("target", ["game", "games"])
def test_a_take_back_of_the_weeks_time_takes_what_a_set_set_aside_first(target: str) -> None:
    """review-15-s17c F1: 20m a day (no weekly quota), Thursday, nothing used:
    ``+15m --until week``, then ``=24m`` (the day draws 4 of the week's 15; 11 set aside
    for the other days). ``-5m --until week`` took today's 4 (today 20, said nowhere)
    where the 11 set aside were there to take; and after 24 played, ``-15m --until week``
    (the 11 left) and ``+12m --until week``, only 8 of the 12 could be used today."""
    if target == "game":
        e = engine('[[entries]]\nid = "game"\ncommand = ["game"]\n'
                   'limits = { daily_quota = "20m" }\n')
        entry = "game"
    else:
        e = engine(two_in_a_group('daily_quota = "20m"'))
        entry = "a"
    clock = FakeClock(local(26, 10))

    e.grant("alex", target, 900, clock.now, week=True)
    e.grant("alex", target, 24 * 60, clock.now, mode="set")
    e.grant("alex", target, 300, clock.now, mode="take", week=True)
    # the 5 came out of what was set aside: today still has its 24
    assert play(e, clock, entry, 3 * 3600, 1) == pytest.approx(24 * 60)
    e.grant("alex", target, 900, clock.now, mode="take", week=True)  # the 6 left
    e.grant("alex", target, 12 * 60, clock.now, week=True)
    assert play(e, clock, entry, 3 * 3600, 2) == pytest.approx(12 * 60)


@pytest.mark.parametrize("target", ["game", "games"])
@pytest.mark.parametrize(("day", "words", "played"), [
    (29, ("~1m", "=0m"), [0]),
    (29, ("~1m", "=0m", "~1m"), [60]),
    (29, ("~1m", "=0m", "~1m", "-~1m"), [0]),  # s22's official CI: 1 minute
    (29, ("~1m", "=0m", "~3m", "-~1m"), [120]),
    (29, ("~1m", "=0m", "~1m", "-~2m"), [0]),
    (29, ("~5m", "=10m", "~1m", "-~3m"), [10 * 60]),
    (29, ("~5m", "=10m", "~1m", "=10m", "-~3m"), [10 * 60]),
    (28, ("~1m", "=0m", "~1m", "-~1m"), [0, 21 * 60]),
    (28, ("~1m", "=0m"), [0, 21 * 60]),
    (29, ("~15m", "=24m", "~5m", "=29m", "-~5m"), [29 * 60]),  # review-15-s23 N1: 24
    (29, ("~1m", "=0m", "~1m", "=1m", "-~1m"), [60]),  # N1: the last set decides
    (29, ("~20m", "=0m", "~20m", "=0m", "=20m", "-~20m"), [20 * 60]),  # N2, decided
    (29, ("=0m", "~60m", "+20m", "=20m", "-60m"), [20 * 60]),  # s22b G3, decided
    (29, ("=0m", "~60m", "+20m", "=20m", "-60m", "=0m"), [0]),
    (29, ("=0m", "~60m", "+20m", "=20m", "-60m", "-~60m"), [0]),
])
def test_time_given_for_the_week_after_a_set_and_taken_back_leaves_the_set_as_it_was(
        target: str, day: int, words: tuple[str, ...], played: list[int]) -> None:
    """The official CI of s22 (the property below, Hypothesis): 20m a day, 45m a week,
    nothing played. On Sunday ``+1m --until week`` then ``=0m`` sets the week's minute
    aside (no later day can use it); ``+1m --until week`` said after the set is the
    day's to draw (the parent's last word), and ``-1m --until week`` said straight after
    it took back what a set set aside first (review-15-s17c F1) and left the day the new
    minute: Sunday played 1 for 0. A take-back of the week's time takes what was given
    for the week after the day's last set first (``DayRaises.week``), then what the set
    set aside, then the day's draw. On Saturday the minute set aside is Sunday's. A set
    that changes nothing is the day's last set too (review-15-s23 N1: ``=29m`` on a day of
    29, said after the week grant, was not, and the take-back took today's 5): the last
    set decides, also where a set and its set-back stand between the week grant and its
    take-back (N2, decided: the day keeps what the last set left it).

    review-15-s22b G3, decided: a set after a raise said after the week's time takes the
    raise back first and leaves the day the week's time it draws, which a take-back for
    today (``-1h``) does not take (its answer says what does: ``-1h --until week`` or a
    set, both leave nothing)."""
    e, entry = an_hour_a_week(target, 45)
    clock = FakeClock(local(day, 10))
    for word in words:
        seconds = int(word.lstrip("-~=+")[:-1]) * 60
        if word.startswith("-~"):
            e.grant("alex", target, seconds, clock.now, mode="take", week=True)
        else:
            e.grant("alex", target, seconds, clock.now, mode=CHANGES[word[0]],
                    week=word[0] == "~")  # type: ignore[arg-type]
    assert week_of_play(e, entry, day, 10) == pytest.approx(played)


@pytest.mark.parametrize("target", ["game", "games"])
@pytest.mark.parametrize(("wanted", "today"),
                         [(24, 24), (20, 20), (10, 10), (5, 5), (25, 25), (30, 25)])
def test_a_set_on_a_day_the_weeks_quota_cut_short_sets_aside_only_what_it_could_not_use(
        target: str, wanted: int, today: int) -> None:
    """review-15-s17d F2: 20m a day, 30m a week, Monday's 20 played. On Thursday
    ``+15m --until week`` leaves 25 minutes today (the week's quota has 10 left, the
    grant 15); ``=24m`` left 14 (answer: "weekly quota still allows only 14 minutes"):
    the set measured what it set aside for the other days against the day's nominal
    35 minutes, not the 25 the week let it use. What the set does not leave today is
    still the week's: Friday gets it."""
    e, entry = twenty_thirty(target)
    clock = FakeClock(local(23, 10))
    assert play(e, clock, entry, 3600, 1) == pytest.approx(1200)
    clock.set_wall(local(26, 10))
    e.due(clock.now)
    e.grant("alex", target, 900, clock.now, week=True)
    if target == "game":  # (a group's time left is not its entries' availability)
        assert e.availability("alex", entry, clock.now).remaining_today_s == 1500
    answer = e.grant("alex", target, wanted * 60, clock.now, mode="set")
    # nothing allows less than the set, up to the 25 the week allows: the answer says so
    assert [cap.usable_s for cap in answer.capped_by] == ([] if wanted <= 25 else [1500])
    if target == "game":
        assert e.availability("alex", entry, clock.now).remaining_today_s == today * 60
    assert play(e, clock, entry, 3 * 3600, 2) == pytest.approx(today * 60)
    # the week's 45 minutes (its quota's 30 and the grant's 15): Friday has the rest
    clock.set_wall(local(27, 10))
    e.due(clock.now)
    if today < 25:
        assert play(e, clock, entry, 3 * 3600, 3) == pytest.approx((25 - today) * 60)
    else:
        denied(e.launch("alex", entry, clock.now, 3))


def week_of_play(e: Engine, entry: str, first: int, session: int) -> list[float]:
    """What the child plays from ``first`` (a day of the week of 23 November) to Sunday,
    as long as the engine lets it."""
    played = []
    for day in range(first, 30):
        clock = FakeClock(local(day, 10))
        e.due(clock.now)
        result = e.launch("alex", entry, clock.now, session + day)
        if not isinstance(result, SessionStarted):
            played.append(0.0)
            continue
        deadline = e.deadline(session + day, clock.now)
        assert deadline is not None
        played.append(e.end_session(session + day, clock.advance(deadline.remaining_s),
                                    "expired").charged_s)
    return played


CHANGES = {"+": "add", "-": "take", "=": "set", "~": "add"}  # "~": ``--until week``


@pytest.mark.parametrize("target", ["game", "games"])
@pytest.mark.parametrize("changes", [("+18m", "+15m", "=30m", "=12m"),
                                     ("+20m", "=25m", "=10m"), ("=12m",)])
def test_sets_in_a_row_never_let_the_week_go_past_its_quota(
        target: str, changes: tuple[str, ...]) -> None:
    """review-15-s18b H1 (HIGH, in a fix of F3 that was then taken back): a set that kept
    time added for today as added, then a second set that lowered the day, left that
    added time counted beyond the weekly quota: 20m a day, 30m a week, Tuesday ``+18m``,
    ``+15m``, ``=30m``, ``=12m``, and the week played 40. Whatever the parent does on
    Tuesday, the week plays no more than its 30 minutes."""
    e, entry = twenty_thirty(target)
    clock = FakeClock(local(24, 10))
    for change in changes:
        e.grant("alex", target, int(change[1:-1]) * 60, clock.now,
                mode=CHANGES[change[0]])  # type: ignore[arg-type]
    played = week_of_play(e, entry, 24, 10)
    assert played[0] == pytest.approx(int(changes[-1][1:-1]) * 60)
    assert sum(played) <= 30 * 60 + 1e-6, played


@pytest.mark.parametrize("target", ["game", "games"])
@pytest.mark.parametrize(("before", "changes", "left"), [
    ((1200, 600), ("+20m", "=12m"), 12),  # F3: it left 0
    ((1200, 600), ("+20m", "=12m", "+5m"), 17),  # M1: these left 12
    ((1200, 600), ("+20m", "=12m", "=30m"), 30),
    ((1200, 600), ("+20m", "=12m", "=8m", "=15m"), 15),
    ((1200, 600), ("+20m", "=5m", "-1m", "=12m"), 12),
    ((1200,), ("+20m", "=12m", "+5m"), 17),
    ((1200,), ("+10m", "=15m", "=25m"), 25),
    ((1200,), ("+10m", "=10m", "+10m"), 20),
    ((1200, 600), ("+20m", "=12m", "-10m"), 2),  # and still no more than the parent left
    ((1200, 600), ("+20m", "=12m", "-12m"), 0),
    ((1200, 600), ("+20m", "-8m"), 12),  # a take-back lowers what the day counts
    ((1200, 600), ("+20m", "-28m"), 0),
])
def test_a_set_on_a_spent_week_takes_the_quota_minutes_it_could_not_use_first(
        target: str, before: tuple[int, ...], changes: tuple[str, ...], left: int) -> None:
    """review-15-s18 F3: 20m a day, 30m a week, spent by Monday's 20 and Tuesday's 10 (or
    Monday's 20 only). On Wednesday ``+20m`` leaves 20 minutes (the time added for
    today), and ``=12m`` left 0 ("its time for this week is used up"): it takes the
    quota minutes the week could not pay first, then the added time, and leaves 12.
    review-15-s18b M1: time added after such a cut, or a set that raises the day again,
    is time for the child (``+5m`` left 12, not 17). A take-back lowers the day's own
    time as the day counts it (the quota's minutes the week could not pay among them)."""
    e, entry = twenty_thirty(target)
    clock = FakeClock(local(23, 10))
    for day, seconds in enumerate(before):
        clock.set_wall(local(23 + day, 10))
        e.due(clock.now)
        assert play(e, clock, entry, 3600, day + 1) == pytest.approx(seconds)
    clock.set_wall(local(23 + len(before), 10))
    e.due(clock.now)
    for change in changes:
        e.grant("alex", target, int(change[1:-1]) * 60, clock.now,
                mode=CHANGES[change[0]])  # type: ignore[arg-type]
    assert e.availability("alex", entry, clock.now).time_left_s == pytest.approx(left * 60)
    if left:
        assert play(e, clock, entry, 3 * 3600, 9) == pytest.approx(left * 60)


@pytest.mark.parametrize(("before", "changes", "left", "week"), [
    ((), ("+18m", "+15m", "=30m", "=12m"), 12, 30),  # H1's shapes
    ((), ("+20m", "=25m", "=10m"), 10, 30),
    ((1200, 600), ("+20m", "=12m"), 12, 42),  # F3's
    ((1200, 600), ("+20m", "=12m", "+5m"), 17, 47),  # M1's
    ((1200, 600), ("+20m", "=5m", "-1m", "=12m"), 12, 42),
    ((), ("=0m", "=20m"), 20, 30),  # review-15-s19 N1 (i): the week paid none of the 20
    ((), ("-20m", "+20m"), 20, 30),
    ((), ("=5m", "=20m"), 20, 30),
    ((), ("-15m", "+15m"), 20, 30),
    ((1200,), ("=5m", "=20m"), 20, 40),  # (the set says 20 in all today: 10 past the week)
    ((1200,), ("+10m", "=15m", "-10m", "=20m"), 20, 40),
    ((1200,), ("-10m", "+10m"), 20, 40),  # N1 (ii): the take-back took no usable minute
    ((1200,), ("-1m", "+1m"), 11, 31),
    ((), ("~15m", "=20m", "=35m"), 35, 45),  # review-15-s19b N2: these played 60, 60, 55, 60
    ((), ("~15m", "=20m", "+15m"), 35, 60),  # (time added after a set is the day's own)
    ((), ("~15m", "=25m", "=35m"), 35, 45),
    ((), ("~15m", "=0m", "=35m"), 35, 45),
    ((), ("~15m", "=0m", "=20m"), 20, 45),  # review-15-s19c R1
    ((), ("~15m", "=20m", "+10m", "=25m", "=30m"), 30, 50),  # R4
    ((), ("~15m", "=40m", "=35m"), 35, 45),  # L1: as ``=35m``
    ((), ("~15m", "-20m", "=0m", "=15m"), 15, 45),  # review-15-s19d G1: as ``-20m``
    ((), ("~15m", "=20m", "+1m", "=35m"), 35, 46),  # review-15-s21 H2: as ``+1m``, ``=35m``
])
def test_changes_in_a_row_read_back_from_the_store_leave_the_week_as_the_live_engine(
        tmp_path: Path, before: tuple[int, ...], changes: tuple[str, ...], left: int,
        week: int) -> None:
    """review-15-s18b H1 across a restart: each change writes the added part it leaves
    with its row, and the store reads back the day's last (the most of them let a second
    set count the day's use as added time, past the weekly quota). An engine made from
    the books lets the rest of the week play what the live one does (``week`` minutes in
    all: the week's 30, and the day's 12 or 17 on a spent week); without the figure the
    day's own time splits by its net, which never gives more. review-15-s19 N1: time
    added after a cut gives back first what the cut took of the quota's part that the
    week could still pay (``=0m`` then ``=20m`` played 20, and 20 and 10 more on the next
    days: the raise was counted as added time); what the cut took that the week could
    not pay, time added after it gives to the child (``-1m`` then ``+1m`` with 10 of the
    week's minutes left: 11). review-15-s19b N2: what a set set aside of the week's time
    (``~``: ``--until week``) comes back to the day first (``+15m --until week``, ``=20m``,
    ``=35m`` played 60: the raise counted as added time, the 15 stayed the other days'),
    after what a cut took of the quota's part; time added for today (``+15m`` after that
    ``=20m``) is the day's own, and the 15 set aside stay the other days' (review-15-s19c
    R2: so that ``+5m`` then ``-5m`` change nothing)."""
    e, entry = twenty_thirty("game")
    clock = FakeClock(local(23, 10))
    for day, seconds in enumerate(before):
        clock.set_wall(local(23 + day, 10))
        e.due(clock.now)
        assert play(e, clock, entry, 3600, day + 1) == pytest.approx(seconds)
    today = 23 + len(before)
    clock.set_wall(local(today, 10))
    e.due(clock.now)
    store = Store.open(tmp_path / "shepherd.db", clock.wall)
    try:
        for change in changes:
            grant_through(store, e, clock, entry, int(change[1:-1]) * 60, CHANGES[change[0]],
                          week=change[0] == "~")
        books = store.load_accounting(local(23, 10).date())
    finally:
        store.close()
    again, unsplit = rebuilt(e, books), rebuilt(e, books, kept=False)
    lives = [week_of_play(one, entry, today, 10) for one in (e, again, unsplit)]
    assert lives[0][0] == pytest.approx(left * 60)
    assert sum(before) + sum(lives[0]) == pytest.approx(week * 60)
    assert lives[1] == pytest.approx(lives[0])
    assert sum(lives[2]) <= sum(lives[0]) + 1e-6


def test_a_grant_asked_about_first_changes_nothing() -> None:
    """A preview (a question asked before a grant: ``preview_grant``) puts back all it
    changed, the added part of the day's own time too: Monday's 20 played, on Tuesday
    ``+10m`` and ``=10m`` leave the week's last 10 minutes; asking what ``+10m`` would
    do left that figure behind, Tuesday's 10 counted as added time and Wednesday had the
    week's 10 again."""
    e, entry = twenty_thirty("game")
    clock = FakeClock(local(23, 10))
    assert play(e, clock, entry, 3600, 1) == pytest.approx(1200)
    clock.set_wall(local(24, 10))
    e.due(clock.now)
    e.grant("alex", entry, 10 * 60, clock.now)
    e.grant("alex", entry, 10 * 60, clock.now, mode="set")
    asked = e.preview_grant("alex", entry, 10 * 60, clock.now)
    assert asked.allowance_s is not None
    assert week_of_play(e, entry, 24, 10) == pytest.approx([600, 0, 0, 0, 0, 0])


@settings(max_examples=60, deadline=None)
@given(monday=st.integers(0, 10), added=st.integers(0, 20), take=st.booleans(),
       cut=st.integers(1, 40), target=st.sampled_from(["game", "games"]),
       week=st.sampled_from([0, 0, 15]))
def test_a_cut_and_a_raise_back_before_any_play_leave_the_week_as_it_was(
        monday: int, added: int, take: bool, cut: int, target: str, week: int) -> None:
    """review-15-s19 N1 and its L1 (the week ledger takes the engine's rule, so it cannot
    catch it): 20m a day, 30m a week, Monday ``monday`` minutes played (the week leaves
    Tuesday at least its quota: every quota minute it cuts the week could pay), Tuesday
    ``+added``, then a take-back of ``cut`` minutes or a set ``cut`` minutes lower, and
    the parent gives back what it took (``+`` what was taken, or ``=`` the total before):
    the week plays what it plays without the cut and the raise; also beside ``week``
    minutes given ``--until week`` on Tuesday (review-15-s19b N2 and T1: a set that set
    them aside, then a raise back, played them twice)."""
    played = []
    for detour in (False, True):
        e, entry = twenty_thirty(target)
        clock = FakeClock(local(23, 10))
        if monday:
            assert play(e, clock, entry, monday * 60, 1) == pytest.approx(monday * 60)
        clock.set_wall(local(24, 10))
        e.due(clock.now)
        if week:
            e.grant("alex", target, week * 60, clock.now, week=True)
        if added:
            e.grant("alex", target, added * 60, clock.now)
        if detour:
            total = (20 + added + week) * 60
            if take:
                taken = -e.grant("alex", target, cut * 60, clock.now, mode="take").seconds
                if taken:
                    e.grant("alex", target, taken, clock.now)
            else:
                e.grant("alex", target, max(total - cut * 60, 0), clock.now, mode="set")
                e.grant("alex", target, total, clock.now, mode="set")
        played.append(week_of_play(e, entry, 24, 10))
    assert played[1] == pytest.approx(played[0])


@pytest.mark.parametrize("target", ["game", "games"])
def test_time_added_after_a_set_that_set_the_weeks_time_aside_says_what_the_day_has(
        target: str) -> None:
    """review-15-s19b W1: 20m a day, 30m a week, Tuesday ``+15m --until week`` (35m in
    all), ``=10m`` (15 of it set aside for the other days), then ``+3m`` said "0s in all
    today" with 13 minutes left: the day's own time left out what the set set aside."""
    e, entry = twenty_thirty(target)
    clock = FakeClock(local(24, 10))
    e.grant("alex", target, 15 * 60, clock.now, week=True)
    e.grant("alex", target, 10 * 60, clock.now, mode="set")
    answer = e.grant("alex", target, 3 * 60, clock.now)
    assert answer.allowance_s == 13 * 60
    assert e.availability("alex", entry, clock.now).time_left_s == pytest.approx(13 * 60)


def test_a_second_grant_for_the_week_says_what_the_day_has_in_all() -> None:
    """review-15-s19b W3: ``+10m --until week`` then ``+3m --until week`` on a 20m day
    said "23m in all today" with 33 minutes left: the day's figure left out the week's
    time given before."""
    e, entry = twenty_thirty("game")
    clock = FakeClock(local(24, 10))
    assert e.grant("alex", "game", 600, clock.now, week=True).allowance_s == 30 * 60
    assert e.grant("alex", "game", 180, clock.now, week=True).allowance_s == 33 * 60
    assert e.availability("alex", entry, clock.now).time_left_s == pytest.approx(33 * 60)


WEEK_OF_AN_HOUR = ('[[entries]]\nid = "game"\ncommand = ["game"]\n'
                   'limits = { daily_quota = "20m", weekly_quota = "1h" }\n')


@pytest.mark.parametrize(("changes", "sunday"), [
    (("~15m", "=20m"), 35),  # the reference: the 15 set aside are Sunday's
    pytest.param(("~15m", "=0m", "=20m"), 35, marks=pytest.mark.xfail(
        strict=True, reason="review-15-s19c R1, decided: the raise gives back the week's 15 "
        "before the quota minutes (it keeps time back; each way tried to give the quota's "
        "part back first gave time: G1, the cut layers' H2 and N1, s22's set_cut)")),
    (("~15m", "-20m", "=0m", "=15m"), 20),  # G1: the quota's part first played 50 for 35
    (("~15m", "=20m", "+5m", "-5m"), 35),  # R2: the add gave back 5 of them: 30
    (("~15m", "+5m", "-5m"), 20),  # (Saturday drew the week's 15: none left for Sunday)
])
def test_a_raise_gives_back_the_quota_minutes_before_the_weeks_time_and_an_add_neither(
        changes: tuple[str, ...], sunday: int) -> None:
    """review-15-s19c R1 and R2, review-15-s19d G1: 20m a day, an hour a week, nothing
    played until Saturday. R1 (open, xfail): a set's raise gives back what a set set
    aside of the week's grants before the quota minutes a cut took, so Saturday spends
    the week's 15 where its quota could pay and Sunday, held at its 20, loses them; the
    other order (91bc87d) gave time where a take-back had taken the quota minutes and the
    set only the week's (G1: ``-20m``, ``=0m``, ``=15m`` played 50 for 35). R2: time
    added for today is the day's own, and ``-5m`` after ``+5m`` leaves the day as it
    was."""
    e = engine(WEEK_OF_AN_HOUR)
    clock = FakeClock(local(28, 10))
    for change in changes:
        e.grant("alex", "game", int(change[1:-1]) * 60, clock.now, mode=CHANGES[change[0]],
                week=change[0] == "~")  # type: ignore[arg-type]
    played = week_of_play(e, "game", 28, 10)
    saturday = 15 if "=15m" in changes else 20 if "=20m" in changes else 35
    assert played == pytest.approx([saturday * 60, sunday * 60])


def an_hour_a_week(target: str, weekly: int = 60) -> tuple[Engine, str]:
    """20m a day, ``weekly`` minutes a week: the entry "game" (``target`` "game") or the
    group "games" of "a" and "b"; the engine and the entry the child plays."""
    if target == "game":
        return engine(WEEK_OF_AN_HOUR.replace('"1h"', f'"{weekly}m"')), "game"
    return engine(two_in_a_group('daily_quota = "20m"', f'weekly_quota = "{weekly}m"')), "a"


@pytest.mark.parametrize("target", ["game", "games"])
@pytest.mark.parametrize(("changes", "saturday", "sunday"), [
    (("~15m", "=20m"), 20, 35),
    (("~15m", "=20m", "=35m", "=20m"), 20, 35),
    (("~15m", "=0m", "=35m"), 35, 20),
    (("~15m", "=0m", "=20m"), 20, 20),  # R1, decided: keeps 15 back (as ``=20m``: 35)
    (("~15m", "=20m", "=35m", "-15m"), 20, 20),  # R3, decided: keeps 15 back
    (("~15m", "=20m", "=35m", "-15m", "+15m"), 35, 20),
    (("~15m", "=20m", "+10m"), 30, 35),
    (("~15m", "=20m", "+10m", "=25m", "=30m"), 30, 30),  # R4, decided: keeps 5 back
    (("~15m", "=20m", "+10m", "=20m", "=30m"), 30, 25),  # as ``=20m``, ``=30m``
    (("~15m", "=20m", "+10m", "=15m", "=30m"), 30, 20),  # as ``=20m``, ``=15m``, ``=30m``
    (("~15m", "=20m", "+1m", "=35m"), 35, 21),  # review-15-s21 H2 (the cut layers): 35, 35
    (("~15m", "=35m"), 35, 20),
    (("~15m", "=40m", "=35m"), 35, 20),  # L1: 35 and 25
    (("+15m", "~20m", "=25m", "=35m"), 35, 30),  # review-15-s21 H1c's words: 35 and 40
    (("~15m", "-20m", "=0m", "=15m"), 15, 20),  # G1: 15 and 35
    (("+10m", "-10m", "~15m", "=20m"), 20, 35),  # review-15-s22 F3: 20 and 25
    (("=0m", "=20m", "~40m", "=20m", "-40m"), 0, 60),  # review-15-s22 F6: 20 and 40
    (("-20m", "+20m", "~40m", "=20m", "-40m"), 0, 60),  # F6: 20 and 40
    (("-5m", "+5m", "~35m", "=25m", "-40m"), 5, 50),  # F6: 10 and 45
    (("=0m", "+20m", "~40m", "=20m", "-40m"), 0, 60),  # review-15-s22b G1: 20 and 40
    (("-20m", "+5m", "+15m", "~40m", "=20m", "-40m"), 0, 60),  # G1: 15 and 45
    (("-20m", "=20m", "~40m", "=20m", "-40m"), 0, 60),  # G1: 20 and 40
])
def test_a_change_back_undoes_what_the_change_it_follows_did(
        target: str, changes: tuple[str, ...], saturday: int, sunday: int) -> None:
    """review-15-s19d L1 (fixed) and G1, review-15-s21 H2 and H1c (on the cut layers,
    taken out), and what was decided of review-15-s19c R1, s19d R3 and R4: 20m a day, an
    hour a week, nothing played until Saturday, so the week's quota leaves Saturday and
    Sunday their 20 each and only the week's 15 (``~15m``: ``+15m --until week``) lets a
    day go past it. Worked by hand (a set lowers the day by the time added for today not
    used yet first, then by setting the week's time aside, then by the quota's part; a
    set raises it by giving back what a set set aside first, then by adding):

    - L1: ``=40m`` adds 5 of the day's own on top of Saturday's 35; ``=35m`` takes back
      those 5 first, not 5 of the week's: 35 and 20, as ``=35m`` alone (it set 5 of the
      week's aside: Sunday 25, 5 more than the parent's words gave).
    - H1c's words: ``+15m`` and ``~20m`` (55 and 20); the week's time came after the add,
      so ``=25m`` sets its 20 aside first, then takes 10 of the day's own (25 and 40);
      ``=35m`` gives back 10 of the aside: 35 and 30.
    - H2: ``=20m`` sets the 15 aside, ``+1m`` is the day's own; ``=35m`` gives back 14
      of the aside: 35 and 21 (the cut layers added 14 of their own: 35 and 35).
    - G1: ``-20m`` is a take-back (the day's own), ``=0m`` sets the 15 aside, and
      ``=15m`` gives back only those: 15 and 20, as ``-20m`` alone.
    - review-15-s22 F3 and F6: a word and its inverse said first leave nothing for a set
      to take back as a raise's: ``-20m`` then ``+20m`` (time added fills what the
      take-back took first), ``=0m`` then ``=20m`` (a set's raise fills what a set cut),
      ``+10m`` then ``-10m`` (a take-back takes what raises gave first). So a set after
      them sets the week's time aside, and ``-40m`` takes the day's own: 0 and 60 (with
      the first figure of what raises gave, the set took the quota's part "back" and left
      the day the week's time, which no take-back takes: 20 and 40); ``-5m``, ``+5m``,
      ``~35m``, ``=25m``, ``-40m``: 5 and 50, as without the first two.
    - review-15-s22b G1: the same with the give-back said another way (``=0m`` then
      ``+20m``, ``-20m`` then ``+5m`` and ``+15m``, ``-20m`` then ``=20m``): time given
      for the week after them makes the raises before it the day's own, so a set after it
      sets the week's time aside first.
    - R4: ``+10m`` leaves the 15 aside (R2): 30 and 35. ``=20m`` then takes back all it
      gave and ``=30m`` gives back 10 of the aside: 30 and 25, as ``=20m``, ``=30m``;
      ``=15m`` takes the 10 and 5 of the quota, and ``=30m`` gives back the 15 of the
      week's: 30 and 20, as ``=20m``, ``=15m``, ``=30m``.
    - Decided (R1, R3, R4's ``=25m``, ``=30m``): a raise after a cut that took the day's
      own after the week's time was set aside gives back the week's time first, so the
      day spends it where the quota's part would have paid, and the rest of the week has
      less than the parent's words would leave it: time kept back, never time given.
      Giving the day's own back first needs to know which cut took what, and every way
      tried gave time in some other order of words (review-15-s19d G1, review-15-s21 H2,
      review-15-h2 N1, docs/dev-notes/s22's ``set_cut``).
    """
    e, entry = an_hour_a_week(target)
    clock = FakeClock(local(28, 10))
    for change in changes:
        e.grant("alex", target, int(change[1:-1]) * 60, clock.now, mode=CHANGES[change[0]],
                week=change[0] == "~")  # type: ignore[arg-type]
    assert week_of_play(e, entry, 28, 10) == pytest.approx([saturday * 60, sunday * 60])


def day_figure(e: Engine, target: str, now: Instant) -> int:
    """The day's whole allowance as a set reads it (its own time and the week's time it
    may draw), what ``=D`` back to it asks for."""
    limits = e.limits_of(target)
    assert limits is not None
    standing, _ = e._standing("alex", limits, e.quota_day(now), now)
    assert standing is not None
    return round(standing.allowance_s)


WORDS = st.lists(st.tuples(st.sampled_from(["+", "-", "=", "~"]), st.integers(0, 40)),
                 min_size=1, max_size=6)


def said(e: Engine, target: str, now: Instant, word: str, minutes: int
         ) -> tuple[str, int] | None:
    """Say ``word`` (``+``, ``-``, ``=``, ``~``: ``--until week``) of ``minutes`` on the
    day of ``now``; what says it back (None: it changed nothing)."""
    if word == "=":
        before = day_figure(e, target, now)
        e.grant("alex", target, minutes * 60, now, mode="set")
        return ("=", before)
    if minutes == 0:
        return None
    if word == "-":
        taken = -e.grant("alex", target, minutes * 60, now, mode="take").seconds
        return ("+", taken) if taken else None
    e.grant("alex", target, minutes * 60, now, week=word == "~")
    return ("-", minutes * 60) if word == "+" else ("-~", minutes * 60)


def say_back(e: Engine, target: str, now: Instant, back: tuple[str, int]) -> None:
    word, seconds = back
    if word == "=":
        e.grant("alex", target, seconds, now, mode="set")
    elif word == "+":
        e.grant("alex", target, seconds, now)
    else:
        e.grant("alex", target, seconds, now, mode="take", week=word == "-~")


@settings(max_examples=120, deadline=None)
@given(words=WORDS, weekly=st.sampled_from([45, 60, 180]), day=st.sampled_from([27, 28, 29]),
       target=st.sampled_from(["game", "games"]), by_set=st.booleans())
def test_words_said_back_in_reverse_leave_the_day_and_the_week_as_they_were(
        words: list[tuple[str, int]], weekly: int, day: int, target: str,
        by_set: bool) -> None:
    """20m a day, a week of ``weekly`` minutes that leaves the day at least its quota
    (nothing played before Friday or Saturday: every quota minute a cut takes the week
    could pay, so nothing of the "never give" rule's kind is at stake), any words of the
    day (time added, take-backs, sets, time given for the week), then each said back,
    the last first (``+X`` by ``-X``, ``-X`` by what it took, ``=D`` by ``=`` the figure
    before it, ``+X --until week`` by ``-X --until week``), or one set back to the
    figure before the first (``by_set``, without week grants): the day and the rest of
    the week play what they play without any of it (a set that lowers the day takes
    back what its raises gave first, ``Engine.raises``: before it, ``-1m``,
    ``+1m --until week``, ``=21m`` said back gave a minute). Time given for the week is
    said first (one said after the day's raises and taken back is open: below)."""
    if by_set:
        words = [(w, m) for w, m in words if w != "~"] or [("=", 5)]
    words = [x for x in words if x[0] == "~"] + [x for x in words if x[0] != "~"]
    played = []
    for detour in (False, True):
        e, entry = an_hour_a_week(target, weekly)
        clock = FakeClock(local(day, 10))
        if detour:
            first = day_figure(e, target, clock.now)
            backs = [said(e, target, clock.now, w, m) for w, m in words]
            if by_set:
                e.grant("alex", target, first, clock.now, mode="set")
            else:
                for back in reversed(backs):
                    if back is not None:
                        say_back(e, target, clock.now, back)
        played.append(week_of_play(e, entry, day, 10))
    assert played[1] == pytest.approx(played[0])


def test_time_given_for_the_week_after_a_raise_and_taken_back_leaves_the_raise_a_raise(
        ) -> None:
    """``-18m``, ``+1m --until week``, ``=4m`` (a raise of a minute), ``+1m --until week``,
    said back in reverse (``-1m --until week``, ``=3m``, ...): the second week grant ended
    the raise's count, and its take-back did not restore it, so ``=3m`` set the week's
    minute aside instead of taking the raise's back: Friday played a minute more (open
    since s22, review-15-s22b G1). The raises a week grant ends the count of are kept
    (``DayRaises.under``) and are raises again as its time is taken back (s24)."""
    words = [("-", 18), ("~", 1), ("=", 4), ("~", 1)]
    played = []
    for detour in (False, True):
        e, entry = an_hour_a_week("game", 45)
        clock = FakeClock(local(27, 10))
        if detour:
            backs = [said(e, "game", clock.now, w, m) for w, m in words]
            for back in reversed(backs):
                if back is not None:
                    say_back(e, "game", clock.now, back)
        played.append(week_of_play(e, entry, 27, 10))
    assert played[1] == pytest.approx(played[0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(words=st.lists(st.tuples(st.sampled_from(["+", "-", "=", "~", "-~"]),
                                st.integers(0, 40)), min_size=1, max_size=6),
       weekly=st.sampled_from([30, 45, 60]), day=st.sampled_from([24, 27, 28]),
       target=st.sampled_from(["game", "games"]), before=st.integers(0, 25),
       midway=st.integers(0, 6))
def test_words_read_back_from_the_store_leave_the_week_as_the_live_engine(
        words: list[tuple[str, int]], weekly: int, day: int, target: str, before: int,
        midway: int) -> None:
    """Any words of a day (as above, and ``-X --until week``; the days before it played
    ``before`` minutes on Monday, a few minutes played ``midway`` through the words),
    each written to a real store as the daemon writes it: an engine made from what the
    store reads back (the day's last row's figures among it) lets the rest of the week
    play what the live one does."""
    e, entry = an_hour_a_week(target, weekly)
    if before:
        clock = FakeClock(local(23, 10))
        play(e, clock, entry, before * 60, 1)
    clock = FakeClock(local(day, 10))
    e.due(clock.now)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "shepherd.db", clock.wall)
        try:
            for i, (word, minutes) in enumerate(words):
                if i == midway and isinstance(e.launch("alex", entry, clock.now, 2),
                                              SessionStarted):
                    deadline = e.deadline(2, clock.now)
                    assert deadline is not None
                    e.end_session(2, clock.advance(min(180.0, deadline.remaining_s)),
                                  "exited")
                if word != "=" and minutes == 0:
                    continue
                grant_through(store, e, clock, target, minutes * 60,
                              "take" if word[0] == "-" else CHANGES[word],
                              week=word[-1] == "~")
            books = store.load_accounting(local(23, 10).date())
        finally:
            store.close()
    again = rebuilt(e, books)
    # the day's figures as the live engine has them (what later words would take)
    assert again.raises == e.raises
    assert week_of_play(again, entry, day, 10) == pytest.approx(week_of_play(e, entry, day, 10))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(words=st.lists(st.tuples(st.sampled_from(["+", "-", "=", "~", "p"]),
                                st.integers(0, 35)), max_size=6),
       pair=st.tuples(st.sampled_from(["+", "-", "=", "~"]), st.integers(1, 35)),
       weekly=st.sampled_from([45, 60, 120]), day=st.sampled_from([24, 26, 28, 29]),
       target=st.sampled_from(["game", "games"]))
def test_a_word_and_its_inverse_after_any_words_never_give_the_week_time(
        words: list[tuple[str, int]], pair: tuple[str, int], weekly: int, day: int,
        target: str) -> None:
    """review-15-s19d G1's kind (T2: any day, any words and plays before, each day held by
    its 20m quota): a word and its inverse said straight after it (``-X`` then ``+`` what
    it took, ``=D`` then ``=`` the figure before, ``+X`` then ``-X``) never let the week
    play more than it plays without them (less is possible: a set's raise gives back
    what a set set aside before what a cut took, R1's decision; or play between the
    words). Before ``Engine.raises``, ``-2m``, ``+1m --until week``, then ``=20m`` and
    ``=19m`` back gave the week a minute: the set back down set the week's minute aside
    where the raise had filled the quota's part."""
    played = []
    for detour in (False, True):
        e, entry = an_hour_a_week(target, weekly)
        clock = FakeClock(local(day, 10))
        for i, (word, minutes) in enumerate(words):
            if word != "p":
                said(e, target, clock.now, word, minutes)
            elif isinstance(e.launch("alex", entry, clock.now, 50 + i), SessionStarted):
                deadline = e.deadline(50 + i, clock.now)
                assert deadline is not None
                e.end_session(50 + i, clock.advance(min(minutes * 30.0 + 1,
                                                        deadline.remaining_s)), "exited")
        if detour:
            back = said(e, target, clock.now, *pair)
            if back is not None:
                say_back(e, target, clock.now, back)
        played.append(week_of_play(e, entry, day, 10))
    assert sum(played[1]) <= sum(played[0]) + 1e-3, played
