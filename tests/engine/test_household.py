"""Rule 13: the other machines of a household, as values (their use, their sessions)."""

from __future__ import annotations

from datetime import date

import pytest

from shepherd.engine import (
    AlreadyRunning,
    GroupQuotaExhausted,
    Household,
    LaunchDenied,
    QuotaExhausted,
    RemoteSession,
    SessionStarted,
)
from tests.engine.conftest import FakeClock, alex_at_once, engine, local

DAY = date(2026, 11, 25)
GAMES = """
[[entries]]
id = "minecraft"
command = ["minecraft"]
limits = { daily_quota = "1h" }

[[entries]]
id = "celeste"
command = ["celeste"]

[[groups]]
id = "games"
entries = ["minecraft", "celeste"]
daily_quota = "30m"
"""
TWO = alex_at_once(2)


def remote(clock: FakeClock, entry: str = "celeste", *, user: str = "alex", age: float = 0.0,
           left: float | None = None, machine: str = "desktop", sid: int = 1,
           paused: bool = False) -> RemoteSession:
    seen = clock.mono - age
    pause = {"cause": "locked", "since": clock.wall.isoformat()} if paused else None
    return RemoteSession(machine, sid, user, entry, clock.wall, seen,
                         None if left is None else seen + left, pause)


def test_other_machines_use_counts_on_the_entry_and_its_groups() -> None:
    e = engine(GAMES)
    clock = FakeClock(local(25, 16))
    e.set_household(Household(usage={("alex", "minecraft", DAY): 1200.0}))
    verdict = e.availability("alex", "celeste", clock.now)
    assert verdict.time_left_s == pytest.approx(600)  # the group's 30m less desktop's 20m
    e.set_household(Household(usage={("alex", "minecraft", DAY): 3600.0}))
    denial = e.launch("alex", "minecraft", clock.now, 1)
    assert isinstance(denial, LaunchDenied)
    assert {type(r) for r in denial.reasons} == {QuotaExhausted, GroupQuotaExhausted}
    assert e.availability("sam", "minecraft", clock.now).reasons == ()  # another child's


def test_a_session_on_another_machine_counts_toward_max_sessions() -> None:
    e = engine(GAMES)
    clock = FakeClock(local(25, 16))
    e.set_household(Household(sessions=(remote(clock, "celeste", sid=41),)))
    denial = e.launch("alex", "minecraft", clock.now, 1)
    assert isinstance(denial, LaunchDenied)
    assert denial.reasons == (AlreadyRunning((41,), 1, False),)


def test_the_same_entry_running_elsewhere_is_already_running_whatever_max_sessions() -> None:
    e = engine(GAMES, TWO)
    clock = FakeClock(local(25, 16))
    e.set_household(Household(sessions=(remote(clock, "minecraft", sid=7),)))
    denial = e.launch("alex", "minecraft", clock.now, 1)
    assert isinstance(denial, LaunchDenied)
    assert denial.reasons == (AlreadyRunning((7,), 2, True),)
    assert isinstance(e.launch("alex", "celeste", clock.now, 2), SessionStarted)


def test_a_group_quota_is_shared_with_sessions_on_other_machines() -> None:
    e = engine(GAMES, TWO)
    clock = FakeClock(local(25, 16))
    alone = e.launch("alex", "minecraft", clock.now, 1)
    assert isinstance(alone, SessionStarted) and alone.deadline is not None
    assert alone.deadline.remaining_s == pytest.approx(1800)
    e.set_household(Household(sessions=(remote(clock, "celeste"),)))
    shared = e.deadline(1, clock.now)
    assert shared is not None and shared.remaining_s == pytest.approx(900)
    assert shared.cause == "group_quota"


def test_use_since_a_remote_checkpoint_counts_until_its_announced_deadline() -> None:
    e = engine(GAMES, TWO)
    clock = FakeClock(local(25, 16))
    e.set_household(Household(sessions=(remote(clock, "celeste", age=60, left=300),)))
    assert e.used("alex", ("celeste",), DAY, clock.now) == pytest.approx(60)
    clock.advance(600)  # silent ever since: counted as used up to its deadline, no further
    assert e.used("alex", ("celeste",), DAY, clock.now) == pytest.approx(300)
    assert e.household.running("alex", clock.now) == []  # and no longer running
    assert e.availability("alex", "minecraft", clock.now).time_left_s == pytest.approx(1500)


def test_a_silent_session_without_a_deadline_keeps_counting() -> None:
    e = engine(GAMES, TWO)
    clock = FakeClock(local(25, 16))
    e.set_household(Household(sessions=(remote(clock, "celeste", left=None),)))
    clock.advance(1800)
    denial = e.launch("alex", "minecraft", clock.now, 1)
    assert isinstance(denial, LaunchDenied)
    assert any(isinstance(r, GroupQuotaExhausted) for r in denial.reasons)


def test_a_session_paused_elsewhere_spends_nothing_and_shares_nothing_but_still_runs() -> None:
    e = engine(GAMES, TWO)
    clock = FakeClock(local(25, 16))
    assert isinstance(e.launch("alex", "minecraft", clock.now, 1), SessionStarted)
    e.set_household(Household(sessions=(remote(clock, "celeste", age=60, left=300, sid=9,
                                               paused=True),)))
    clock.advance(600)  # paused all along (rule 12): none of it is used, its time left stands
    assert e.used("alex", ("celeste",), DAY, clock.now) == 0.0
    [there] = e.household.running("alex", clock.now)
    assert there.remaining_s(clock.now) == pytest.approx(300)
    mine = e.deadline(1, clock.now)  # the group's 30 minutes are not shared with it
    assert mine is not None and mine.remaining_s == pytest.approx(1800 - 600)
    denial = e.launch("alex", "celeste", clock.now, 2)  # the same entry: still running there
    assert isinstance(denial, LaunchDenied)
    assert denial.reasons == (AlreadyRunning((9,), 2, True),)
    # Its machine says it is back: shared again, and its use since counted.
    e.set_household(Household(sessions=(remote(clock, "celeste", left=300),)))
    clock.advance(60)
    shared = e.deadline(1, clock.now)
    assert shared is not None and shared.remaining_s == pytest.approx((1800 - 660 - 60) / 2)
