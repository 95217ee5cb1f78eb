"""Grants that expire (SPEC §3): time added ``--until`` a time of the day, or for the
rest of the week; an expired grant stops counting, and the engine says so once."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shepherd.engine import (
    ActionRefused,
    Engine,
    GrantExpired,
    LaunchDenied,
    QuotaExhausted,
    SessionDue,
    SessionStarted,
)
from tests.engine.conftest import FakeClock, engine, local

# 2026-11-23 is a Monday; days start at 04:00 (conftest).
DAILY = '[[entries]]\nid = "game"\ncommand = ["game"]\nlimits = { daily_quota = "1h" }\n'
BOTH = """
[[entries]]
id = "game"
command = ["game"]
limits = { daily_quota = "1h", weekly_quota = "1h30m" }
"""
# Only a weekly quota, on a group (the review's case): 8 minutes a week, nothing a day.
WEEKLY = """
[[entries]]
id = "game"
command = ["game"]
[[groups]]
id = "g"
entries = ["game"]
weekly_quota = "8m"
"""


def play(e: Engine, clock: FakeClock, seconds: float, session: int) -> float:
    """Launch, play for ``seconds`` (or until the engine says stop), stop; time charged."""
    assert isinstance(e.launch("alex", "game", clock.now, session), SessionStarted)
    deadline = e.deadline(session, clock.now)
    if deadline is not None:
        seconds = min(seconds, deadline.remaining_s)
    return e.end_session(session, clock.advance(seconds), "exited").charged_s


def expired(e: Engine, clock: FakeClock) -> list[GrantExpired]:
    return [x for x in e.due(clock.now) if isinstance(x, GrantExpired)]


def test_time_given_until_17_00_counts_until_then_and_then_no_more() -> None:
    e = engine(DAILY)
    clock = FakeClock(local(23, 15))
    assert play(e, clock, 3600, 1) == 3600  # the day's hour, 15:00-16:00
    granted = e.grant("alex", "game", 1800, clock.now, until=local(23, 17))
    assert granted.expires_at == local(23, 17) and granted.allowance_s == 5400
    assert play(e, clock, 600, 2) == 600  # ten of its thirty minutes, 16:00-16:10
    clock.set_wall(local(23, 16, 59))
    # 20 of its minutes are left, and 1 can be used before 17:00 (review-1215-s10 L2)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(60)
    assert expired(e, clock) == []
    assert e.next_wakeup(clock.now) == pytest.approx(clock.mono + 60)
    clock.advance(60)  # 17:00
    [gone] = expired(e, clock)
    assert (gone.target, gone.seconds, gone.unused_s) == ("game", 1800, pytest.approx(1200))
    assert expired(e, clock) == []  # said once
    refused = e.launch("alex", "game", clock.now, 3)
    assert isinstance(refused, LaunchDenied)
    assert any(isinstance(r, QuotaExhausted) for r in refused.reasons)


def test_a_session_running_when_its_grant_expires_ends_then() -> None:
    e = engine(DAILY)
    clock = FakeClock(local(23, 15))
    assert play(e, clock, 3600, 1) == 3600
    clock.set_wall(local(23, 16, 30))
    e.grant("alex", "game", 3600, clock.now, until=local(23, 17))
    assert isinstance(e.launch("alex", "game", clock.now, 2), SessionStarted)
    deadline = e.deadline(2, clock.now)
    assert deadline is not None and deadline.wall == local(23, 17)  # not 17:30
    clock.advance(1800)
    events = e.due(clock.now)
    assert any(isinstance(x, SessionDue) and x.session_id == 2 for x in events)
    assert e.end_session(2, clock.now, "expired").charged_s == pytest.approx(1800)


def test_an_expired_grant_that_was_used_does_not_shorten_the_week() -> None:
    e = engine(BOTH)  # 1h a day, 1h30m a week
    clock = FakeClock(local(23, 15))
    assert play(e, clock, 3600, 1) == 3600
    e.grant("alex", "game", 1800, clock.now, until=local(23, 17))
    assert play(e, clock, 1800, 2) == 1800  # the whole grant, by 16:30
    clock.set_wall(local(23, 17, 30))
    expired(e, clock)
    # The week has 1h30m of its own; the grant paid for half an hour of what was used.
    clock.set_wall(local(24, 15))
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(1800)


def test_time_given_for_the_week_may_be_used_on_any_of_its_days_once() -> None:
    e = engine(DAILY)
    clock = FakeClock(local(23, 15))
    e.grant("alex", "game", 3600, clock.now, week=True)
    assert play(e, clock, 5400, 1) == 5400  # Monday: its hour and half the week's
    clock.set_wall(local(24, 15))
    assert play(e, clock, 7200, 2) == 5400  # Tuesday: its hour and the half left
    clock.set_wall(local(25, 15))
    assert play(e, clock, 7200, 3) == 3600  # Wednesday: its own hour only
    clock.set_wall(local(30, 4))  # the next week
    [gone] = expired(e, clock)
    assert gone.week and gone.expires_at == local(30, 4)


def test_time_given_for_the_week_can_be_taken_back_never_below_what_it_paid_for() -> None:
    """Review 12-s8 M6: ``-D --until week`` takes from the week's grants, the last given
    first, and never what the week's use already drew from them."""
    e = engine(DAILY)
    clock = FakeClock(local(23, 15))
    e.grant("alex", "game", 3600, clock.now, week=True)  # meant +1h, given for the week
    e.grant("alex", "game", 1200, clock.now, week=True)
    assert play(e, clock, 5400, 1) == 5400  # Monday: its hour and 30 of the week's minutes
    answer = e.grant("alex", "game", 3600, clock.now, mode="take", week=True)
    assert answer.timed_taken_s == 3000 and answer.week and answer.seconds == 0  # no set today
    assert dict(answer.taken_from) == {-2: 1200, -1: 1800}  # the last given first
    clock.set_wall(local(24, 15))
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(3600)
    assert play(e, clock, 7200, 2) == 3600  # Tuesday: its own hour only
    clock.set_wall(local(30, 4))  # the next week
    [gone] = expired(e, clock)
    assert (gone.seconds, gone.unused_s) == (1800, 0)


def test_setting_the_week_is_still_refused_and_says_how_to_take_from_it() -> None:
    e = engine(DAILY)
    clock = FakeClock(local(23, 15))
    with pytest.raises(ActionRefused, match="--until week"):
        e.grant("alex", "game", 600, clock.now, mode="set", week=True)


def test_an_unused_week_grant_ends_with_its_week() -> None:
    e = engine(DAILY)
    clock = FakeClock(local(27, 15))  # Friday
    e.grant("alex", "game", 3600, clock.now, week=True)
    clock.set_wall(local(30, 15))  # Monday of the next week
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(3600)


def test_a_week_grant_after_a_used_until_grant_adds_its_time_on_a_weekly_only_target() -> None:
    # Review s7 H1: the week's pool was charged for the use an earlier grant paid for.
    e = engine(WEEKLY)
    clock = FakeClock(local(23, 10))
    assert play(e, clock, 600, 1) == 480  # the week's 8 minutes
    e.grant("alex", "g", 120, clock.now, until=local(23, 10, 12))
    assert play(e, clock, 60, 2) == 60  # one of its two minutes, then it expires unused
    clock.set_wall(local(23, 10, 13))
    expired(e, clock)
    granted = e.grant("alex", "g", 60, clock.now, week=True)
    assert granted.week_allowance_s == 480 + 60 + 60  # the week, what the grant paid, the pool
    assert play(e, clock, 600, 3) == pytest.approx(60)  # the week's minute, all of it


def test_a_week_grant_on_tuesday_after_a_today_grant_used_on_monday_adds_its_time() -> None:
    e = engine(WEEKLY)
    clock = FakeClock(local(23, 10))  # Monday
    e.grant("alex", "g", 120, clock.now)
    assert play(e, clock, 900, 1) == 600  # the week's 8 minutes and Monday's 2
    clock.set_wall(local(24, 10))  # Tuesday
    granted = e.grant("alex", "g", 60, clock.now, week=True)
    assert granted.week_allowance_s == 660
    assert play(e, clock, 600, 2) == pytest.approx(60)


def test_a_day_grant_left_unused_after_the_pool_was_spent_does_not_count() -> None:
    # The pool pays for Monday's use beyond the week; Tuesday's grant, unused, paid for nothing.
    e = engine(WEEKLY)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "g", 60, clock.now, week=True)
    assert play(e, clock, 900, 1) == 540
    clock.set_wall(local(24, 10))
    e.grant("alex", "g", 120, clock.now)
    clock.set_wall(local(25, 10))  # Wednesday: Tuesday's two minutes are gone
    assert isinstance(e.launch("alex", "game", clock.now, 2), LaunchDenied)


WEEK_STEPS = st.lists(
    st.tuples(st.integers(0, 6), st.sampled_from(["none", "today", "week", "lapse", "in_force"]),
              st.integers(1, 600), st.integers(0, 900)),
    min_size=1, max_size=10).map(lambda steps: sorted(steps, key=lambda step: step[0]))


@settings(max_examples=150, deadline=None)
@given(steps=WEEK_STEPS)
def test_on_a_weekly_target_what_is_left_is_the_quota_and_grants_less_their_use(
        steps: list[tuple[int, str, int, int]]) -> None:
    """Grants for a day, for the week and ``--until`` a moment, used and unused, over the
    days of one week, on a target with only a weekly quota: what the child can use is the
    week's quota and the grants less what was used, never less. A ledger is the
    independent account: use is paid from time given until a moment while that counts
    (``in_force``: used at once; ``lapse``: left to run out unused, so it pays for
    nothing, before or after: review s7 NEW-1), as it runs out soonest (review-1215-s12
    F1), then from the week's quota, then from the day's own grants (given at any time
    that day; what they leave is gone with the day), then from the week's grants (they
    last). The engine may let the day's own grants pay before the week's quota: that
    never gives time, so once a day had both it may leave less than the ledger, never
    more. A grant never pays for use
    made before it was given (review-1215-s10): what the week's grants had paid of a day
    when time for today came stays theirs."""
    e = engine(WEEKLY)
    clock = FakeClock(local(23, 10))  # Monday
    quota_left, pool, pool_spent = 480.0, 0.0, 0.0
    day_grants, day_beyond, day_of = 0.0, 0.0, 0
    drawn = 0.0  # what the week's grants had paid of the day when time for today came
    timed_days: set[int] = set()  # days with time given until a moment, used
    mixed = False  # a day had both that and its own grants: the engine may leave less
    for n, (day, kind, seconds, wanted) in enumerate(steps, start=1):
        if clock.wall < local(23 + day, 10):
            clock.set_wall(local(23 + day, 10))
        if day != day_of:
            pool_spent += max(day_beyond - day_grants, drawn, 0.0)
            day_grants, day_beyond, day_of, drawn = 0.0, 0.0, day, 0.0
        if kind == "today":
            e.grant("alex", "g", seconds, clock.now)
            # what the week's grants paid so far stays theirs (review-1215-s10 HIGH-1)
            drawn = max(drawn, day_beyond - day_grants)
            day_grants += seconds
        elif kind == "week":
            e.grant("alex", "g", seconds, clock.now, week=True)
            pool += seconds
        elif kind in ("lapse", "in_force"):
            if kind == "in_force":
                timed_days.add(day)
            lasts = 60 + (wanted if kind == "in_force" else 0)
            e.grant("alex", "g", seconds, clock.now,
                    until=clock.wall + timedelta(seconds=lasts))
            spent = 0.0
            now_left = e.availability("alex", "game", clock.now).time_left_s
            if kind == "in_force" and wanted and now_left is not None and now_left >= 1:
                assert isinstance(e.launch("alex", "game", clock.now, n), SessionStarted)
                deadline = e.deadline(n, clock.now)
                assert deadline is not None
                spent = e.end_session(n, clock.advance(min(wanted, deadline.remaining_s)),
                                      "exited").charged_s
                lasts -= spent
            from_timed = min(spent, seconds)  # it pays first (review-1215-s12 F1)
            for_quota = min(spent - from_timed, quota_left)
            quota_left -= for_quota
            day_beyond += spent - from_timed - for_quota  # what neither paid
            clock.advance(lasts)  # it runs out
        e.due(clock.now)
        left = e.availability("alex", "game", clock.now).time_left_s
        ledger = quota_left + day_grants + pool - pool_spent - day_beyond
        mixed = mixed or (day in timed_days and day_grants > 0)
        assert left is not None and left <= ledger + 1e-6
        if not mixed:
            assert left == pytest.approx(ledger, abs=1e-6)
        if left < 1 or wanted == 0 or kind in ("lapse", "in_force"):
            continue
        assert isinstance(e.launch("alex", "game", clock.now, n), SessionStarted)
        deadline = e.deadline(n, clock.now)
        assert deadline is not None
        spent = e.end_session(n, clock.advance(min(wanted, deadline.remaining_s)),
                              "exited").charged_s
        for_quota = min(spent, quota_left)
        quota_left -= for_quota
        day_beyond += spent - for_quota
    assert pool + day_grants - pool_spent - max(day_beyond, drawn + day_grants) >= -1e-6


@pytest.mark.parametrize(("ask", "said"), [
    ({"until": local(23, 14)}, "14:00 has already passed"),
    # review-15-s15 N7: the day's end named, and how to give longer
    ({"until": local(24, 5)}, "05:00 is after this day ends at 04:00: a grant for today lasts "
                              r"at most until then \(to last longer, give it for the week: "
                              r"--until week\)"),
    ({"until": local(26, 5)}, "05:00 on Thursday 26 November is after this day ends at 04:00"),
    ({"until": local(23, 17), "week": True}, "not both"),
    ({"until": local(23, 17), "mode": "take"}, "only time added"),
    ({"week": True, "mode": "set"}, "only time added"),
])
def test_an_expiry_that_makes_no_sense_is_refused(ask: dict[str, object], said: str) -> None:
    e = engine(DAILY)
    clock = FakeClock(local(23, 15))
    with pytest.raises(ActionRefused, match=said):
        e.grant("alex", "game", 600, clock.now, **ask)  # type: ignore[arg-type]
    assert e.availability("alex", "game", clock.now).remaining_today_s == 3600


PLAYS = st.lists(st.tuples(st.integers(0, 600), st.integers(1, 150)), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(policy_text=st.sampled_from([DAILY, BOTH]), plays=PLAYS,
       grant_at=st.integers(0, 11), seconds=st.integers(60, 7200),
       lasts=st.one_of(st.integers(1, 600), st.just("week")))
def test_a_grant_gives_at_most_its_time_and_none_after_it_expires(
        policy_text: str, plays: list[tuple[int, int]], grant_at: int, seconds: int,
        lasts: int | str) -> None:
    """The same greedy plays with and without one expiring grant: with it, the child
    never uses more than the grant's time beyond the daily quotas, never less than
    without it, and once it expired it counts for no more than could be used while it
    counted: on its day, what is left and what was used exceed the same without it by
    at most its time, and by at most its length (review-1215-s12 F1: it paid first, so
    the day's own time it left is still there); for the week, never more left."""
    worlds = [(engine(policy_text), FakeClock(local(23, 9))) for _ in range(2)]
    used = [0.0, 0.0]
    expiry = given_at = None
    for step, (gap, minutes) in enumerate(plays):
        for i, (e, clock) in enumerate(worlds):
            clock.advance(gap * 60)
            if step == grant_at and i == 0:
                if lasts == "week":
                    granted = e.grant("alex", "game", seconds, clock.now, week=True)
                else:
                    assert isinstance(lasts, int)
                    until = min(clock.wall + timedelta(minutes=lasts),
                                e.calendar.day_end(e.quota_day(clock.now)))
                    granted = e.grant("alex", "game", seconds, clock.now, until=until)
                expiry, given_at = granted.expires_at, clock.wall
            e.due(clock.now)
            if isinstance(e.launch("alex", "game", clock.now, step + 1), SessionStarted):
                deadline = e.deadline(step + 1, clock.now)
                run = minutes * 60.0 if deadline is None else min(minutes * 60.0,
                                                                  deadline.remaining_s)
                used[i] += e.end_session(step + 1, clock.advance(run), "exited").charged_s
        (a, clock), (b, _) = worlds
        beyond = sum(max(spent - 3600, 0.0) for spent in a.usage.values())
        assert beyond <= seconds + 1e-6  # each day's use beyond its hour, in all
        assert used[0] >= used[1] - 1e-6  # and a grant never takes time away
        if expiry is not None and given_at is not None and clock.wall >= expiry:
            left_with = a.availability("alex", "game", clock.now).remaining_today_s
            left_without = b.availability("alex", "game", clock.now).remaining_today_s
            assert left_with is not None and left_without is not None
            if lasts == "week":
                assert left_with <= left_without + 1e-6, (left_with, left_without)
            elif policy_text == DAILY:
                day = a.quota_day(clock.now)
                more = (a.usage.get(("alex", "game", day), 0.0)
                        - b.usage.get(("alex", "game", day), 0.0))
                most = min(seconds, (expiry - given_at).total_seconds())
                if day != a.calendar.quota_day(given_at):
                    most = 0.0
                assert left_with + more <= left_without + most + 1e-6, (left_with, more)


def test_a_paused_session_on_an_expiring_grant_is_warned_before_the_expiry() -> None:
    # Paused, its own clock stands still, but a grant it runs on expires on the wall clock:
    # the engine must wake for the warnings before the expiry, not only at it (rules 9, 12).
    from shepherd.engine import WarningIssued

    e = engine(DAILY)
    clock = FakeClock(local(23, 15))
    assert play(e, clock, 3600, 1) == 3600  # the day's hour, 15:00-16:00
    e.grant("alex", "game", 1800, clock.now, until=local(23, 17))
    assert isinstance(e.launch("alex", "game", clock.now, 2), SessionStarted)
    e.pause("alex", "locked", clock.now, clock.now)
    wake = e.next_wakeup(clock.now)
    assert wake == pytest.approx(clock.now.mono + 55 * 60)  # 16:55: five minutes before 17:00
    clock.advance(55 * 60)
    e.charge(clock.now)
    warned = [x for x in e.due(clock.now) if isinstance(x, WarningIssued)]
    assert [w.before_s for w in warned] == [300]
    deadline = e.deadline(2, clock.now)
    assert deadline is not None and deadline.wall == local(23, 17)


@pytest.mark.parametrize(("policy_text", "played", "unused"), [
    (DAILY, 3600 + 1200, 2400),  # Monday: its hour and 20 of the week's 60 minutes
    (DAILY, 1800, 3600),  # within Monday's own hour: none of it
    (WEEKLY, 480 + 600, 3000),  # the week's 8 minutes first, then 10 of its
])
def test_a_week_grant_says_how_much_of_it_went_unused_when_the_week_ends(
        policy_text: str, played: int, unused: int) -> None:
    # Review 15 (s7) L5: the week's expiry said nothing of what was left unused.
    e = engine(policy_text)
    clock = FakeClock(local(23, 10))
    target = "g" if policy_text == WEEKLY else "game"
    e.grant("alex", target, 3600, clock.now, week=True)
    assert play(e, clock, played, 1) == pytest.approx(played)
    clock.set_wall(local(30, 4))
    [gone] = expired(e, clock)
    assert gone.week and gone.unused_s == pytest.approx(unused)


# -- setting and taking back while time given until a moment still counts (review s7 H1) --

def test_setting_the_total_holds_after_time_given_until_a_moment_runs_out() -> None:
    """``=2h`` is the day's allowance once the 30 minutes given until 10:30 are over; until
    then they come on top, and the answer says both."""
    e = engine(DAILY)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 1800, clock.now, until=local(23, 10, 30))
    clock.set_wall(local(23, 10, 5))
    answer = e.grant("alex", "game", 7200, clock.now, mode="set")
    assert answer.allowance_s == 9000  # 2h, and the 30 minutes until 10:30 on top
    assert answer.lasting_s == 7200 and answer.lasting_from == local(23, 10, 30)
    clock.set_wall(local(23, 10, 40))
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(7200)


def test_taking_back_never_goes_below_what_was_used_once_a_timed_grant_runs_out() -> None:
    """1h + 30m (until 17:00), 10 minutes played (the 30 minutes paid them: they end
    first, review-1215-s12 F1), then -1h15m: the hour is not used, so it is all taken,
    then 15 minutes of the 20 left of the time given until 17:00 (review 15-s8 M3); once
    that is over the 10 minutes it paid for stand, and nothing more."""
    e = engine(DAILY)
    clock = FakeClock(local(23, 15))
    e.grant("alex", "game", 1800, clock.now, until=local(23, 17))
    assert play(e, clock, 600, 1) == 600  # 15:00-15:10
    answer = e.grant("alex", "game", 4500, clock.now, mode="take")
    assert not answer.held_at_used and answer.seconds == -3600 and answer.timed_taken_s == 900
    assert answer.allowance_s == 900 and answer.lasting_s == 600  # the 10 it paid for
    clock.set_wall(local(23, 17, 30))
    e.due(clock.now)
    limits = e.limits_of("game")
    assert limits is not None
    standing, _ = e._standing("alex", limits, e.calendar.quota_day(clock.wall), clock.now)
    assert standing is not None and standing.allowance_s == 600 and standing.over_s == 0


def test_taking_back_shrinks_the_lasting_allowance_by_what_was_asked() -> None:
    e = engine(DAILY)
    clock = FakeClock(local(23, 15))
    e.grant("alex", "game", 1800, clock.now, until=local(23, 17))
    answer = e.grant("alex", "game", 900, clock.now, mode="take")
    assert answer.seconds == -900 and not answer.held_at_used
    assert answer.allowance_s == 4500 and answer.lasting_s == 2700
    clock.set_wall(local(23, 17, 30))
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(2700)


@pytest.mark.parametrize(("mode", "seconds", "asked", "monday", "tuesday"), [
    ("set", 3000, 99999, 3000, 5400),  # =50m: Monday 50m at most, the week's 30m kept
    ("take", 600, 3000, 3000, 5400),  # -10m, Monday used 50m: the week's 30m kept
    # -10m, Monday used 50m + 30m: the day's own time is 50m, so the week's time paid
    # for 30m (ledger10: the take-back is not handed back through the week's time)
    ("take", 600, 99999, 4800, 3600),
])
def test_setting_or_taking_back_a_day_below_its_quota_leaves_the_week_grant_for_later(
        mode: str, seconds: int, asked: int, monday: int, tuesday: int) -> None:
    """Review s7 NEW-2: ``=50m`` on a 1h day with 30m for the week sets Monday to 50m; the
    week's 30 minutes, never used, are Tuesday's on top of its hour. The week's time pays
    only for a day's use beyond the day's own time (its quota, time given for it, its
    take-backs and sets)."""
    e = engine(DAILY)
    clock = FakeClock(local(23, 10))  # Monday
    e.grant("alex", "game", 1800, clock.now, week=True)
    e.grant("alex", "game", seconds, clock.now, mode=mode)  # type: ignore[arg-type]
    assert play(e, clock, asked, 1) == monday
    clock.set_wall(local(24, 10))
    assert play(e, clock, 99999, 2) == tuesday


@pytest.mark.parametrize(("policy", "target", "monday", "tuesday"), [
    (WEEKLY, "g", 480 + 180, 0),  # 8m a week + 3m for the week; none left for Tuesday
    (DAILY, "game", 3600 + 1800, 3600),  # 1h a day + 30m for the week, all used Monday
], ids=["weekly-group", "daily"])
def test_a_grant_that_ran_out_unused_pays_for_no_use_after_it_ran_out(
        policy: str, target: str, monday: int, tuesday: int) -> None:
    """Review s7 NEW-1: 2 (or 10) minutes given until 10:02 run out unused; the child then
    plays as long as allowed. The expired grant paid for nothing, so it must not free the
    week's extra time it did not pay for."""
    e = engine(policy)
    clock = FakeClock(local(23, 10))  # Monday
    e.grant("alex", target, 180 if target == "g" else 1800, clock.now, week=True)
    e.grant("alex", target, 120 if target == "g" else 600, clock.now,
            until=local(23, 10) + timedelta(minutes=2))
    clock.advance(240)
    assert [x.unused_s for x in expired(e, clock)] == [120 if target == "g" else 600]
    assert play(e, clock, 99999, 1) == monday
    clock.set_wall(local(24, 10))
    e.due(clock.now)
    left = e.availability("alex", "game", clock.now).time_left_s
    assert left == pytest.approx(tuesday)


DAY_STEPS = st.lists(
    st.tuples(st.integers(0, 6), st.sampled_from(["none", "today", "week", "take", "set",
                                                  "lapse", "in_force"]),
              st.integers(1, 5400), st.integers(0, 5400)),
    min_size=1, max_size=12).map(lambda steps: sorted(steps, key=lambda step: step[0]))


@settings(max_examples=120, deadline=None)
@given(steps=DAY_STEPS)
@example(steps=[(0, 'week', 1, 0), (3, 'today', 1, 0), (3, 'take', 3601, 1),
                (4, 'none', 1, 0)])  # time for a day that is over is the day's own
@example(steps=[(0, 'week', 1, 3601), (0, 'today', 1, 0),
                (1, 'none', 1, 0)])  # given after the week paid: it pays nothing back
@example(steps=[(0, 'week', 1, 0), (0, 'today', 1, 0), (0, 'set', 3601, 0),
                (0, 'none', 1, 3601), (1, 'none', 1, 0)])  # the set takes the raise (L1)
def test_on_a_daily_target_the_week_grant_pays_only_for_use_beyond_each_day(
        steps: list[tuple[int, str, int, int]]) -> None:
    """Time given for a day, for the week, taken back (``-D``) and set (``=D``) over one
    week on a 1h-a-day target: what is left each moment is the day's own time (its hour,
    what was given or taken for the day), what time given until a moment paid, and what
    the day may draw on the week's time, less the day's use. A ledger is the independent
    account: ``-D`` takes only the day's own time not yet used; ``=D`` sets what lasts
    to D less what time given until a moment paid for (that use is inside D:
    review-15-s15 N2), never below the use it and the week's time paid for, lowered by
    setting aside
    what the day may draw on the week's time first, then its own; the week's time pays
    only for a day's use beyond its own time and what time given until a moment paid,
    so time set or taken back and left unused never spends it (review s7 NEW-2,
    ledger10); time given until a moment counts, once it ran out, for what it paid
    (NEW-1)."""
    e = engine(DAILY)
    clock = FakeClock(local(23, 10))  # Monday
    pool, pool_spent = 0.0, 0.0
    own, upaid, aside, used, day_of = 0.0, 0.0, 0.0, 0.0, 0
    beyond = 0.0  # the day's use its own time had not paid when its own time last changed
    # what the day's raises gave since time was last given for the week, and what its
    # take-backs took that no add gave back (grants.py DayRaises): a set that lowers the
    # day takes the raises' unused time back first (review-15-s19d L1)
    raised, took = 0.0, 0.0
    for n, (day, kind, seconds, wanted) in enumerate(steps, start=1):
        if clock.wall < local(23 + day, 10):
            clock.set_wall(local(23 + day, 10))
        if day != day_of:
            # What others paid (until-grants and the week): beyond the day's own time, and
            # never less than what they had paid when its own time changed (ledger10b: a
            # grant never pays for use made before it).
            others = max(used - 3600 - own - upaid, beyond, 0.0)
            pool_spent += min(pool - pool_spent, others)
            own, upaid, aside, used, day_of = 0.0, 0.0, 0.0, 0.0, day
            beyond, raised, took = 0.0, 0.0, 0.0
        if kind in ("today", "take", "set"):  # what the week's time paid so far
            beyond = max(beyond, used - 3600 - own - upaid)
        access = max(pool - pool_spent - aside, 0.0)  # what the day may draw on the week
        # the day's own time not used yet (time until a moment paid first, then its own)
        others = upaid + max(used - 3600 - own - upaid, beyond, 0.0)
        unused_own = max(3600 + own - math.ceil(used - others - 1e-6), 0.0)
        if kind == "today":
            e.grant("alex", "game", seconds, clock.now)
            own += seconds
            back = min(seconds, took)
            raised, took = raised + seconds - back, took - back
        elif kind == "week":
            e.grant("alex", "game", seconds, clock.now, week=True)
            pool += seconds
            raised = 0.0  # the raises before it are the day's own from now on
        elif kind == "take":
            e.grant("alex", "game", seconds, clock.now, mode="take")
            # own time used is the rest of the use (time until a moment paid first)
            taken = min(seconds, unused_own)
            own -= taken
            back = min(taken, raised)
            raised, took = raised - back, took + taken - back
        elif kind == "set":
            e.grant("alex", "game", seconds, clock.now, mode="set")
            # what time given until a moment paid was used today: inside D (N2)
            lasts = max(float(seconds) - math.ceil(upaid - 1e-6),
                        math.ceil(used - upaid - 1e-6), 0.0)
            if lasts >= 3600 + own + access:
                # a set's raise gives back first what a set set aside, where the week's
                # time still holds it (review-15-s19b N2; no weekly quota here, so no
                # quota minutes to give back before it)
                up = lasts - access - 3600 - own
                back = min(up, aside) if pool - pool_spent >= aside else 0.0
                aside -= back
                own += up - back
                raised, took = raised + up - back, 0.0
            else:
                # lowered: the raises' unused time first (L1), then what the day may draw
                # on the week's time is set aside, then its own time
                cut = 3600 + own + access - lasts
                first = min(cut, max(min(raised, unused_own), 0.0))
                set_aside = min(cut - first, access)
                aside += set_aside
                own -= cut - set_aside
                raised, took = max(raised - first, 0.0), 0.0
        elif kind in ("lapse", "in_force"):
            # Time given until a moment: used at once (in_force) or left to run out
            # (lapse). It pays for the use while it counts, before the day's own time
            # and the week's (it runs out sooner: review-1215-s12 F1); from then on it
            # counts for that and no more (review s7 NEW-1).
            lasts = 60 + (min(wanted, 1800) if kind == "in_force" else 0)
            e.grant("alex", "game", seconds, clock.now,
                    until=clock.wall + timedelta(seconds=lasts))
            now_left = e.availability("alex", "game", clock.now).time_left_s
            if lasts > 60 and now_left is not None and now_left >= 1:
                assert isinstance(e.launch("alex", "game", clock.now, n), SessionStarted)
                deadline = e.deadline(n, clock.now)
                assert deadline is not None
                spent = e.end_session(n, clock.advance(min(lasts - 60, deadline.remaining_s)),
                                      "exited").charged_s
                lasts -= spent
                used += spent
                upaid += min(seconds, spent)  # it pays first (review-1215-s12 F1)
            clock.advance(lasts)  # it runs out
        e.due(clock.now)
        access = max(pool - pool_spent - aside, 0.0)
        left = e.availability("alex", "game", clock.now).time_left_s
        ledger = max(3600 + own + upaid + access - used, 0.0)
        assert left is not None and left == pytest.approx(ledger, abs=1e-6)
        if left < 1 or wanted == 0 or kind in ("lapse", "in_force"):
            continue
        assert isinstance(e.launch("alex", "game", clock.now, n), SessionStarted)
        deadline = e.deadline(n, clock.now)
        assert deadline is not None
        used += e.end_session(n, clock.advance(min(wanted, deadline.remaining_s)),
                              "exited").charged_s


def test_a_grant_given_after_the_week_grant_paid_and_left_unused_gives_nothing_back() -> None:
    """Hypothesis found it while NEW-1 was open: the week's extra second paid for Monday's
    481st second; a second given until a moment after that use and left to run out must
    not pay for that use (it was given after it) and so free the week's second again."""
    e = engine(WEEKLY)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "g", 1, clock.now, week=True)
    assert play(e, clock, 9999, 1) == 481
    e.grant("alex", "g", 60, clock.now, until=clock.wall + timedelta(minutes=1))
    clock.advance(61)
    [gone] = expired(e, clock)
    assert (gone.unused_s, gone.paid_s) == (60, 0)
    assert e.availability("alex", "game", clock.now).time_left_s == 0


def test_what_an_expired_grant_paid_for_is_what_it_counts_for_after_a_restart() -> None:
    """What a grant paid for, noted at its expiry, is what an engine started afresh from
    the store's rows counts; a row noted expired with nothing known of what it paid
    (before the store kept it) pays for nothing: it never gives time back."""
    e = engine(DAILY)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 600, clock.now, until=local(23, 11, 30))
    assert play(e, clock, 300, 1) == 300  # 5 of its 10 minutes used (it pays first)
    clock.set_wall(local(23, 12))
    [gone] = expired(e, clock)
    assert (gone.unused_s, gone.paid_s) == (300, 300)
    assert play(e, clock, 3600, 2) == 3600  # the hour is all left
    e.grant("alex", "game", 600, clock.now)  # 10 minutes more for today, after it
    assert e.availability("alex", "game", clock.now).time_left_s == 600

    def restarted(paid: float | None) -> float | None:
        again = Engine(e.policy, e.zone, usage=e.usage, grants=e.grants,
                       timed_grants=[replace(g, paid=paid if g.id == gone.grant_id else g.paid)
                                     for g in e.timed.values()],
                       expiries_noted=e.expiries_noted)
        again.due(clock.now)
        return again.availability("alex", "game", clock.now).time_left_s

    assert restarted(300.0) == 600
    assert restarted(None) == 300  # fails closed: its 5 used minutes come out of the rest


@pytest.mark.parametrize(("played", "unused", "paid"), [(300, 120, 0), (720, 0, 120)])
def test_the_day_end_of_time_given_for_today_counts_what_was_set_back(
        played: int, unused: int, paid: int) -> None:
    """Review s7 NEW-5: +5m, then =12m (10m a day): 3 of the 5 minutes are taken back, so
    at the day's end 2 minutes are what the grant came to; the child played 5 (all of the
    2 unused) or 12 (all used)."""
    e = engine('[[entries]]\nid = "game"\ncommand = ["game"]\n'
               'limits = { daily_quota = "10m" }\n')
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 300, clock.now)
    e.grant("alex", "game", 720, clock.now, mode="set")
    assert play(e, clock, played, 1) == played
    clock.set_wall(local(24, 4, 1))
    [gone] = expired(e, clock)
    assert (gone.seconds, gone.taken_s, gone.unused_s, gone.paid_s) == (300, 180, unused, paid)


@pytest.mark.parametrize(("order", "taken"), [
    (("-5m", "+5m"), [0]),  # a take-back before a grant takes nothing of it
    (("+5m", "-3m", "+5m"), [180, 0]),  # only of the grants given before it
    (("+5m", "+5m", "-7m"), [120, 300]),  # the last given first
])
def test_a_take_back_takes_only_from_time_for_today_given_before_it(
        order: tuple[str, ...], taken: list[int]) -> None:
    """Review 12-s8 M5: the day's end says what a take-back took of each grant for today,
    in the order they came; nothing played, so all that is left of each went unused."""
    e = engine('[[entries]]\nid = "game"\ncommand = ["game"]\n'
               'limits = { daily_quota = "10m" }\n')
    clock = FakeClock(local(23, 10))
    for step in order:
        clock.advance(60)
        seconds = int(step[1:-1]) * 60
        e.grant("alex", "game", seconds, clock.now, mode="add" if step[0] == "+" else "take")
    clock.set_wall(local(24, 4, 1))
    gone = sorted(expired(e, clock), key=lambda g: abs(g.grant_id))
    assert [g.taken_s for g in gone] == taken
    assert [g.unused_s for g in gone] == [g.seconds - g.taken_s for g in gone]
    assert [g.paid_s for g in gone] == [0] * len(gone)


def test_a_timed_grant_longer_than_is_left_before_its_end_says_how_much_can_be_used() -> None:
    """Review 12-s8 M2: 10 minutes until 10:05, given at 10:02 with the day's own hour
    used: 3 minutes can be used. Then 2 minutes more until 10:05: the 10 minutes given
    first pay first and fill those 3, so none of it (review-15-s16 P1: it was said to
    have all 3)."""
    e = engine(DAILY)
    clock = FakeClock(local(23, 9))
    assert play(e, clock, 3600, 1) == 3600
    clock.advance(120)  # 10:02
    answer = e.grant("alex", "game", 600, clock.now, until=local(23, 10, 5))
    [cap] = [c for c in answer.capped_by if c.kind == "grant_end"]
    assert (cap.usable_s, cap.until) == (180, local(23, 10, 5))
    shorter = e.grant("alex", "game", 120, clock.now, until=local(23, 10, 5))
    [cap] = [c for c in shorter.capped_by if c.kind == "grant_end"]
    assert (cap.usable_s, cap.until) == (0, local(23, 10, 5))


def test_time_given_until_a_moment_pays_before_the_weeks_time() -> None:
    """Time given until a moment pays before the day's quota and the week's time (they
    last longer: review-1215-s12 F1): 10 minutes until 11:30 with 30 minutes for the
    week, 1h05m played by then. The first 10 came out of the grant, so 5 minutes of the
    hour and all 30 of the week's time are left, not 25."""
    e = engine(DAILY)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 1800, clock.now, week=True)
    e.grant("alex", "game", 600, clock.now, until=local(23, 11, 30))
    assert play(e, clock, 3900, 1) == 3900
    clock.set_wall(local(23, 12))
    [gone] = expired(e, clock)
    assert (gone.unused_s, gone.paid_s) == (0, 600)
    assert e.availability("alex", "game", clock.now).time_left_s == 300 + 1800
    clock.set_wall(local(24, 10))  # Tuesday: the hour and the week's 30 minutes
    assert e.availability("alex", "game", clock.now).time_left_s == 3600 + 1800


# -- setting and taking back after time given until a moment was partly used (review 15-s8) --

HALF = '[[entries]]\nid = "game"\ncommand = ["game"]\nlimits = { daily_quota = "30m" }\n'


def _half_used_timed_grant() -> tuple[Engine, FakeClock]:
    """Quota 30m, all used; +20m until 12:00, 15 minutes of it used: 5 minutes left."""
    e = engine(HALF)
    clock = FakeClock(local(23, 10))
    assert play(e, clock, 1800, 1) == 1800  # 10:00-10:30
    clock.set_wall(local(23, 11))
    e.grant("alex", "game", 1200, clock.now, until=local(23, 12))
    assert play(e, clock, 900, 2) == 900  # 11:00-11:15
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(300)
    clock.set_wall(local(23, 11, 30))
    return e, clock


@pytest.mark.parametrize("asked", [1800, 600, 0])
def test_setting_the_total_after_a_partly_used_timed_grant_never_gives_time(asked: int) -> None:
    """``=30m`` (or less) with 45 minutes used, 15 of them paid by the time given until
    12:00: the lasting 30 minutes are used up, the timed grant keeps its 5 minutes until
    12:00; its used part is not counted again (it gave 20 minutes left, and 1h5m played).
    What lasts is the 30 minutes and the 15 the grant paid for (review-1215-s12 F1)."""
    e, clock = _half_used_timed_grant()
    answer = e.grant("alex", "game", asked, clock.now, mode="set")
    assert answer.lasting_s == 2700 and answer.allowance_s == 3000
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(300)
    assert play(e, clock, 3600, 3) == pytest.approx(300)
    clock.set_wall(local(23, 12, 30))
    [gone] = expired(e, clock)
    assert gone.unused_s == pytest.approx(0)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(0)
    assert sum(e.usage.values()) <= 1800 + 1200 + 1e-6


def test_taking_back_after_a_partly_used_timed_grant_takes_its_unused_part() -> None:
    """``-30m`` (review 15-s8 M3): the lasting 30 minutes are all used, so they are held;
    the 5 minutes the time given until 12:00 has left are taken back (never below what
    was used), and after 12:00 the day is not "over" (the take came out of that grant)."""
    e, clock = _half_used_timed_grant()
    answer = e.grant("alex", "game", 1800, clock.now, mode="take")
    assert answer.timed_taken_s == 300 and answer.seconds == 0 and answer.held_at_used
    assert answer.allowance_s == 2700
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(0)
    clock.set_wall(local(23, 12))
    [gone] = expired(e, clock)
    assert (gone.seconds, gone.unused_s, gone.paid_s) == (900, 0, 900)
    today, _ = e.standing("alex", e.limits_of("game"), e.quota_day(clock.now), clock.now)
    assert today is not None and today.over_s == 0 and today.allowance_s == 2700


def test_taking_back_less_than_a_timed_grant_has_left_leaves_the_rest_until_its_end() -> None:
    e, clock = _half_used_timed_grant()
    answer = e.grant("alex", "game", 180, clock.now, mode="take")
    assert answer.timed_taken_s == 180 and not answer.held_at_used
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(120)
    assert play(e, clock, 600, 3) == 120
    clock.set_wall(local(23, 12))
    [gone] = expired(e, clock)
    assert (gone.seconds, gone.unused_s, gone.paid_s) == (1020, 0, 1020)


def test_taking_back_takes_from_what_lasts_first_then_from_the_timed_grant() -> None:
    """20 of the 30 minutes used, +20m until 12:00 unused: ``-15m`` takes the 10 lasting
    minutes left, then 5 of the 20 given until 12:00."""
    e = engine(HALF)
    clock = FakeClock(local(23, 10))
    assert play(e, clock, 1200, 1) == 1200
    e.grant("alex", "game", 1200, clock.now, until=local(23, 12))
    answer = e.grant("alex", "game", 900, clock.now, mode="take")
    assert (answer.seconds, answer.timed_taken_s, answer.lasting_s) == (-600, 300, 1200)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(900)


def test_a_timed_grant_all_taken_back_is_gone_and_never_said_to_run_out() -> None:
    e, clock = _half_used_timed_grant()
    e.grant("alex", "game", 1200, clock.now, until=local(23, 12, 30))
    answer = e.grant("alex", "game", 3600, clock.now, mode="take")
    assert answer.timed_taken_s == 1500  # the 5 minutes left of the first, all of the second
    clock.set_wall(local(23, 13))
    assert [g.seconds for g in expired(e, clock)] == [900]
    today, _ = e.standing("alex", e.limits_of("game"), e.quota_day(clock.now), clock.now)
    assert today is not None and today.over_s == 0


def test_a_preview_of_a_take_from_a_timed_grant_changes_nothing() -> None:
    e, clock = _half_used_timed_grant()
    assert e.preview_grant("alex", "game", 1800, clock.now, mode="take").timed_taken_s == 300
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(300)


@settings(max_examples=150, deadline=None)
@given(plays=st.lists(st.tuples(st.integers(0, 60), st.integers(1, 90)), min_size=2,
                      max_size=8),
       grant_at=st.integers(0, 3), change_at=st.integers(1, 7), seconds=st.integers(60, 3600),
       lasts=st.integers(1, 300), mode=st.sampled_from(["set", "take"]),
       asked=st.integers(0, 7200))
def test_setting_or_taking_back_after_a_timed_grant_never_gives_more_than_was_allowed(
        plays: list[tuple[int, int]], grant_at: int, change_at: int, seconds: int,
        lasts: int, mode: str, asked: int) -> None:
    """A ledger of one day (review 15-s8 H1): time given until a moment, played greedily,
    then ``=D`` or ``-D`` at any point: the day's use is never more than its hour (or the
    set total, if higher) and the time given. After ``=D`` it is never more than D (or
    what was used by then) and what the grant could still pay before its end: what it
    paid before the set is inside D (review-15-s15 N2)."""
    e = engine(DAILY)
    clock = FakeClock(local(23, 9))
    day = e.quota_day(clock.now)
    ends = clock.wall
    after_set = math.inf
    for step, (gap, minutes) in enumerate(plays):
        clock.advance(gap * 60)
        if step == grant_at:
            ends = clock.wall + timedelta(minutes=lasts)
            e.grant("alex", "game", seconds, clock.now, until=ends)
        if step == max(change_at, grant_at + 1):
            e.grant("alex", "game", asked, clock.now, mode="set" if mode == "set" else "take")
            window = max((ends - clock.wall).total_seconds(), 0.0)
            after_set = (max(float(asked), e.usage.get(("alex", "game", day), 0.0))
                         + min(float(seconds), window))
        e.due(clock.now)
        if isinstance(e.launch("alex", "game", clock.now, step + 1), SessionStarted):
            deadline = e.deadline(step + 1, clock.now)
            assert deadline is not None
            e.end_session(step + 1, clock.advance(min(minutes * 60.0, deadline.remaining_s)),
                          "exited")
    lasting = max(3600, asked) if mode == "set" else 3600
    assert e.usage.get(("alex", "game", day), 0.0) <= lasting + seconds + 1e-6
    if mode == "set":
        assert e.usage.get(("alex", "game", day), 0.0) <= after_set + 1e-6


# -- an expiry noted late (a daemon down across it) pays for no use after it (review 15-s8 H2) --

@pytest.mark.parametrize("charged_first", [True, False])
def test_an_expiry_noted_late_pays_only_for_the_use_up_to_the_grants_end(
        charged_first: bool) -> None:
    """Quota 30m used; +1h until 11:10 at 11:00, a game running from then; the daemon is
    killed at 11:05 and starts again at 11:30, adopting the game: the grant counted 10
    minutes, so it paid for 10, not 30 (the downtime after 11:10 is the child's own),
    whether the downtime was charged before the expiry was noted or not."""
    e = engine(HALF)
    clock = FakeClock(local(23, 10))
    assert play(e, clock, 1800, 1) == 1800
    clock.set_wall(local(23, 11))
    e.grant("alex", "game", 3600, clock.now, until=local(23, 11, 10))
    assert isinstance(e.launch("alex", "game", clock.now, 2), SessionStarted)
    e.charge(clock.advance(300))  # the last checkpoint, 11:05
    snap = e.snapshot(2)
    clock.advance(1500)  # 11:30
    after = Engine(e.policy, e.zone, usage=e.usage, grants=e.grants,
                   timed_grants=list(e.timed.values()), expiries_noted=e.expiries_noted)
    assert after.recover(snap, clock.now, alive=True)
    if charged_first:
        after.charge(clock.now)
    [gone] = expired(after, clock)
    assert gone.paid_s is not None and gone.paid_s <= 600 + 1e-6
    assert gone.unused_s is not None and gone.unused_s >= 3000 - 1e-6
    assert after.availability("alex", "game", clock.now).remaining_today_s == 0


# -- several timed grants: the one that ends first pays first (review 15-s8 MEDIUM-1) --

def test_of_two_timed_grants_the_one_that_ends_first_pays_first() -> None:
    """Quota 30m used by 15:00; +10m until 16:00 and +10m until 17:00 at 15:00; 10
    minutes played 15:00-15:10. Those minutes came out of the grant ending at 16:00, so
    at 16:30 the child still has the 10 minutes given until 17:00."""
    e = engine(HALF)
    clock = FakeClock(local(23, 14))
    assert play(e, clock, 1800, 1) == 1800
    clock.set_wall(local(23, 15))
    e.grant("alex", "game", 600, clock.now, until=local(23, 16))
    e.grant("alex", "game", 600, clock.now, until=local(23, 17))
    assert play(e, clock, 600, 2) == 600
    clock.set_wall(local(23, 16))
    [sooner] = expired(e, clock)
    assert sooner.unused_s == pytest.approx(0) and sooner.paid_s == pytest.approx(600)
    clock.set_wall(local(23, 16, 30))
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(600)
    assert play(e, clock, 3600, 3) == pytest.approx(600)  # until 16:40, then no more
    clock.set_wall(local(23, 17))
    [later] = expired(e, clock)
    assert later.unused_s == pytest.approx(0) and later.paid_s == pytest.approx(600)
    assert e.availability("alex", "game", clock.now).remaining_today_s == 0


def test_a_sooner_grant_given_after_the_use_pays_for_none_of_it() -> None:
    """+10m until 17:00 at 15:00, used 15:00-15:10; +10m until 16:00 given at 15:20 and
    left unused: it paid for nothing (the use came before it), the later one for all."""
    e = engine(HALF)
    clock = FakeClock(local(23, 14))
    assert play(e, clock, 1800, 1) == 1800
    clock.set_wall(local(23, 15))
    e.grant("alex", "game", 600, clock.now, until=local(23, 17))
    assert play(e, clock, 600, 2) == 600
    clock.set_wall(local(23, 15, 20))
    e.grant("alex", "game", 600, clock.now, until=local(23, 16))
    clock.set_wall(local(23, 16))
    [sooner] = expired(e, clock)
    assert sooner.paid_s == pytest.approx(0) and sooner.unused_s == pytest.approx(600)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(0)
    clock.set_wall(local(23, 17))
    [later] = expired(e, clock)
    assert later.paid_s == pytest.approx(600) and later.unused_s == pytest.approx(0)


FIVE = '[[entries]]\nid = "game"\ncommand = ["game"]\nlimits = { daily_quota = "5m" }\n'
TIMED_STEPS = st.lists(
    st.tuples(st.integers(0, 40), st.sampled_from(["grant", "play"]), st.integers(1, 1200),
              st.integers(1, 90)),
    min_size=1, max_size=10)


def _play_across_expiries(e: Engine, clock: FakeClock, session: int, wanted: float,
                          on_use: Callable[[float], None],
                          runway: Callable[[], float] | None = None) -> None:
    """Play for ``wanted`` seconds (or until the engine says stop), with the engine's
    clock read at each grant's end as the daemon does (``due``), each piece passed to
    ``on_use`` before the clock moves past it; ``runway``: how long the time really
    lasts from now, which the session's deadline must say at each step."""
    assert isinstance(e.launch("alex", "game", clock.now, session), SessionStarted)
    spent = 0.0
    while spent < wanted:
        deadline = e.deadline(session, clock.now)
        if runway is not None:
            assert deadline is not None
            assert deadline.remaining_s == pytest.approx(runway(), abs=1e-3), \
                "the session's deadline is not when the time runs out"
        step = wanted - spent if deadline is None else min(wanted - spent, deadline.remaining_s)
        ends = [g.expires for g in e.timed.values() if g.expires > clock.wall]
        if ends:
            step = min(step, (min(ends) - clock.wall).total_seconds())
        if step <= 1e-9:
            break
        on_use(step)
        clock.advance(step)
        spent += step
        e.due(clock.now)
    e.end_session(session, clock.now, "exited")


@dataclass
class _Held:
    """A ledger's grant: when it ends, and what of it is left."""

    expires: datetime
    left: float


@settings(max_examples=150, deadline=None)
@given(steps=TIMED_STEPS)
@example(steps=[(0, "grant", 600, 240), (0, "play", 900, 1), (0, "grant", 600, 90),
                (0, "grant", 300, 60), (0, "play", 300, 1), (40, "play", 1, 1),
                (40, "play", 1, 1), (40, "play", 1, 1)])  # a sooner grant paid: not twice
@example(steps=[(0, "grant", 1, 7), (0, "play", 91, 1), (0, "play", 210, 1),
                (0, "grant", 10, 1), (0, "grant", 51, 1)])  # ending together: paid once
@example(steps=[(0, "grant", 1, 1), (0, "play", 2, 1), (0, "grant", 1009, 37),
                (0, "grant", 1164, 20), (0, "play", 360, 1), (0, "grant", 48, 31)]
         )  # review-15-s15 N3 (seed 1): the estimate of who paid over-paid by a second

def test_several_timed_grants_are_used_the_soonest_ending_first(
        steps: list[tuple[int, str, int, int]]) -> None:
    """Grants ``--until`` different moments of one day, given and played at any time on a
    5m-a-day target: what is left is exactly a ledger's, in which every second is paid
    by the time that runs out soonest (review-1215-s12 F1): the grants still counting,
    the one ending first first (review 15-s8 MEDIUM-1), then the day's quota (it lasts
    the day). So the child never gets more than the quota and the grants allow, and
    never less: a grant used before its end never leaves the quota spent for it; a
    session's deadline, across the grants' ends, is when that time really runs out
    (review 15-s9 MEDIUM-1)."""
    e = engine(FIVE)
    clock = FakeClock(local(23, 14))
    quota_left = 300.0
    held: list[_Held] = []  # each grant, in force or not

    def pay(seconds: float) -> None:
        nonlocal quota_left
        for grant in sorted(held, key=lambda g: g.expires):
            if grant.expires > clock.wall and seconds > 0:
                part = min(seconds, grant.left)
                grant.left -= part
                seconds -= part
        from_quota = min(seconds, quota_left)
        quota_left -= from_quota
        seconds -= from_quota
        assert seconds <= 1e-6, "the engine let the child play beyond the ledger"

    def runway() -> float:
        """How long a session from now may run by the ledger: each grant still
        counting, soonest ending first, each only until its end, then the quota."""
        run = 0.0
        for grant in sorted(held, key=lambda g: g.expires):
            if grant.expires > clock.wall:
                before_end = (grant.expires - clock.wall).total_seconds() - run
                run += min(grant.left, max(before_end, 0.0))
        return run + quota_left

    for n, (gap, kind, seconds, minutes) in enumerate(steps, start=1):
        clock.advance(gap * 60)
        e.due(clock.now)
        if kind == "grant":
            until = min(clock.wall + timedelta(minutes=minutes),
                        e.calendar.day_end(e.quota_day(clock.now)) - timedelta(minutes=1))
            if until > clock.wall:
                e.grant("alex", "game", seconds, clock.now, until=until)
                held.append(_Held(until, float(seconds)))
        elif (e.availability("alex", "game", clock.now).remaining_today_s or 0.0) >= 1:
            _play_across_expiries(e, clock, n, seconds, pay, runway)
        e.due(clock.now)
        left = e.availability("alex", "game", clock.now).remaining_today_s
        # of each grant, what can be used before its end (review-1215-s10 L2)
        ledger = runway()
        assert left is not None and left == pytest.approx(ledger, abs=1e-3), (left, ledger)


def test_use_a_sooner_grant_paid_for_is_not_paid_again_by_a_later_one() -> None:
    """+10m until 18:00 at 14:00, all used then; at 15:00 +10m until 17:00 and +5m until
    16:00, 5 minutes played: the grant ending at 16:00 paid for them, so the one ending
    at 17:00 went unused and nothing is left after it (not 5 minutes more)."""
    e = engine(HALF)
    clock = FakeClock(local(23, 13))
    assert play(e, clock, 1800, 1) == 1800
    clock.set_wall(local(23, 14))
    e.grant("alex", "game", 600, clock.now, until=local(23, 18))
    assert play(e, clock, 600, 2) == 600
    clock.set_wall(local(23, 15))
    e.grant("alex", "game", 600, clock.now, until=local(23, 17))
    e.grant("alex", "game", 300, clock.now, until=local(23, 16))
    assert play(e, clock, 300, 3) == 300
    clock.set_wall(local(23, 16))
    [soonest] = expired(e, clock)
    assert soonest.paid_s == pytest.approx(300)
    clock.set_wall(local(23, 17))
    [middle] = expired(e, clock)
    assert middle.paid_s == pytest.approx(0) and middle.unused_s == pytest.approx(600)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(0)


def test_grants_ending_together_share_the_minute_before_their_end_once() -> None:
    """The day's 5 minutes and 1 second given until later all used; then 10 s and 51 s
    given until the same moment a minute away: one minute can be used of them, not 61 s
    (each counted the minute's use as its own when neither ended before the other: the
    launch got a second more than the time allowed)."""
    e = engine(FIVE)
    clock = FakeClock(local(23, 14))
    e.grant("alex", "game", 1, clock.now, until=clock.wall + timedelta(minutes=7))
    assert play(e, clock, 400, 1) == 301
    end = clock.wall + timedelta(minutes=1)
    e.grant("alex", "game", 10, clock.now, until=end)
    e.grant("alex", "game", 51, clock.now, until=end)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(60)
    assert play(e, clock, 400, 2) == pytest.approx(60)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(0)


def test_what_is_left_of_time_given_until_several_moments_is_said_per_moment() -> None:
    """Review 12-s8 M1 (what ``status`` shows): each moment's own time, what was used
    taken from the one that ends first; the day's total stays while it pays
    (review-15-s15 N5), and what it paid joins the total once it has run out."""
    e = engine(HALF)
    clock = FakeClock(local(23, 14))
    limits = e.limits_of("game")
    assert limits is not None
    day = e.quota_day(clock.now)
    e.grant("alex", "game", 600, clock.now, until=local(23, 16))
    e.grant("alex", "game", 600, clock.now, until=local(23, 17))
    assert e.day_total("alex", limits, day, clock.now) == (
        1800, ((600, 0, local(23, 16)), (600, 0, local(23, 17))))
    # 5 minutes of the 16:00 grant: it ends first, so it pays first (review-1215-s12 F1)
    assert play(e, clock, 300, 1) == 300
    assert e.day_total("alex", limits, day, clock.now) == (
        1800, ((300, 300, local(23, 16)), (600, 0, local(23, 17))))
    clock.set_wall(local(23, 16))
    e.due(clock.now)
    assert e.day_total("alex", limits, day, clock.now) == (2100, ((600, 0, local(23, 17)),))


def test_time_given_until_a_moment_pays_before_the_quota_which_is_left_after_it() -> None:
    """20 of 30 minutes used, +10m until 17:00, 5 minutes played: the grant paid them
    (it ends first: review-1215-s12 F1); its other 5 end at 17:00, and the quota's 10
    minutes are left after it (before: the quota paid them, and 5 were left)."""
    e = engine(HALF)
    clock = FakeClock(local(23, 14))
    limits = e.limits_of("game")
    assert limits is not None
    assert play(e, clock, 1200, 1) == 1200
    e.grant("alex", "game", 600, clock.now, until=local(23, 17))
    assert play(e, clock, 300, 2) == 300
    assert e.day_total("alex", limits, e.quota_day(clock.now), clock.now) == (
        1800, ((300, 300, local(23, 17)),))
    clock.set_wall(local(23, 17))
    [gone] = expired(e, clock)
    assert (gone.paid_s, gone.unused_s) == (300, 300)
    assert e.availability("alex", "game", clock.now).remaining_today_s == 600


@pytest.mark.parametrize("start", [2, 30])
def test_a_session_runs_on_the_later_grant_after_the_sooner_one_is_used_up(start: int) -> None:
    """Quota 30m used; at 15:00 +20m until 15:40 and +20m until 16:20 (review 15-s9
    MEDIUM-1). Launched at 15:02, the 15:40 grant pays 15:02-15:22 and the 16:20 one
    15:22-15:42: the game may run 40 minutes, not stop at 15:40. Launched at 15:30, the
    15:40 grant pays ten minutes and the 16:20 one twenty: until 16:00."""
    e = engine(HALF)
    clock = FakeClock(local(23, 10))
    assert play(e, clock, 1800, 1) == 1800
    clock.set_wall(local(23, 15))
    e.grant("alex", "game", 1200, clock.now, until=local(23, 15, 40))
    e.grant("alex", "game", 1200, clock.now, until=local(23, 16, 20))
    clock.set_wall(local(23, 15, start))
    runs = 2400 if start == 2 else 1800
    assert e.availability("alex", "game", clock.now).time_left_s == pytest.approx(runs)
    assert isinstance(e.launch("alex", "game", clock.now, 2), SessionStarted)
    deadline = e.deadline(2, clock.now)
    assert deadline is not None and deadline.remaining_s == pytest.approx(runs)
    clock.advance((40 - start) * 60)
    [sooner] = expired(e, clock)
    assert sooner.paid_s == pytest.approx(min(40 - start, 20) * 60)
    deadline = e.deadline(2, clock.now)
    assert deadline is not None
    assert deadline.remaining_s == pytest.approx(runs - (40 - start) * 60)


def test_taking_back_for_today_never_spends_what_the_weeks_grant_has_left() -> None:
    """Review 15-s9 MEDIUM-2 (Tuesday 30m quota used; at 10:40 +10m for the week, +10m
    until 12:00 and +10m for today; 25 minutes played; at 11:12 -10m): the quota, the
    time for today and the 12:00 grant paid for 50 minutes, the week's grant for 5. Today
    has nothing of its own left to take back, so the week's 5 minutes stay the week's:
    Wednesday has 35 minutes (30 + 5), not 30."""
    e = engine('[[entries]]\nid = "game"\ncommand = ["game"]\n'
               'limits = { daily_quota = "30m", weekly_quota = "10h" }\n')
    clock = FakeClock(local(24, 10))
    assert play(e, clock, 1800, 1) == 1800
    clock.set_wall(local(24, 10, 40))
    e.grant("alex", "game", 600, clock.now, week=True)
    e.grant("alex", "game", 600, clock.now, until=local(24, 12))
    e.grant("alex", "game", 600, clock.now)
    assert play(e, clock, 1500, 2) == 1500
    clock.set_wall(local(24, 11, 12))
    taken = e.grant("alex", "game", 600, clock.now, mode="take")
    assert taken.timed_taken_s == 0 and taken.taken_from == ()
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(300)
    clock.set_wall(local(24, 13))
    [timed] = expired(e, clock)
    assert timed.paid_s == pytest.approx(600) and timed.unused_s == pytest.approx(0)
    clock.set_wall(local(25, 10))
    e.due(clock.now)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(2100)


@pytest.mark.parametrize(("today", "left", "after"), [
    (("set", 300), 300, 300),
    # a take-back for today takes the day's own hour only; the week's hour stays today's
    # until it is taken back (review-1215-s9 HIGH-2: the README's rule)
    (("take", 3600), 3600, 0),
])
def test_taking_back_the_weeks_time_never_takes_what_a_set_day_already_gave_up(
        today: tuple[str, int], left: float, after: float) -> None:
    """Review 12-s9 M2: ``+1h --until week``, then ``=5m`` (or ``-1h``) today, then
    ``-1h --until week``: the day keeps what it was set to (the set already left the
    week's hour out of it), and a later ``+5m`` gives 5 minutes."""
    e = engine(DAILY)
    clock = FakeClock(local(23, 15))
    e.grant("alex", "game", 3600, clock.now, week=True)
    mode, seconds = today
    e.grant("alex", "game", seconds, clock.now, mode=mode)  # type: ignore[arg-type]
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(left)
    answer = e.grant("alex", "game", 3600, clock.now, mode="take", week=True)
    assert answer.timed_taken_s == 3600
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(after)
    e.grant("alex", "game", 300, clock.now)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(
        after + 300)
    clock.set_wall(local(24, 15))  # Tuesday: its own hour, the week's hour is gone
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(3600)


def test_a_set_made_before_the_weeks_time_was_given_stays_when_it_is_taken_back() -> None:
    """The other order: ``=5m``, then ``+1h --until week``, then ``-1h --until week``:
    the day is back at the 5 minutes it was set to, not at its quota."""
    e = engine(DAILY)
    clock = FakeClock(local(23, 15))
    e.grant("alex", "game", 300, clock.now, mode="set")
    e.grant("alex", "game", 3600, clock.now, week=True)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(3900)
    e.grant("alex", "game", 3600, clock.now, mode="take", week=True)
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(300)


def test_time_given_until_a_moment_is_used_before_the_days_own_time() -> None:
    """Review-1215-s12 F1 (before it, review 12-s9 M1 used the day's own time first): the
    time that runs out soonest is used first. With the day's hour left at 10:00: of 10
    minutes until 10:05, 5 can be used before then (not none); 10 minutes until 11:05
    and 10 more until 11:10 can all be used after them, and the hour after those."""
    e = engine(DAILY)
    clock = FakeClock(local(23, 10))
    answer = e.grant("alex", "game", 600, clock.now, until=local(23, 10, 5))
    [cap] = [c for c in answer.capped_by if c.kind == "grant_end"]
    assert cap.usable_s == pytest.approx(300)
    answer = e.grant("alex", "game", 600, clock.now, until=local(23, 11, 5))
    assert not [c for c in answer.capped_by if c.kind == "grant_end"]
    answer = e.grant("alex", "game", 600, clock.now, until=local(23, 11, 10))
    assert not [c for c in answer.capped_by if c.kind == "grant_end"]
    assert play(e, clock, 9000, 1) == 300 + 600 + 600 + 3600  # what the caps said, no more


def test_a_take_back_with_several_timed_grants_answers_what_is_left_of_each() -> None:
    """Review 12-s9 M3: ``=2m``, +10m until 12:00, +5m until 03:59, 1 minute played
    (the 12:00 grant paid it: it ends first, review-1215-s12 F1), ``-5m``: the 2 minutes
    of the day's own time, then 3 of the 03:59 ones; the answer's parts are after the
    take."""
    e = engine(DAILY)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "game", 120, clock.now, mode="set")
    e.grant("alex", "game", 600, clock.now, until=local(23, 12))
    e.grant("alex", "game", 300, clock.now, until=local(24, 3, 59))
    assert play(e, clock, 60, 1) == 60
    answer = e.grant("alex", "game", 300, clock.now, mode="take")
    assert answer.timed_taken_s == 180 and answer.seconds == -120
    assert answer.on_top == ((540, local(23, 12)), (120, local(24, 3, 59)))
    assert answer.allowance_s == 60 + 660
    assert e.availability("alex", "game", clock.now).remaining_today_s == pytest.approx(660)


# -- review-1215-s12 F1: the time that runs out soonest pays first --

DINNER = """
[[entries]]
id = "game"
command = ["game"]
limits = { daily_quota = "1h", max_run = "45m", cooldown = "30m" }
"""


def test_half_an_hour_until_dinner_is_used_before_the_days_own_time() -> None:
    """F1's first repro: 30 of the day's 60 minutes played 15:30-16:00; ``+30m`` until
    18:00 given at 17:00 and a launch: the 30 minutes pay 17:00-17:30 (they end first),
    the day's own 15 more until the session limit at 17:45; after the rest, at 18:15,
    the day's last 15 minutes are still there (before: the day's 30 paid first, the
    session limit left 15 of the grant unused, and nothing was left after 18:15)."""
    e = engine(DINNER)
    clock = FakeClock(local(24, 15, 30))
    assert play(e, clock, 1800, 1) == 1800
    clock.set_wall(local(24, 17))
    e.grant("alex", "game", 1800, clock.now, until=local(24, 18))
    assert play(e, clock, 3600, 2) == 2700  # the session limit
    clock.set_wall(local(24, 18))
    [gone] = expired(e, clock)
    assert (gone.paid_s, gone.unused_s) == (1800, 0)
    clock.set_wall(local(24, 18, 15))
    assert e.availability("alex", "game", clock.now).time_left_s == pytest.approx(900)
    assert play(e, clock, 3600, 3) == pytest.approx(900)


def test_five_minutes_until_10_05_are_used_before_the_days_ten() -> None:
    """F1's simpler repro: a 10m-a-day entry, ``+5m`` until 10:05 at 10:00, a launch: it
    may run 15 minutes (the 5 first, then the day's 10), the grant noted as all used."""
    e = engine('[[entries]]\nid = "game"\ncommand = ["game"]\n'
               'limits = { daily_quota = "10m" }\n')
    clock = FakeClock(local(24, 10))
    answer = e.grant("alex", "game", 300, clock.now, until=local(24, 10, 5))
    assert not [c for c in answer.capped_by if c.kind == "grant_end"]
    assert isinstance(e.launch("alex", "game", clock.now, 1), SessionStarted)
    deadline = e.deadline(1, clock.now)
    assert deadline is not None and deadline.remaining_s == pytest.approx(900)
    clock.advance(300)  # 10:05, the game running
    [gone] = expired(e, clock)
    assert (gone.paid_s, gone.unused_s) == (300, 0)
    assert e.end_session(1, clock.advance(600), "exited").charged_s == pytest.approx(900)


SIX = '[[entries]]\nid = "game"\ncommand = ["game"]\nlimits = { daily_quota = "6m" }\n'


def test_grants_ending_together_never_pay_more_than_the_time_before_their_end() -> None:
    """review-15-s15 N3's small form, on 6m a day: +1m until 10:01 at 10:00, played to
    10:05 (1 minute of it the grant, 4 the quota); at 10:05 +1m until 10:06 and +4m until
    10:11, played to 10:06 (the 1m grant); at 10:06 +3m until 10:11; launched at 10:07.
    The two grants ending at 10:11 can pay only the 4 minutes before it, then the
    quota's last 2: the session may run until 10:13 (the estimate said 10:14)."""
    e = engine(SIX)
    clock = FakeClock(local(24, 10))
    e.grant("alex", "game", 60, clock.now, until=local(24, 10, 1))
    assert isinstance(e.launch("alex", "game", clock.now, 1), SessionStarted)
    e.due(clock.advance(60))  # 10:01: the grant paid its minute
    assert e.end_session(1, clock.advance(240), "exited").charged_s == 300
    e.grant("alex", "game", 60, clock.now, until=local(24, 10, 6))
    e.grant("alex", "game", 240, clock.now, until=local(24, 10, 11))
    assert play(e, clock, 60, 2) == 60
    e.due(clock.now)
    e.grant("alex", "game", 180, clock.now, until=local(24, 10, 11))
    clock.advance(60)  # 10:07
    assert isinstance(e.launch("alex", "game", clock.now, 3), SessionStarted)
    deadline = e.deadline(3, clock.now)
    assert deadline is not None and deadline.remaining_s == pytest.approx(360)
    clock.advance(240)  # 10:11
    paid = {x.seconds: x.paid_s for x in expired(e, clock)}
    assert paid == {240: pytest.approx(240), 180: pytest.approx(0)}


TEN = '[[entries]]\nid = "game"\ncommand = ["game"]\nlimits = { daily_quota = "10m" }\n'


@pytest.mark.parametrize("minute", [15, 31])
def test_setting_the_day_after_a_used_timed_grant_never_gives_more_than_it_sets(
        minute: int) -> None:
    """review-15-s15 N2: 10m a day, +10m until 10:30 at 10:00, all of it played by 10:10;
    ``=5m`` at 10:15 (the grant still counts, nothing left of it) or 10:31 (it ran out):
    5 minutes is the day's whole allowance and 10 were played: nothing more, ever that
    day, and the answer is held at what was used (10m in all, not 15m)."""
    e = engine(TEN)
    clock = FakeClock(local(24, 10))
    e.grant("alex", "game", 600, clock.now, until=local(24, 10, 30))
    assert play(e, clock, 600, 1) == 600
    clock.set_wall(local(24, 10, minute))
    e.due(clock.now)
    answer = e.grant("alex", "game", 300, clock.now, mode="set")
    assert answer.allowance_s == 600 and answer.held_at_used
    assert e.availability("alex", "game", clock.now).remaining_today_s == 0
    clock.set_wall(local(24, 10, 45))
    e.due(clock.now)
    assert e.availability("alex", "game", clock.now).remaining_today_s == 0


TWO_MINUTES = DAILY.replace('daily_quota = "1h"', 'daily_quota = "2m"')


@pytest.mark.parametrize(("launched", "given", "usable"), [
    # review-15-s15 N6, the daemon's two: a minute until 07:41 given at 07:40:00.3 (the
    # fraction of the second it came in is no time a parent gave), and a minute until
    # 07:35 given during a session at 07:32:54.7, two minutes before its end (the
    # walk's sum came to 59.99999999999999)
    (None, timedelta(minutes=40, seconds=0.3), None),
    (timedelta(minutes=32, seconds=23.4), timedelta(minutes=32, seconds=54.7), None),
    # a second and more short is said, in whole seconds it can be used (rounded down)
    (None, timedelta(minutes=40, seconds=1.5), 58),
    (timedelta(minutes=39), timedelta(minutes=40, seconds=1.5), 58),
], ids=["given at 07:40:00.3", "during a session", "at 07:40:01.5", "running, 07:40:01.5"])
def test_a_timed_grant_that_can_all_be_used_says_no_only(
        launched: timedelta | None, given: timedelta, usable: float | None) -> None:
    e = engine(TWO_MINUTES)
    seven = local(23, 7)
    clock = FakeClock(seven)
    if launched is not None:
        clock.set_wall(seven + launched)
        assert isinstance(e.launch("alex", "game", clock.now, 1), SessionStarted)
    clock.advance((seven + given - clock.wall).total_seconds())
    ends = local(23, 7, 35) if given < timedelta(minutes=35) else local(23, 7, 41)
    answer = e.grant("alex", "game", 60, clock.now, until=ends)
    caps = [c.usable_s for c in answer.capped_by if c.kind == "grant_end"]
    assert caps == ([] if usable is None else [usable])


GRACED = """
[[entries]]
id = "game"
command = ["game"]
limits = { daily_quota = "2m" }
[[groups]]
id = "g"
entries = ["game"]
daily_quota = "1m"
"""


def test_a_group_grant_whose_moment_comes_in_a_members_stop_grace_pays_nothing_for_it() -> None:
    """The game's own 2 minutes run out at 16:02 and it is being stopped (its deadline
    held); the group's 30 minutes until 16:03 run out inside the stop's grace. The grant
    pays for the 2 minutes charged, not for the grace nobody is charged (review-15-s24c
    F2: it paid 180 s, and the group had 2 minutes left instead of 1)."""
    e = engine(GRACED)
    clock = FakeClock(local(23, 16))
    e.grant("alex", "g", 1800, clock.now, until=local(23, 16, 3))
    assert isinstance(e.launch("alex", "game", clock.now, 1), SessionStarted)
    deadline = e.deadline(1, clock.now)
    assert deadline is not None and deadline.remaining_s == pytest.approx(120)
    clock.advance(120)  # 16:02: the game's own quota is used up; its SIGTERM goes
    assert e.hold_deadline(1, clock.now)
    clock.advance(60)  # 16:03, still in its grace
    [gone] = expired(e, clock)
    assert gone.paid_s == pytest.approx(120)
    ended = e.end_session(1, clock.advance(60), "stopped")  # 16:04: it is gone at last
    assert ended.charged_s == pytest.approx(120)
    group = e.limits_of("g")
    assert group is not None
    # the group's minute and the 2 minutes the grant paid: 1 minute of it is left
    assert e.day_total("alex", group, e.quota_day(clock.now), clock.now) == (
        pytest.approx(180), ())
    assert e.used("alex", group.members, e.quota_day(clock.now), clock.now) == (
        pytest.approx(120))
