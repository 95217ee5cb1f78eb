"""Grants as a parent means them: +D adds, -D takes back (never below what was used),
=D sets today's whole allowance; a grant a group cap or a window makes useless says so."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shepherd.engine import (
    ActionRefused,
    GroupQuotaExhausted,
    OutsideWindow,
    QuotaExhausted,
    SessionDue,
    SessionStarted,
)
from shepherd.engine.grants import GRANT_MODES, GrantRefused, grant_change
from tests.engine.conftest import FakeClock, engine, local

GAME = """
[[entries]]
id = "game"
command = ["game"]
limits = { daily_quota = "1h" }
[[entries]]
id = "free"
command = ["free"]
[[entries]]
id = "evening"
command = ["e"]
limits = { daily_quota = "1h" }
windows = [ { days = "daily", start = "18:00", end = "20:00" } ]
[[entries]]
id = "morning"
command = ["m"]
limits = { daily_quota = "1h" }
windows = [ { days = "daily", start = "08:00", end = "10:00" } ]
[[groups]]
id = "games"
entries = ["game", "morning"]
daily_quota = "30m"
"""


def test_plus_adds_to_todays_allowance() -> None:
    e, clock = engine(GAME), FakeClock(local(25, 16))
    granted = e.grant("alex", "game", 900, clock.now, "add")
    assert (granted.seconds, granted.allowance_s, granted.held_at_used) == (900, 4500, False)
    assert e.availability("alex", "game", clock.now).remaining_today_s == 4500


def test_minus_takes_back_but_never_below_what_was_used() -> None:
    e, clock = engine(GAME), FakeClock(local(25, 16))
    e.usage[("alex", "game", e.quota_day(clock.now))] = 1200.0  # 20 minutes used today
    taken = e.grant("alex", "game", 900, clock.now, "take")
    assert (taken.seconds, taken.allowance_s, taken.held_at_used) == (-900, 2700, False)
    assert e.availability("alex", "game", clock.now).remaining_today_s == 1500
    held = e.grant("alex", "game", 3600, clock.now, "take")
    assert (held.allowance_s, held.held_at_used, held.used_s) == (1200, True, 1200.0)
    verdict = e.availability("alex", "game", clock.now)
    assert verdict.remaining_today_s == 0
    assert isinstance(verdict.reasons[0], QuotaExhausted) and verdict.reasons[0].quota_s == 1200
    again = e.grant("alex", "game", 60, clock.now, "take")
    assert (again.seconds, again.allowance_s) == (0, 1200)  # nothing more can be taken


def test_equals_sets_the_whole_allowance_quota_and_grants_together() -> None:
    e, clock = engine(GAME), FakeClock(local(25, 16))
    e.grant("alex", "game", 600, clock.now, "add")
    set_to = e.grant("alex", "game", 5400, clock.now, "set")
    assert (set_to.seconds, set_to.allowance_s) == (5400 - 3600 - 600, 5400)
    assert e.availability("alex", "game", clock.now).remaining_today_s == 5400
    lower = e.grant("alex", "game", 600, clock.now, "set")
    assert lower.allowance_s == 600 and e.granted("alex", "game", e.quota_day(clock.now)) == -3000
    e.usage[("alex", "game", e.quota_day(clock.now))] = 1200.5
    held = e.grant("alex", "game", 0, clock.now, "set")
    assert (held.allowance_s, held.held_at_used) == (1201, True)


def test_taking_time_from_a_running_session_ends_it_when_nothing_is_left() -> None:
    e, clock = engine(GAME), FakeClock(local(25, 16))
    started = e.launch("alex", "game", clock.now, 1)
    assert isinstance(started, SessionStarted)
    clock.advance(600)
    e.charge(clock.now)
    e.grant("alex", "game", 3600, clock.now, "take")
    deadline = e.deadline(1, clock.now)
    assert deadline is not None and deadline.remaining_s <= 0
    assert any(isinstance(ev, SessionDue) for ev in e.due(clock.now))


def test_a_group_budget_is_granted_the_same_way() -> None:
    e, clock = engine(GAME), FakeClock(local(25, 16))
    group = e.grant("alex", "games", 600, clock.now, "set")
    assert (group.allowance_s, group.seconds) == (600, -1200)
    assert e.grant("alex", "games", 300, clock.now, "add").allowance_s == 900


def test_an_unlimited_target_refuses_take_and_set_and_adding_changes_nothing() -> None:
    e, clock = engine(GAME), FakeClock(local(25, 16))
    for mode in ("take", "set"):
        with pytest.raises(ActionRefused, match="no daily limit"):
            e.grant("alex", "free", 900, clock.now, mode)  # type: ignore[arg-type]
    added = e.grant("alex", "free", 900, clock.now, "add")
    assert added.allowance_s is None


def test_a_grant_made_useless_by_a_group_cap_or_a_closed_window_names_what_limits_it() -> None:
    e, clock = engine(GAME), FakeClock(local(25, 16))
    e.usage[("alex", "game", e.quota_day(clock.now))] = 1800.0  # the games budget is spent
    limits = e.grant("alex", "game", 900, clock.now, "add").limited_by
    assert [type(r) for r in limits] == [GroupQuotaExhausted]
    # The morning window is over for today: useless today, and said so.
    morning = e.grant("alex", "morning", 900, clock.now, "add").limited_by
    assert {type(r) for r in morning} == {GroupQuotaExhausted, OutsideWindow}
    # The evening window opens later today: the grant is usable, nothing to say.
    assert e.grant("alex", "evening", 900, clock.now, "add").limited_by == ()


def test_lock_then_unlock_leaves_no_cooldown() -> None:
    e = engine('[[entries]]\nid = "game"\ncommand = ["g"]\nlimits = { cooldown = "30m" }\n')
    clock = FakeClock(local(25, 16))
    assert isinstance(e.launch("alex", "game", clock.now, 1), SessionStarted)
    clock.advance(60)
    [ended] = e.lock("alex", clock.now)
    assert ended.cooldown_until is None
    e.unlock("alex")
    assert e.availability("alex", "game", clock.now).state == "available"
    # A session that ends any other way still starts its rest.
    assert isinstance(e.launch("alex", "game", clock.now, 2), SessionStarted)
    assert e.end_session(2, clock.advance(60), "stopped_by_admin").cooldown_until is not None


@given(mode=st.sampled_from(GRANT_MODES), seconds=st.integers(0, 20_000),
       quota=st.integers(0, 20_000), granted=st.integers(-20_000, 20_000),
       used=st.floats(0, 40_000, allow_nan=False))
def test_no_change_takes_back_time_already_used_and_take_never_gives(
        mode: str, seconds: int, quota: int, granted: int, used: float) -> None:
    before = quota + granted
    change = grant_change(mode, seconds, quota, granted, used)  # type: ignore[arg-type]
    after = before + change.delta_s
    assert after == change.allowance_s
    if mode == "add":
        assert after == before + seconds
    elif mode == "take":
        assert after <= before
        assert after >= min(before, used - 1e-6)
    else:
        assert after >= used - 1e-6
        assert change.held_at_used or after == seconds


def test_a_negative_duration_is_refused() -> None:
    with pytest.raises(GrantRefused):
        grant_change("add", -5, 3600, 0, 0.0)


def test_a_grant_still_capped_by_a_group_budget_says_how_much_the_budget_allows() -> None:
    """Review F1: the games budget (30m) still allows less than the entry's 1h15m, though
    it is not used up: the grant says so, with what the budget still allows."""
    e, clock = engine(GAME), FakeClock(local(25, 16))
    e.usage[("alex", "game", e.quota_day(clock.now))] = 600.0  # 10 of the games' 30m
    granted = e.grant("alex", "game", 900, clock.now, "add")
    assert granted.limited_by == ()
    assert [(c.kind, c.group, c.usable_s) for c in granted.capped_by] == [
        ("group_quota", "games", 1200.0)]
    # Enough budget for the whole allowance: no cap to tell.
    e.grant("alex", "games", 7200, clock.now, "add")
    assert e.grant("alex", "game", 60, clock.now, "add").capped_by == ()


def test_a_grant_still_capped_by_the_hours_left_today_says_until_when() -> None:
    """Review F1: at 19:30 only half an hour of the evening window is left today."""
    e, clock = engine(GAME), FakeClock(local(25, 19, 30))
    granted = e.grant("alex", "evening", 3600, clock.now, "add")
    assert granted.limited_by == ()
    [cap] = granted.capped_by
    assert (cap.kind, cap.usable_s, cap.until) == ("window", 1800.0, local(25, 20))
    # Before the window opens, the whole window is what is left of today's hours.
    early = FakeClock(local(25, 16))
    assert [(c.kind, c.usable_s) for c in e.grant("alex", "evening", 60, early.now).capped_by] \
        == [("window", 7200.0)]


def test_a_grant_on_a_running_session_names_what_still_ends_it() -> None:
    e, clock = engine(GAME), FakeClock(local(25, 16))
    assert isinstance(e.launch("alex", "game", clock.now, 1), SessionStarted)
    clock.advance(600)
    [cap] = e.grant("alex", "game", 900, clock.now, "add").capped_by
    assert (cap.kind, cap.group) == ("group_quota", "games")
    assert cap.usable_s == pytest.approx(1200.0)
    assert cap.until == local(25, 16, 30)


def test_a_grant_with_nothing_left_to_cap_names_only_what_refuses() -> None:
    e, clock = engine(GAME), FakeClock(local(25, 16))
    e.usage[("alex", "game", e.quota_day(clock.now))] = 1800.0  # the games budget is spent
    granted = e.grant("alex", "game", 900, clock.now, "add")
    assert [type(r) for r in granted.limited_by] == [GroupQuotaExhausted]
    assert granted.capped_by == ()  # already said by limited_by
    assert e.grant("alex", "free", 900, clock.now, "add").capped_by == ()  # no daily limit
    assert e.grant("alex", "games", 900, clock.now, "add").capped_by == ()  # a group


def test_a_grant_on_an_entry_the_child_does_not_have_is_refused() -> None:
    """Review 12 F9: `grant sam tiny +5m` was recorded, though tiny is not sam's."""
    e = engine(GAME + '[[entries]]\nid = "tiny"\nlabel = "Tiny Game"\ncommand = ["t"]\n'
                      'users = ["alex"]\nlimits = { daily_quota = "40s" }\n')
    clock = FakeClock(local(25, 16))
    with pytest.raises(ActionRefused, match="Tiny Game is not one of sam's entries"):
        e.grant("sam", "tiny", 300, clock.now, "add")
    assert e.granted("sam", "tiny", e.quota_day(clock.now)) == 0
    assert e.grant("alex", "tiny", 300, clock.now, "add").allowance_s == 340


def test_a_preview_says_what_a_grant_would_do_and_changes_nothing() -> None:
    """The TUI asks before it grants, in the words the grant will answer with."""
    e, clock = engine(GAME), FakeClock(local(25, 19, 30))
    preview = e.preview_grant("alex", "evening", 3600, clock.now, "add")
    assert (preview.allowance_s, [c.kind for c in preview.capped_by]) == (7200, ["window"])
    assert e.granted("alex", "evening", e.quota_day(clock.now)) == 0
    assert e.availability("alex", "evening", clock.now).remaining_today_s == 3600


WEEKLY = """
[[entries]]
id = "mc"
label = "Minecraft"
command = ["mc"]
limits = { daily_quota = "1h", weekly_quota = "3h" }
[[entries]]
id = "tv"
command = ["tv"]
[[groups]]
id = "screens"
entries = ["tv"]
daily_quota = "1h"
weekly_quota = "2h"
"""


def test_a_grant_names_what_the_weeks_quota_still_allows() -> None:
    """Review (words3): `grant =30m` said "30m in all today" while only 21m were left this
    week. 2h39m of the week's 3h are used (yesterday): a grant for today names the week."""
    e, clock = engine(WEEKLY), FakeClock(local(25, 16))
    day = e.quota_day(clock.now)
    e.usage[("alex", "mc", day - timedelta(days=1))] = 2 * 3600 + 39 * 60
    assert e.availability("alex", "mc", clock.now).remaining_today_s == 21 * 60
    added = e.grant("alex", "mc", 900, clock.now, "add")  # counts toward the week too
    assert (added.allowance_s, added.limited_by) == (4500, ())
    assert [(c.kind, c.period, c.usable_s) for c in added.capped_by] == [
        ("quota", "week", 36 * 60)]
    # Setting today's total below the quota sets the day, not the week: the day's 30m
    # with 21m of the week left leaves the week's 21m, and the answer names the week
    # (s17: a set no longer cuts the week's last minutes too; it left nothing before).
    e, clock = engine(WEEKLY), FakeClock(local(25, 16))
    e.usage[("alex", "mc", day - timedelta(days=1))] = 2 * 3600 + 39 * 60
    cut = e.grant("alex", "mc", 1800, clock.now, "set")
    assert (cut.allowance_s, cut.limited_by) == (1800, ())
    assert [(c.kind, c.period, c.usable_s) for c in cut.capped_by] == [
        ("quota", "week", 21 * 60)]
    assert e.availability("alex", "mc", clock.now).remaining_today_s == 21 * 60


def test_a_grant_on_a_group_names_what_its_week_still_allows() -> None:
    e, clock = engine(WEEKLY), FakeClock(local(25, 16))
    day = e.quota_day(clock.now)
    e.usage[("alex", "tv", day - timedelta(days=2))] = 6000.0  # 20m of the week's 2h left
    granted = e.grant("alex", "screens", 600, clock.now, "add")
    assert [(c.kind, c.group, c.period, c.usable_s) for c in granted.capped_by] == [
        ("group_quota", "screens", "week", 1800.0)]


def test_a_take_back_that_ends_the_running_session_says_it_stops_now_and_warns_nobody() -> None:
    """Review s7 M1/L2: 38s used of a running session, "-15m" leaves nothing: the answer
    names the session's end now, and the child gets no "0 seconds left" warning.
    (-1h here: the games budget of 30 minutes would otherwise end it first.)"""
    e = engine(GAME)
    clock = FakeClock(local(25, 15))
    assert isinstance(e.launch("alex", "game", clock.now, 1), SessionStarted)
    clock.advance(38.5)
    answer = e.grant("alex", "game", 3600, clock.now, mode="take")
    assert [(c.running, c.kind) for c in answer.capped_by] == [(True, "quota")]
    assert answer.capped_by[0].usable_s < 2
    clock.advance(0.3)
    events = e.due(clock.now)
    assert not [x for x in events if type(x).__name__ == "WarningIssued"]
    clock.advance(1)
    assert any(isinstance(x, SessionDue) for x in e.due(clock.now))


def test_a_grant_on_a_group_of_a_locked_child_names_the_lock() -> None:
    """Review s7 M7: the answer for a group carries the lock as an entry's does."""
    e, clock = engine(GAME), FakeClock(local(25, 16))
    e.locked.add("alex")
    for target in ("games", "game"):
        granted = e.grant("alex", target, 300, clock.now)
        assert [r.code for r in granted.limited_by] == ["locked"], target


def test_a_grant_to_an_unknown_target_lists_the_entries_and_groups() -> None:
    """Review s7 L8: as ``launch`` does, so a typo can be put right."""
    e, clock = engine(GAME), FakeClock(local(25, 16))
    with pytest.raises(ActionRefused) as refused:
        e.grant("alex", "nosuch", 300, clock.now)
    said = str(refused.value)
    assert said.startswith("there is no entry or group called 'nosuch'; alex's entries are ")
    assert "game" in said and "evening" in said and said.endswith("and the groups are games")


EVENINGS = """
[[entries]]
id = "early"
command = ["e"]
limits = { daily_quota = "2h" }
windows = [ { days = "daily", start = "17:00", end = "18:30" } ]
[[entries]]
id = "late"
command = ["l"]
limits = { daily_quota = "2h" }
windows = [ { days = "daily", start = "18:00", end = "19:00" } ]
[[groups]]
id = "games"
entries = ["early", "late"]
daily_quota = "1h"
"""


def test_a_group_grant_is_capped_by_the_hours_any_of_its_entries_has_left() -> None:
    """Review-1215-s12 F3: the hours of the group's entries, together (17:00-19:00 here),
    cap a grant on the group as an entry's own hours cap a grant on the entry."""
    e = engine(EVENINGS)
    at_1750 = e.grant("alex", "games", 3600, FakeClock(local(25, 17, 50)).now, "add")
    assert at_1750.limited_by == ()
    [cap] = at_1750.capped_by
    assert (cap.kind, cap.group, cap.usable_s, cap.until) == (
        "window", "games", 4200.0, local(25, 19))
    at_1850 = e.grant("alex", "games", 60, FakeClock(local(25, 18, 50)).now, "add")
    assert [(c.kind, c.usable_s, c.until) for c in at_1850.capped_by] == [
        ("window", 600.0, local(25, 19))]
    closed = e.grant("alex", "games", 60, FakeClock(local(25, 19, 30)).now, "add")
    assert [(c.kind, c.group, c.usable_s) for c in closed.capped_by] == [
        ("window", "games", 0.0)]
    # Hours enough for the whole budget (1h and a minute of 2h): nothing to tell.
    fresh = engine(EVENINGS)
    assert fresh.grant("alex", "games", 60, FakeClock(local(25, 9)).now, "add").capped_by == ()


def test_a_group_with_an_entry_without_hours_is_not_capped_by_hours() -> None:
    e = engine(EVENINGS.replace('windows = [ { days = "daily", start = "18:00", '
                                'end = "19:00" } ]\n', ""))
    assert e.grant("alex", "games", 60, FakeClock(local(25, 19, 30)).now, "add").capped_by == ()
