"""Crash recovery rules: which sessions are taken back, what a crashed session is
charged, and the cooldown it starts. The daemon only carries these out."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from shepherd.engine import ActionRefused, Engine, GrantExpired, SessionDue, SessionSnapshot
from tests.engine.conftest import PARIS, USERS, FakeClock, engine, local, policy

GAME = """
[[entries]]
id = "game"
command = ["game"]
limits = { daily_quota = "1h", cooldown = "30m" }
"""
STOP = USERS.replace("[supervisor]", '[supervisor]\non_restart = "stop"')
DAY = date(2026, 11, 25)
KEY = ("alex", "game", DAY)


def crashed(minutes_used: float, clock: FakeClock) -> tuple[SessionSnapshot, float]:
    """A session launched at 16:00 and checkpointed ``minutes_used`` later, as the store
    holds it after a crash: its usage includes the one second charged ahead."""
    before = engine(GAME)
    start = FakeClock(local(25, 16), clock.mono)
    before.launch("alex", "game", start.now, 7)
    before.charge(start.advance(minutes_used * 60))
    return before.snapshot(7), before.usage[KEY] + 1.0


def restarted(usage: float, text: str = GAME, users: str = USERS, **kwargs: object) -> Engine:
    return Engine(policy(text, users), PARIS, usage={KEY: usage},
                  **kwargs)  # type: ignore[arg-type]


def test_a_live_session_is_adopted_and_counted_exactly_without_the_lease() -> None:
    clock = FakeClock(local(25, 16))
    snap, stored = crashed(20, clock)
    e = restarted(stored)
    clock.set_wall(local(25, 16, 25))
    clock.mono += 25 * 60
    assert e.recover(snap, clock.now, alive=True, lease=(DAY, 1.0))
    assert e.session_ids() == [7]
    assert e.usage[KEY] == pytest.approx(20 * 60)  # the lease is not counted twice
    # The five minutes no daemon watched are charged at the next checkpoint.
    e.charge(clock.now)
    assert e.usage[KEY] == pytest.approx(25 * 60)
    with pytest.raises(ActionRefused):
        e.recover(snap, clock.now, alive=True)


def test_time_a_program_ran_unwatched_is_charged_in_full_even_past_its_deadline() -> None:
    clock = FakeClock(local(25, 16))
    snap, stored = crashed(55, clock)
    e = restarted(stored)
    clock.set_wall(local(25, 17, 10))  # the daemon came back 15 minutes later
    clock.mono += 70 * 60
    assert e.recover(snap, clock.now, alive=True, lease=(DAY, 1.0))
    assert SessionDue(7, "expired") in e.due(clock.now)
    ended = e.end_session(7, clock.advance(3), "expired")
    # 55 minutes checkpointed, 15 unwatched (the child had them), then 3 s past the
    # deadline while stopping (never charged).
    assert e.usage[KEY] == pytest.approx(70 * 60)
    assert ended.final_charge.forfeited_s == pytest.approx(3)


@pytest.mark.parametrize(("sigterm_at_min", "charged_s", "forfeited_s"), [
    (60, 70 * 60 - 10, 13),  # the alarm's SIGTERM at the deadline: its 10 s grace
    (62, 70 * 60 - 10, 13),  # (the grace of one sent later: from it)
    (58, 70 * 60, 3),  # (one whose grace ended before the books' deadline: none)
])
def test_the_grace_of_a_sigterm_the_alarm_sent_while_no_daemon_ran_is_not_charged(
        sigterm_at_min: int, charged_s: float, forfeited_s: float) -> None:
    """review-14-s19c R4: the alarm the last daemon left sent the deadline's SIGTERM
    while no daemon ran (noted: ``deadline_passed``); the program, ignoring it, ran on
    until the restart took it back. The stop's grace after the deadline (``stop_grace``,
    10 s here) is never charged (rule 6), as without a crash: it was charged in full, as
    unwatched time (1.5-1.8 s past a 6 s quota there). What ran on beyond the grace, with
    no daemon to end it, is charged in full (rule 11), and so is all of it when the
    note's grace ended before the books' own deadline."""
    clock = FakeClock(local(25, 16))
    snap, stored = crashed(55, clock)
    e = restarted(stored)
    start = clock.mono  # (its launch: ``crashed`` leaves this clock at 16:00)
    clock.set_wall(local(25, 17, 10))  # the daemon came back 15 minutes later
    clock.mono += 70 * 60
    assert e.recover(snap, clock.now, alive=True, lease=(DAY, 1.0),
                     deadline_passed=start + sigterm_at_min * 60)
    assert SessionDue(7, "expired") in e.due(clock.now)
    ended = e.end_session(7, clock.advance(3), "expired")
    assert e.usage[KEY] == pytest.approx(charged_s)
    assert ended.final_charge.forfeited_s == pytest.approx(forfeited_s)


@pytest.mark.parametrize("change", ["on_restart_stop", "entry_gone", "user_locked", "dead"])
def test_a_session_is_adopted_only_when_alive_wanted_and_still_allowed(change: str) -> None:
    clock = FakeClock(local(25, 16))
    snap, stored = crashed(20, clock)
    text = GAME.replace('"game"', '"other"') if change == "entry_gone" else GAME
    e = restarted(stored, text, STOP if change == "on_restart_stop" else USERS,
                  locked={"alex"} if change == "user_locked" else ())
    clock.advance(60)
    assert not e.recover(snap, clock.now, alive=change != "dead", lease=(DAY, 1.0))
    assert e.session_ids() == []
    assert e.usage[KEY] == stored  # nothing changes until the session is ended


def test_a_dead_session_keeps_its_charge_and_lease_and_starts_its_cooldown() -> None:
    clock = FakeClock(local(25, 16))
    snap, stored = crashed(20, clock)
    e = restarted(stored)
    clock.set_wall(local(25, 18))
    ended = e.end_recovered(snap, clock.now)
    # When it died is unknown: the second charged ahead stands for that time.
    assert e.usage[KEY] == stored
    assert ended.reason == "recovered_after_crash" and ended.final_charge.parts == ()
    assert ended.cooldown_until == local(25, 18, 30)
    assert e.cooldowns[("alex", "game")] == local(25, 18, 30)


def test_a_crash_never_shortens_a_later_cooldown() -> None:
    clock = FakeClock(local(25, 16))
    snap, stored = crashed(20, clock)
    later = local(25, 23)
    e = restarted(stored, cooldowns={("alex", "game"): later})
    ended = e.end_recovered(snap, clock.advance(60))
    assert e.cooldowns[("alex", "game")] == later
    assert ended.cooldown_until == later


def test_a_stopped_session_is_charged_in_full_until_it_was_stopped() -> None:
    clock = FakeClock(local(25, 16))
    snap, stored = crashed(50, clock)
    e = restarted(stored, users=STOP)
    clock.set_wall(local(25, 17, 5))
    clock.mono += 65 * 60
    assert not e.recover(snap, clock.now, alive=True)
    stopped = clock.advance(4)
    ended = e.end_recovered(snap, stopped, stopped_at=stopped, lease=(DAY, 1.0))
    # The program ran 65 minutes and 4 seconds: 50 were checkpointed, the rest is
    # charged now, past the quota hour too, and the lease is settled exactly.
    assert e.usage[KEY] == pytest.approx(65 * 60 + 4)
    assert sum(s for _, s in ended.final_charge.parts) == pytest.approx(15 * 60 + 4)
    assert ended.cooldown_until == stopped.wall + timedelta(minutes=30)
    assert isinstance(ended.cooldown_until, datetime)


def test_a_deadline_held_while_cut_off_gives_way_to_the_books_once_they_are_read() -> None:
    """A household session taken back while the store could not be read keeps the deadline
    last known for it (no more, no less); once the household's books are read again its
    quotas apply again, with the grants a parent made meanwhile."""
    clock = FakeClock(local(25, 16))
    snap, stored = crashed(20, clock)
    e = restarted(stored)
    clock.advance(60)
    assert e.recover(snap, clock.now, alive=True, lease=(DAY, 1.0))
    known = clock.mono + 10 * 60  # what the household's books said before the cut
    e.hold_to(7, known)
    held = e.deadline(7, clock.now)
    assert held is not None and held.mono == pytest.approx(known)
    # The link is back: the books say a parent granted 30 minutes more today.
    e.set_books(cooldowns={}, grants={KEY: 30 * 60}, timed=(), expiries_noted=(), locked=())
    after = e.deadline(7, clock.now)
    assert after is not None and after.mono > known + 30 * 60


PAIR = """
[[entries]]
id = "game"
command = ["game"]

[[entries]]
id = "other"
command = ["other"]

[[groups]]
id = "g"
entries = ["game", "other"]
daily_quota = "1m"
"""


def test_two_crashed_sessions_on_one_grant_each_count_what_ran_before_its_moment() -> None:
    """rev15s24b N2: two sessions of one group, on time given the group until 16:10,
    crashed at 16:02 and stopped by the restart at 16:12 (the group's own minute used
    before). Closed one after the other, the first set what the grant paid while the
    second's second charged ahead was still counted and its own run not yet: each now
    counts, and the seconds charged ahead all go first. The grant (30 minutes) pays for
    the 10 minutes each ran before 16:10: 20 minutes (before: 11); the rest is the
    group's."""
    two = USERS.replace('name = "alex"', 'name = "alex"\nmax_sessions = 2')
    clock = FakeClock(local(25, 15, 59))
    before = Engine(policy(PAIR, two), PARIS)
    before.launch("alex", "game", clock.now, 1)
    before.end_session(1, clock.advance(60), "exited")  # the group's own minute
    before.grant("alex", "g", 1800, clock.now, until=local(25, 16, 10))
    for n, entry in ((2, "game"), (3, "other")):
        before.launch("alex", entry, clock.now, n)
    before.charge(clock.advance(120))  # 16:02: checkpointed, then the crash
    snaps = [before.snapshot(n) for n in (2, 3)]
    stored = {k: v + (1.0 if k[1] in ("game", "other") and k[2] == DAY else 0.0)
              for k, v in before.usage.items()}  # (each with its second charged ahead)
    e = Engine(policy(PAIR, two), PARIS, usage=stored, timed_grants=before.timed.values())
    clock.set_wall(local(25, 16, 12))
    clock.mono += 10 * 60
    for snap in snaps:
        assert not e.recover(snap, clock.now, alive=False)
        e.drop_lease(snap, (DAY, 1.0))
    for snap in snaps:
        e.end_recovered(snap, clock.now, stopped_at=clock.now)
    [gone] = [x for x in e.due(clock.now) if isinstance(x, GrantExpired)]
    assert gone.paid_s == pytest.approx(2 * 10 * 60)
    assert e.usage[("alex", "game", DAY)] + e.usage[("alex", "other", DAY)] == pytest.approx(
        60 + 2 * 12 * 60)


@pytest.mark.parametrize("seen_first", [True, False], ids=["due-then-end", "end-alone"])
def test_an_adopted_session_ending_during_the_restarts_stops_leaves_the_grant_to_wait(
    seen_first: bool,
) -> None:
    """rev15s24c F1: as above, but the restart adopts ``other`` and stops ``game`` (its
    stop takes until 16:12:10); ``other`` ends by itself at 16:12:05, inside that stop.
    Its end noted the grant's expiry (``due``) while ``game`` still stood in the usage
    for its second charged ahead, not for its run: the grant paid 721 s, not 1200
    (due-then-end); or it kept the use up to 16:10 with that second in it, which
    ``end_recovered`` then counted again with the run: 1201 (end-alone, F1-b). The
    grant waits for the closing session's run now."""
    two = USERS.replace('name = "alex"', 'name = "alex"\nmax_sessions = 2')
    clock = FakeClock(local(25, 15, 59))
    before = Engine(policy(PAIR, two), PARIS)
    before.launch("alex", "game", clock.now, 1)
    before.end_session(1, clock.advance(60), "exited")  # the group's own minute
    before.grant("alex", "g", 1800, clock.now, until=local(25, 16, 10))
    for n, entry in ((2, "game"), (3, "other")):
        before.launch("alex", entry, clock.now, n)
    before.charge(clock.advance(120))  # 16:02: checkpointed, then the crash
    game, other = (before.snapshot(n) for n in (2, 3))
    stored = {k: v + (1.0 if k[1] in ("game", "other") and k[2] == DAY else 0.0)
              for k, v in before.usage.items()}  # (each with its second charged ahead)
    e = Engine(policy(PAIR, two), PARIS, usage=stored, timed_grants=before.timed.values())
    clock.set_wall(local(25, 16, 12))
    clock.mono += 10 * 60
    restart = clock.now
    assert e.recover(other, restart, alive=True, lease=(DAY, 1.0))  # adopted
    assert not e.recover(game, restart, alive=False)  # (its entry no longer allowed)
    e.closing(game, (DAY, 1.0))  # being stopped, until 16:12:10
    clock.advance(5)  # 16:12:05: the adopted one ends by itself
    if seen_first:
        assert not [x for x in e.due(clock.now) if isinstance(x, GrantExpired)]
    e.end_session(3, clock.now, "exited")
    assert e.next_wakeup(clock.now) is None or e.next_wakeup(clock.now) > clock.mono
    e.drop_lease(game, (DAY, 1.0))
    e.end_recovered(game, restart, stopped_at=clock.advance(5))  # 16:12:10
    [gone] = [x for x in e.due(clock.now) if isinstance(x, GrantExpired)]
    assert gone.paid_s == pytest.approx(2 * 10 * 60)
    # (``other``'s 5 s watched after the restart were past the group's deadline: forfeit)
    assert e.usage[("alex", "game", DAY)] + e.usage[("alex", "other", DAY)] == pytest.approx(
        60 + 12 * 60 + 12 * 60 + 10)
