"""A reload that moves ``day_starts_at`` never gives time (issue 9, review-9-s11 M1).

The day of an instant never goes back as time goes on (calendar.py): a new boundary
takes effect from the end of the quota day in progress. Moved later, the day in
progress lasts until the new boundary after its old end (longer: fail closed); moved
earlier, it ends when it was going to and the first day under the new rules starts
there (shorter, as a clock change makes one). The use already recorded stays on the
day it was spent in, and a restart over the same books keeps the switch.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shepherd.engine import Engine, LaunchDenied, QuotaCalendar, QuotaExhausted, SessionStarted
from shepherd.explain.when import grant_until
from tests.engine.conftest import PARIS, USERS, FakeClock, local, policy

# Days start at 04:00 (conftest). 2026-11-25 is a Wednesday, 2026-11-30 a Monday.
DAILY = '[[entries]]\nid = "game"\ncommand = ["game"]\nlimits = { daily_quota = "1h" }\n'
TWO_HOURS = DAILY.replace('"1h"', '"2h"')
WEEKLY = '[[entries]]\nid = "game"\ncommand = ["game"]\nlimits = { weekly_quota = "2h" }\n'


def users_at(day_starts_at: str) -> str:
    return USERS.replace('day_starts_at = "04:00"', f'day_starts_at = "{day_starts_at}"')


def reload(e: Engine, entries: str, day_starts_at: str, clock: FakeClock) -> None:
    e.set_policy(policy(entries, users_at(day_starts_at)), clock.now)


def play(e: Engine, clock: FakeClock, seconds: float, session: int) -> float:
    started = e.launch("alex", "game", clock.now, session)
    assert isinstance(started, SessionStarted), started
    return e.end_session(session, clock.advance(seconds), "exited").charged_s


def resets_at(e: Engine, clock: FakeClock) -> datetime | None:
    """When the refusal at ``clock`` says the quota comes back; None: allowed."""
    seen = e.availability("alex", "game", clock.now)
    if seen.allowed:
        return None
    (reason,) = seen.reasons
    assert isinstance(reason, QuotaExhausted), reason
    return reason.resets_at


LATER = [  # (reload at, new day_starts_at, instants refused, when it comes back)
    (local(25, 21, 30), "22:00",
     [local(25, 21, 30), local(25, 23), local(26, 3, 59), local(26, 4), local(26, 21, 59)],
     local(26, 22)),
    (local(25, 23), "22:00", [local(26, 3, 59), local(26, 12)], local(26, 22)),
    (local(26, 2), "22:00", [local(26, 2), local(26, 4), local(26, 21, 59)], local(26, 22)),
    (local(25, 21, 30), "05:00", [local(26, 4), local(26, 4, 59)], local(26, 5)),
]
EARLIER = [
    (local(25, 21, 30), "02:00", [local(25, 21, 30), local(26, 2), local(26, 3, 59)],
     local(26, 4)),
    (local(26, 3), "02:00", [local(26, 3), local(26, 3, 59)], local(26, 4)),
    (local(25, 21, 30), "00:00", [local(26, 0), local(26, 3, 59)], local(26, 4)),
]


@pytest.mark.parametrize(("at", "starts", "refused", "back"), LATER + EARLIER)
def test_a_spent_day_stays_spent_until_it_ends_whatever_the_reload_moves(
        at: datetime, starts: str, refused: list[datetime], back: datetime) -> None:
    e = Engine(policy(DAILY), PARIS)
    clock = FakeClock(local(25, 20))
    assert play(e, clock, 3600, 1) == 3600  # 20:00-21:00 on Wednesday: the day is spent
    clock.set_wall(at)
    reload(e, DAILY, starts, clock)
    for wall in refused:
        clock.set_wall(wall)
        assert resets_at(e, clock) == back, wall
        assert isinstance(e.launch("alex", "game", clock.now, 9), LaunchDenied)
    clock.set_wall(back - timedelta(seconds=1))
    assert resets_at(e, clock) == back
    clock.set_wall(back)
    assert resets_at(e, clock) is None  # a new day, with its own hour
    assert play(e, clock, 7200, 2) == 3600
    # No used time forgotten: Wednesday keeps its hour, the new day has its own.
    assert e.used("alex", ("game",), date(2026, 11, 25), None) == 3600
    assert sum(e.usage.values()) == 7200


def test_after_the_switch_the_new_boundary_holds_every_day() -> None:
    e = Engine(policy(DAILY), PARIS)
    clock = FakeClock(local(25, 20))
    play(e, clock, 3600, 1)
    clock.set_wall(local(25, 21, 30))
    reload(e, DAILY, "02:00", clock)
    clock.set_wall(local(26, 10))  # the first day under the new rules: 04:00 to 02:00
    assert play(e, clock, 3600, 2) == 3600
    clock.set_wall(local(27, 1, 59))
    assert resets_at(e, clock) == local(27, 2)
    clock.set_wall(local(27, 2))
    assert resets_at(e, clock) is None
    assert e.quota_day(clock.now) == date(2026, 11, 27)


@pytest.mark.parametrize("starts", ["02:00", "22:00"])
def test_a_session_running_over_the_old_boundary_spends_the_day_in_progress(
        starts: str) -> None:
    e = Engine(policy(TWO_HOURS), PARIS)
    clock = FakeClock(local(26, 0))
    assert play(e, clock, 3600, 1) == 3600  # Wednesday's day (until 04:00): 1 h of 2 h
    clock.advance(60)
    reload(e, TWO_HOURS, starts, clock)
    clock.set_wall(local(26, 1, 30))
    started = e.launch("alex", "game", clock.now, 2)
    assert isinstance(started, SessionStarted), started
    deadline = e.deadline(2, clock.now)
    assert deadline is not None and deadline.remaining_s == pytest.approx(3600)
    assert e.end_session(2, clock.advance(7200), "exited").charged_s == pytest.approx(3600)
    assert e.usage == {("alex", "game", date(2026, 11, 25)): pytest.approx(7200)}


@pytest.mark.parametrize(("spent_at", "at", "starts", "refused", "back"), [
    # Moved earlier over the week's end: the week ends when it was going to.
    (local(29, 20), local(29, 23), "02:00", [local(30, 2), local(30, 3, 59)], local(30, 4)),
    # Moved later on the week's first day: that day (and week) goes on to the new one.
    (local(30, 5), local(30, 8), "22:00", [local(30, 8), local(30, 23), local(1, 21, 59, 12)],
     local(7, 22, 0, 12)),
])
def test_a_spent_week_stays_spent_until_it_ends(
        spent_at: datetime, at: datetime, starts: str, refused: list[datetime],
        back: datetime) -> None:
    e = Engine(policy(WEEKLY), PARIS)
    clock = FakeClock(spent_at)
    assert play(e, clock, 7200, 1) == 7200
    clock.set_wall(at)
    reload(e, WEEKLY, starts, clock)
    for wall in refused:
        clock.set_wall(wall)
        assert resets_at(e, clock) == back, wall
    clock.set_wall(back)
    assert resets_at(e, clock) is None


def test_a_move_undone_before_it_took_effect_leaves_the_days_as_they_were() -> None:
    e = Engine(policy(DAILY), PARIS)
    clock = FakeClock(local(25, 20))
    play(e, clock, 3600, 1)
    before = e.calendar
    clock.advance(600)
    reload(e, DAILY, "22:00", clock)
    clock.advance(600)
    reload(e, DAILY, "04:00", clock)
    assert e.calendar == before
    clock.set_wall(local(26, 4))
    assert resets_at(e, clock) is None


def test_a_move_back_during_the_longer_day_does_not_cut_it() -> None:
    e = Engine(policy(DAILY), PARIS)
    clock = FakeClock(local(25, 20))
    play(e, clock, 3600, 1)
    clock.advance(600)
    reload(e, DAILY, "22:00", clock)
    clock.set_wall(local(26, 10))  # Wednesday's day goes on until 22:00 now
    reload(e, DAILY, "04:00", clock)
    assert resets_at(e, clock) == local(26, 22)
    clock.set_wall(local(26, 22))
    assert resets_at(e, clock) is None
    assert e.quota_day(clock.now) == date(2026, 11, 26)  # 22:00 to 04:00: a short day
    clock.set_wall(local(27, 4))
    assert e.quota_day(clock.now) == date(2026, 11, 27)


def test_an_engine_rebuilt_from_the_stored_calendar_keeps_the_switch() -> None:
    e = Engine(policy(DAILY), PARIS)
    clock = FakeClock(local(25, 20))
    play(e, clock, 3600, 1)
    clock.advance(600)
    reload(e, DAILY, "22:00", clock)
    stored = e.calendar.to_json()
    # A restart over the same books, with the new policy: the same answers.
    again = Engine(policy(DAILY, users_at("22:00")), PARIS, usage=e.usage)
    again.resume_calendar(QuotaCalendar.from_json(stored, PARIS), clock.now)
    for wall in (local(25, 21, 30), local(26, 4), local(26, 21, 59), local(26, 22)):
        clock.set_wall(wall)
        assert resets_at(again, clock) == resets_at(e, clock), wall
    # With no calendar stored (an older store), the policy's, as before.
    fresh = Engine(policy(DAILY, users_at("22:00")), PARIS, usage=e.usage)
    assert fresh.calendar.before == ()


def test_a_policy_changed_while_the_daemon_was_down_counts_as_a_reload() -> None:
    e = Engine(policy(DAILY), PARIS)
    clock = FakeClock(local(25, 20))
    play(e, clock, 3600, 1)
    stored = e.calendar.to_json()  # what the store kept: 04:00, no switch
    clock.set_wall(local(25, 21, 30))
    again = Engine(policy(DAILY, users_at("22:00")), PARIS, usage=e.usage)
    assert again.resume_calendar(QuotaCalendar.from_json(stored, PARIS), clock.now) \
        == local(26, 22)
    assert resets_at(again, clock) == local(26, 22)


# -- the calendar itself ------------------------------------------------------------

START = local(20, 0, month=10)  # the clocks go back on Sunday 25 October


@settings(max_examples=60, deadline=None)  # ~3 s at nice 19 on a loaded machine
@given(st.lists(st.tuples(st.integers(0, 14 * 24 * 60), st.integers(0, 23 * 60 + 59)),
                min_size=1, max_size=4),
       st.lists(st.integers(0, 16 * 24 * 60), min_size=2, max_size=15))
def test_moves_keep_days_in_order_without_gap_or_overlap(
        moves: list[tuple[int, int]], probes: list[int]) -> None:
    """After any moves, at any instants: the day of an instant never goes back, each
    instant lies in its day, days meet end to start, and no move changes the day of an
    instant at or before it, nor the end of the day in progress to an earlier one."""
    cal = QuotaCalendar(PARIS, 240)
    for offset, minutes in sorted(moves):
        wall = START + timedelta(minutes=offset)
        day = cal.quota_day(wall)
        end = cal.day_end(day)
        past = [wall - timedelta(minutes=m) for m in (0, 1, 90, 1500, 3000)]
        then = [cal.quota_day(w) for w in past]
        before = cal.before
        cal = cal.moved(minutes, wall)
        assert [cal.quota_day(w) for w in past] == then
        if cal.before == before or (before and before[-1].until > wall):
            pass  # unchanged, or a move not yet in effect undone: it may end sooner
        else:
            assert cal.day_end(day) >= end
        again = QuotaCalendar.from_json(cal.to_json(), PARIS)
        assert again == cal
    walls = sorted(START + timedelta(minutes=m) for m in probes)
    days = [cal.quota_day(w) for w in walls]
    assert days == sorted(days)
    for wall, day in zip(walls, days, strict=True):
        assert cal.day_start(day) <= wall < cal.day_end(day)
        assert cal.day_end(day) == cal.day_start(day + timedelta(days=1))
        parts = cal.split(wall, 3 * 86400.0)
        assert sum(s for _, s in parts) == pytest.approx(3 * 86400.0)
        assert all(s > 0 for _, s in parts)
        assert [d for d, _ in parts] == sorted({d for d, _ in parts})


@pytest.mark.parametrize("starts", ["02:00", "22:00"])
def test_time_given_for_today_before_a_move_ends_where_the_day_was_going_to_end(
        starts: str) -> None:
    e = Engine(policy(DAILY), PARIS)
    clock = FakeClock(local(25, 20))
    play(e, clock, 3600, 1)
    e.grant("alex", "game", 1800, clock.advance(60))
    clock.advance(60)
    reload(e, DAILY, starts, clock)
    clock.set_wall(local(26, 3))
    assert resets_at(e, clock) is None  # the half hour given is there until 04:00
    assert play(e, clock, 3600, 2) == 1800
    clock.set_wall(local(26, 3, 59))
    assert resets_at(e, clock) == (local(26, 4) if starts == "02:00" else local(26, 22))
    clock.set_wall(local(26, 4))
    e.due(clock.now)
    assert e.used("alex", ("game",), date(2026, 11, 25), None) == 5400
    assert (resets_at(e, clock) is None) == (starts == "02:00")


def test_until_a_time_on_the_longer_day_is_its_next_such_moment() -> None:
    e = Engine(policy(DAILY), PARIS)
    clock = FakeClock(local(25, 20))
    reload(e, DAILY, "22:00", clock)  # Wednesday's day lasts until Thursday 22:00
    assert grant_until("17:00", e.calendar, local(25, 21)) == (local(26, 17), False)
    assert grant_until("17:00", e.calendar, local(26, 10)) == (local(26, 17), False)
    assert grant_until("23:00", e.calendar, local(26, 10)) == (local(25, 23), False)
    assert grant_until("22:00", e.calendar, local(26, 10)) == (None, False)  # its end


ZONES = [PARIS, ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe")]
ops = st.lists(st.tuples(st.sampled_from(["play", "wait", "reload", "reload"]),
                         st.integers(0, 23 * 60 + 59), st.integers(1, 30 * 3600)),
               min_size=1, max_size=25)


@settings(max_examples=40, deadline=None)  # ~3 s at nice 19 on a loaded machine
@given(st.sampled_from(ZONES), st.integers(0, 300 * 24), ops)
def test_reloads_never_move_a_day_already_seen_nor_give_a_day_more_than_its_quota(
        zone: ZoneInfo, hours: int, steps: list[tuple[str, int, int]]) -> None:
    """Through any reloads, plays and waits: every instant seen keeps the day it had
    (so the use charged then stays on the day in force then), and no day's use passes
    its quota; the use charged is all in the books."""
    def supervisor(minutes: int) -> str:
        return USERS.replace('day_starts_at = "04:00"',
                             f'day_starts_at = "{minutes // 60:02d}:{minutes % 60:02d}"')

    e = Engine(policy(DAILY), zone)
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=hours))
    seen: list[tuple[datetime, date]] = []
    charged = 0.0
    for session, (kind, minutes, seconds) in enumerate(steps):
        if kind == "play" and e.availability("alex", "game", clock.now).allowed:
            assert isinstance(e.launch("alex", "game", clock.now, session), SessionStarted)
            charged += e.end_session(session, clock.advance(seconds % 5400), "exited").charged_s
        elif kind == "reload":
            e.set_policy(policy(DAILY, supervisor(minutes)), clock.now)
        else:
            clock.advance(seconds)
        seen.append((clock.wall, e.quota_day(clock.now)))
        assert all(e.calendar.quota_day(wall) == day for wall, day in seen)
        assert all(used <= 3600 + 1e-6 for used in e.usage.values()), e.usage
    assert sum(e.usage.values()) == pytest.approx(charged)
