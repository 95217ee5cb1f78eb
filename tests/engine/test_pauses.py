"""Rule 12: only the time a child is really there is billed (locked, switched away, idle)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shepherd.engine import (
    Engine,
    Event,
    Instant,
    SessionDue,
    SessionPaused,
    SessionResumed,
    SessionSnapshot,
    SessionStarted,
    UsageCharged,
    WarningIssued,
)
from tests.engine.conftest import USERS, FakeClock, alex_at_once, engine, local, policy

GAME = """
[[entries]]
id = "game"
command = ["game"]
limits = { max_run = "45m", daily_quota = "1h", cooldown = "30m" }
"""

# Its programs run on while paused (``while_paused = "run"``): an idle past idle_after is
# not billed from when it began. (Frozen programs, the default, are billed until frozen.)
GAME_RUNS_ON = GAME.replace('command = ["game"]', 'command = ["game"]\nwhile_paused = "run"')

MUSIC = """
[[entries]]
id = "music"
command = ["music"]
count = "running"
limits = { daily_quota = "3h" }
"""


def launch(e: Engine, clock: FakeClock, entry: str = "game", sid: int = 1) -> SessionStarted:
    result = e.launch("alex", entry, clock.now, sid)
    assert isinstance(result, SessionStarted), result
    return result


def of(kind: type, events: list[Event]) -> list[Event]:
    return [e for e in events if isinstance(e, kind)]


def remaining(e: Engine, sid: int, now: Instant) -> float:
    deadline = e.deadline(sid, now)
    assert deadline is not None
    return deadline.remaining_s


def test_a_locked_screen_is_not_billed_and_the_deadline_moves_out_by_the_pause() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(600)
    paused = e.pause("alex", "locked", clock.now, clock.now)
    assert of(SessionPaused, paused) == [SessionPaused(1, "alex", "game", "locked",
                                                       clock.now.wall)]
    assert sum(s for c in of(UsageCharged, paused) for _, s in c.parts) == pytest.approx(600)
    for _ in range(20):  # checkpoints while locked charge nothing
        assert all(not c.parts for c in e.charge(clock.advance(60)))
    assert e.used("alex", ("game",), local(25, 16).date(), clock.now) == pytest.approx(600)
    assert remaining(e, 1, clock.now) == pytest.approx(35 * 60)  # max_run: 45m - 10m, frozen
    resumed = e.resume("alex", clock.now)
    assert of(SessionResumed, resumed) == [SessionResumed(1, "alex", "game", "locked", 1200.0)]
    deadline = e.deadline(1, clock.now)
    assert deadline is not None and deadline.wall == local(25, 17, 5)  # 16:45 + 20m paused
    ended = e.end_session(1, clock.advance(300), "stopped_by_child")
    assert ended.charged_s == pytest.approx(900)
    assert e.usage[("alex", "game", local(25, 16).date())] == pytest.approx(900)


def test_a_seat_switched_to_another_session_pauses_like_a_lock() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(60)
    assert of(SessionPaused, e.pause("alex", "switched_away", clock.now, clock.now))
    clock.advance(3600)
    e.resume("alex", clock.now)
    assert e.end_session(1, clock.advance(60), "exited").charged_s == pytest.approx(120)


def test_an_idle_shorter_than_idle_after_is_billed_as_it_ran() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(600)
    assert not of(SessionPaused, e.pause("alex", "idle", clock.now, clock.now))
    clock.advance(240)  # 4 of the 5 minutes
    assert not e.due(clock.now)
    assert e.pause_of(1) is None
    e.resume("alex", clock.now)
    assert e.end_session(1, clock.advance(60), "exited").charged_s == pytest.approx(900)


def test_an_idle_past_idle_after_is_not_billed_at_all_from_when_it_began() -> None:
    e = engine(GAME_RUNS_ON)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(600)
    idle_began = clock.now
    e.pause("alex", "idle", idle_began, clock.now)
    assert e.next_wakeup(clock.now) == pytest.approx(idle_began.mono + 300)
    clock.advance(120)
    assert all(not c.parts for c in e.charge(clock.now))  # held: not charged yet...
    day = local(25, 16).date()
    assert e.used("alex", ("game",), day, clock.now) == pytest.approx(720)  # ...but used
    clock.advance(180)
    events = e.due(clock.now)
    assert of(SessionPaused, events) == [SessionPaused(1, "alex", "game", "idle",
                                                       idle_began.wall)]
    assert e.used("alex", ("game",), day, clock.now) == pytest.approx(600)
    clock.advance(1800)
    resumed = of(SessionResumed, e.resume("alex", clock.now))
    assert [(r.cause, r.paused_s) for r in resumed] == [("idle", pytest.approx(2100))]
    assert e.end_session(1, clock.advance(60), "exited").charged_s == pytest.approx(660)


def test_idle_after_comes_from_the_policy() -> None:
    e = engine(GAME, USERS.replace('day_starts_at = "04:00"',
                                   'day_starts_at = "04:00"\nidle_after = "90s"'))
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    e.pause("alex", "idle", clock.now, clock.now)
    assert not e.due(clock.advance(89))
    assert of(SessionPaused, e.due(clock.advance(1)))


def test_an_idle_learnt_late_pauses_at_once_but_never_refunds_what_was_charged() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(1200)
    e.charge(clock.now)
    long_ago = clock.now.at_mono(clock.mono - 900)  # idle since 15 minutes, learnt now
    paused = of(SessionPaused, e.pause("alex", "idle", long_ago, clock.now))
    assert [p.since for p in paused] == [clock.now.wall]  # from the last checkpoint on
    clock.advance(600)
    e.resume("alex", clock.now)
    assert e.end_session(1, clock.now, "exited").charged_s == pytest.approx(1200)


def test_where_programs_freeze_an_idle_is_billed_until_they_are_frozen() -> None:
    # Review 16 (s5), HIGH 1: a faked idle (SetIdleHint) was refunded from its start once it
    # lasted idle_after, though the game ran until then: idle, a key, idle... played free.
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(600)
    idle_began = clock.now
    e.pause("alex", "idle", idle_began, clock.now)
    clock.advance(300)
    frozen = clock.now
    assert of(SessionPaused, e.due(clock.now)) == [SessionPaused(1, "alex", "game", "idle",
                                                                 frozen.wall)]
    day = local(25, 16).date()
    assert e.used("alex", ("game",), day, clock.now) == pytest.approx(900)  # nothing back
    clock.advance(1800)
    resumed = of(SessionResumed, e.resume("alex", clock.now))
    assert [(r.cause, r.paused_s) for r in resumed] == [("idle", pytest.approx(1800))]
    assert e.end_session(1, clock.advance(60), "exited").charged_s == pytest.approx(960)


def test_where_programs_freeze_a_lock_during_an_idle_pauses_from_the_lock() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(600)
    e.pause("alex", "idle", clock.now, clock.now)
    clock.advance(60)
    locked = clock.now
    paused = of(SessionPaused, e.pause("alex", "locked", clock.now, clock.now))
    assert [(p.cause, p.since) for p in paused] == [("locked", locked.wall)]
    clock.advance(600)
    e.resume("alex", clock.now)
    assert e.end_session(1, clock.advance(60), "exited").charged_s == pytest.approx(720)


def test_where_programs_freeze_a_lock_reported_late_is_billed_until_it_is_reported() -> None:
    # Issue 16 (review s5, MEDIUM 2): the shell coalesces a flapping lock and may report a
    # lock a moment after it came. The programs are frozen only when it is reported, so
    # the pause begins there: a child gains nothing by flapping.
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(600)
    locked = clock.now
    clock.advance(1)
    heard = clock.now
    paused = of(SessionPaused, e.pause("alex", "locked", locked, heard))
    assert [p.since for p in paused] == [heard.wall]
    clock.advance(60)
    e.resume("alex", clock.now)
    assert e.end_session(1, clock.advance(10), "exited").charged_s == pytest.approx(611)


def test_a_lock_reported_late_never_gives_back_what_was_settled() -> None:
    # Where programs run on, the pause would begin at the lock, but the report settles
    # every session first: the moment between the lock and its report is billed (fail
    # closed; the shell reports a lock late only when the child flaps it).
    e = engine(GAME_RUNS_ON)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(600)
    locked = clock.now
    clock.advance(1)
    paused = of(SessionPaused, e.pause("alex", "locked", locked, clock.now))
    assert [p.since for p in paused] == [clock.now.wall]
    clock.advance(60)
    e.resume("alex", clock.now)
    assert e.end_session(1, clock.advance(10), "exited").charged_s == pytest.approx(611)


def test_where_programs_freeze_a_lock_during_an_idle_reported_late_pauses_when_heard() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(600)
    e.pause("alex", "idle", clock.now, clock.now)  # held: not settled past here
    clock.advance(60)
    locked = clock.now
    clock.advance(1)
    heard = clock.now
    paused = of(SessionPaused, e.pause("alex", "locked", locked, heard))
    assert [p.since for p in paused] == [heard.wall]
    clock.advance(600)
    e.resume("alex", clock.now)
    assert e.end_session(1, clock.advance(60), "exited").charged_s == pytest.approx(721)


def test_where_programs_freeze_an_idle_learnt_late_is_billed_until_it_is_learnt() -> None:
    # The idle began 15 minutes ago (idle_after 5m), but nothing froze the game until now.
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(1200)
    long_ago = clock.now.at_mono(clock.mono - 900)
    paused = of(SessionPaused, e.pause("alex", "idle", long_ago, clock.now))
    assert [p.since for p in paused] == [clock.now.wall]
    clock.advance(600)
    e.resume("alex", clock.now)
    assert e.end_session(1, clock.now, "exited").charged_s == pytest.approx(1200)


def test_where_programs_freeze_an_idle_whose_start_moves_back_refunds_nothing() -> None:
    # Review 16 (s6), HIGH 1. The child has two graphical sessions (S1, S2). S1 has said
    # idle since t=0; S2 says idle at t=400 (held from 400), and at t=699 S2 locks (or the
    # child switches the seat to S1): the presence now says "idle since t=0", already past
    # idle_after, so the session pauses -- and is frozen -- at 699. The game ran 400 to 699.
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    t0 = clock.now
    clock.advance(400)
    e.pause("alex", "idle", clock.now, clock.now)   # S2 idle since now: held from 400
    clock.advance(299)                               # < idle_after: nothing due
    assert not of(SessionPaused, e.due(clock.now))
    paused = of(SessionPaused, e.pause("alex", "idle", t0, clock.now))  # S1's since, back at 0
    assert paused                                   # paused (and the daemon freezes) now, at 699
    clock.advance(60)
    e.resume("alex", clock.now)
    clock.advance(1)
    ended = e.end_session(1, clock.now, "exited")
    # The game ran 0..699 and 759..760 (frozen 699..759): 700 s played.
    assert ended.charged_s == pytest.approx(700), ended.charged_s   # seen: 401


def test_where_programs_freeze_cycles_of_an_idle_moved_back_give_no_free_play() -> None:
    e = engine(GAME.replace('max_run = "45m", daily_quota = "1h"', 'daily_quota = "1h"'))
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    t0 = clock.now
    played = 0.0
    clock.advance(1)
    played += 1
    for _ in range(10):
        e.pause("alex", "idle", clock.now, clock.now)  # S2: idle now
        clock.advance(299)
        played += 299
        e.due(clock.now)
        e.pause("alex", "idle", t0, clock.now)         # S2 locked: S1's old idle shows: frozen
        clock.advance(1)                                # frozen a second
        e.resume("alex", clock.now)                     # S2 unlocked, input: thawed
    ended = e.end_session(1, clock.now, "exited")
    assert ended.charged_s >= played - 1, (ended.charged_s, played)   # seen: 1 of 2991


def test_a_lock_during_an_idle_pauses_from_when_the_idle_began() -> None:
    e = engine(GAME_RUNS_ON)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(600)
    idle_began = clock.now
    e.pause("alex", "idle", idle_began, clock.now)
    clock.advance(60)
    paused = of(SessionPaused, e.pause("alex", "locked", clock.now, clock.now))
    assert [(p.cause, p.since) for p in paused] == [("locked", idle_began.wall)]
    clock.advance(600)
    e.resume("alex", clock.now)
    assert e.end_session(1, clock.advance(60), "exited").charged_s == pytest.approx(660)


def test_ending_a_session_during_a_held_idle_bills_the_idle() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(600)
    e.pause("alex", "idle", clock.now, clock.now)
    ended = e.end_session(1, clock.advance(200), "stopped_by_child")
    assert ended.charged_s == pytest.approx(800)  # at most idle_after of idle is billed


def test_back_from_a_lock_to_an_idle_screen() -> None:
    """Unlocked but idle since long ago: still paused (as idle); idle since a moment:
    billed again, held from now."""
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(60)
    e.pause("alex", "locked", clock.now, clock.now)
    clock.advance(600)
    stale = clock.now.at_mono(clock.mono - 400)
    assert not of(SessionResumed, e.pause("alex", "idle", stale, clock.now))
    pause = e.pause_of(1)
    assert pause is not None and pause.cause == "idle"
    clock.advance(60)
    fresh = of(SessionResumed, e.pause("alex", "idle", clock.now, clock.now))
    assert [r.cause for r in fresh] == ["idle"]
    clock.advance(100)
    e.resume("alex", clock.now)
    assert e.end_session(1, clock.now, "exited").charged_s == pytest.approx(160)


def test_a_paused_session_still_ends_when_its_window_closes() -> None:
    e = engine(GAME.replace('cooldown = "30m" }', 'cooldown = "30m" }\n'
                            'windows = [ { days = "daily", start = "15:30", end = "17:00" } ]'))
    clock = FakeClock(local(25, 16, 40))
    launch(e, clock)
    clock.advance(60)
    e.pause("alex", "locked", clock.now, clock.now)
    wake = e.next_wakeup(clock.now)
    assert wake == pytest.approx(clock.mono + (14 * 60))  # 16:55, the 5-minute warning
    warned = e.due(clock.advance(wake - clock.mono))
    assert [w.before_s for w in of(WarningIssued, warned)] == [300]
    wake = e.next_wakeup(clock.now)
    assert wake == pytest.approx(clock.mono + 240)  # 16:59
    clock.advance(240)
    assert [w.before_s for w in of(WarningIssued, e.due(clock.now))] == [60]
    wake = e.next_wakeup(clock.now)
    assert wake == pytest.approx(clock.mono + 60)
    assert e.due(clock.advance(60)) == [SessionDue(1, "window_closed")]
    assert e.end_session(1, clock.now, "window_closed").charged_s == pytest.approx(60)


def test_a_paused_session_ends_when_a_new_day_brings_no_quota() -> None:
    e = engine("""
[[entries]]
id = "game"
command = ["game"]
limits = { daily_quota = { weekdays = "2h", wed = "0" } }
""")
    clock = FakeClock(local(25, 3))  # Wednesday 03:00: still Tuesday's quota day
    launch(e, clock)
    clock.advance(600)
    e.pause("alex", "locked", clock.now, clock.now)
    assert e.next_wakeup(clock.now) == pytest.approx(clock.mono + 45 * 60)  # 03:55
    clock.set_wall(local(25, 3, 59))
    clock.mono += 49 * 60
    assert e.next_wakeup(clock.now) == pytest.approx(clock.mono + 60)
    assert of(SessionDue, e.due(clock.advance(60))) == [SessionDue(1, "expired")]


def test_a_paused_session_without_wall_clock_limits_wakes_nobody() -> None:
    e = engine(GAME.replace('daily_quota = "1h", ', ""))
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(60)
    e.pause("alex", "locked", clock.now, clock.now)
    assert e.next_wakeup(clock.now) is None
    for _ in range(10):
        assert e.due(clock.advance(3600)) == []
        assert e.next_wakeup(clock.now) is None


def test_warnings_re_arm_when_an_idle_becomes_a_pause() -> None:
    e = engine(GAME_RUNS_ON)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(37 * 60)  # 8 minutes of max_run left
    e.pause("alex", "idle", clock.now, clock.now)
    clock.advance(180)  # held idle counts: 5 minutes left, the warning fires
    assert [w.before_s for w in of(WarningIssued, e.due(clock.now))] == [300]
    clock.advance(120)  # the idle becomes a pause from its start: 8 minutes left again
    assert of(SessionPaused, e.due(clock.now))
    assert remaining(e, 1, clock.now) == pytest.approx(8 * 60)
    e.resume("alex", clock.advance(600))
    wake = e.next_wakeup(clock.now)
    assert wake == pytest.approx(clock.mono + 180)  # the 5-minute warning again
    assert [w.before_s for w in of(WarningIssued, e.due(clock.advance(180)))] == [300]


def test_an_entry_that_counts_running_time_is_never_paused() -> None:
    e = engine(MUSIC)
    clock = FakeClock(local(25, 16))
    launch(e, clock, "music")
    assert e.pause("alex", "locked", clock.now, clock.now) == [
        UsageCharged(1, "alex", "music", ())]
    assert e.pause_of(1) is None
    clock.advance(600)
    assert e.end_session(1, clock.now, "exited").charged_s == pytest.approx(600)


def test_count_running_in_the_supervisor_pauses_nothing() -> None:
    e = engine(GAME, USERS.replace('day_starts_at = "04:00"',
                                   'day_starts_at = "04:00"\ncount = "running"'))
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    e.pause("alex", "locked", clock.now, clock.now)
    e.pause("alex", "idle", clock.now, clock.now)
    clock.advance(900)
    assert not e.due(clock.now)
    assert e.end_session(1, clock.now, "exited").charged_s == pytest.approx(900)


def test_an_entry_may_count_active_time_when_the_supervisor_counts_running() -> None:
    e = engine(GAME.replace('command = ["game"]', 'command = ["game"]\ncount = "active"'),
               USERS.replace('day_starts_at = "04:00"',
                             'day_starts_at = "04:00"\ncount = "running"'))
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    assert of(SessionPaused, e.pause("alex", "locked", clock.now, clock.now))


def test_a_session_launched_while_the_screen_is_locked_starts_paused() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    e.pause("alex", "locked", clock.now, clock.now)
    clock.advance(60)
    launch(e, clock)
    pause = e.pause_of(1)
    assert pause is not None and pause.cause == "locked" and pause.since == clock.wall
    clock.advance(600)
    e.resume("alex", clock.now)
    assert e.end_session(1, clock.advance(30), "exited").charged_s == pytest.approx(30)


def test_one_childs_lock_pauses_only_that_childs_sessions() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    assert isinstance(e.launch("sam", "game", clock.now, 2), SessionStarted)
    e.pause("alex", "locked", clock.now, clock.now)
    clock.advance(600)
    assert e.end_session(1, clock.now, "exited").charged_s == pytest.approx(0)
    assert e.end_session(2, clock.now, "exited").charged_s == pytest.approx(600)


def test_a_paused_session_leaves_the_group_quota_to_the_sessions_that_spend_it() -> None:
    users = alex_at_once(2)
    e = engine(GAME.replace('daily_quota = "1h", ', "") + MUSIC.replace(
        'limits = { daily_quota = "3h" }', "") + """
[[groups]]
id = "screen"
entries = ["game", "music"]
daily_quota = "1h"
""", users)
    clock = FakeClock(local(25, 16))
    launch(e, clock, "game", 1)
    launch(e, clock, "music", 2)
    assert remaining(e, 2, clock.now) == pytest.approx(1800)  # shared by two
    e.pause("alex", "locked", clock.now, clock.now)
    assert remaining(e, 2, clock.now) == pytest.approx(3600)  # the game spends none now
    clock.advance(1200)
    assert remaining(e, 1, clock.now) == pytest.approx(1200)  # if it resumed now: shared


def test_a_reload_that_makes_the_entry_count_running_resumes_its_paused_session() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    e.pause("alex", "locked", clock.now, clock.now)
    clock.advance(600)
    events = e.set_policy(policy(GAME.replace('command = ["game"]',
                                              'command = ["game"]\ncount = "running"')),
                          clock.now)
    assert [r.paused_s for r in of(SessionResumed, events)] == [pytest.approx(600)]
    clock.advance(60)
    back = e.set_policy(policy(GAME), clock.now)  # and back: the screen is still locked
    assert [p.cause for p in of(SessionPaused, back)] == ["locked"]
    assert e.end_session(1, clock.advance(60), "exited").charged_s == pytest.approx(60)


def test_an_adopted_session_keeps_the_paused_time_its_snapshot_carries() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    start = clock.now
    clock.advance(30 * 60)
    snap = SessionSnapshot(7, "alex", "game", start.wall, start.mono, clock.mono - 1,
                           0, (), paused_s=20 * 60)
    assert e.recover(snap, clock.now, alive=True)
    assert remaining(e, 7, clock.now) == pytest.approx(35 * 60)  # 45m - (30m - 20m paused)
    assert e.snapshot(7).paused_s == pytest.approx(20 * 60)


def test_a_session_adopted_while_its_child_is_away_is_paused() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    e.pause("alex", "locked", clock.now, clock.now)
    start = clock.now
    clock.advance(60)
    snap = SessionSnapshot(7, "alex", "game", start.wall, start.mono, clock.mono, 0, ())
    assert e.recover(snap, clock.now, alive=True)
    assert e.pause_of(7) is not None


def test_the_snapshot_carries_settled_paused_time() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(60)
    e.pause("alex", "locked", clock.now, clock.now)
    e.charge(clock.advance(100))
    snap = e.snapshot(1)
    assert (snap.paused_s, snap.charged_mono) == (pytest.approx(100), pytest.approx(clock.mono))


def test_a_suspend_while_paused_bills_nothing_and_a_window_that_closed_ends_it() -> None:
    e = engine(GAME.replace('cooldown = "30m" }', 'cooldown = "30m" }\n'
                            'windows = [ { days = "daily", start = "15:30", end = "17:00" } ]'))
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(60)
    e.pause("alex", "locked", clock.now, clock.now)
    clock.suspend(2 * 3600)
    assert of(SessionDue, e.due(clock.now)) == [SessionDue(1, "window_closed")]
    assert e.end_session(1, clock.now, "window_closed").charged_s == pytest.approx(60)


def test_pausing_an_unknown_child_is_refused() -> None:
    from shepherd.engine import ActionRefused
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    with pytest.raises(ActionRefused):
        e.pause("robin", "locked", clock.now, clock.now)


def test_a_resume_without_a_pause_changes_nothing() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(60)
    assert not of(SessionResumed, e.resume("alex", clock.now))
    clock.advance(timedelta(minutes=1).total_seconds())
    assert e.end_session(1, clock.now, "exited").charged_s == pytest.approx(120)


def test_a_session_reported_due_asks_for_no_more_wake_ups_while_it_is_stopped() -> None:
    """Its deadline lies in the past: naming it again would spin the daemon's timer
    for the whole stop grace."""
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(45 * 60)
    assert of(SessionDue, e.due(clock.now)) == [SessionDue(1, "expired")]
    wake = e.next_wakeup(clock.advance(0.2))
    assert wake is None or wake > clock.mono


# -- a pause the shell could not enforce (its programs could not be frozen) -----------------
def test_a_pause_whose_freeze_failed_is_billed_in_full_and_the_session_counts_running() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(600)
    e.pause("alex", "locked", clock.now, clock.now)
    for _ in range(3):  # settled as paused meanwhile (another session's checkpoints)
        e.charge(clock.advance(1))
    events = e.unpausable(1, clock.now)
    assert of(SessionResumed, events) == [SessionResumed(1, "alex", "game", "locked", 0.0)]
    assert e.pause_of(1) is None
    charged = sum(s for c in of(UsageCharged, events) for _, s in c.parts)
    assert e.used("alex", ("game",), local(25, 16).date(), clock.now) == pytest.approx(603)
    assert charged == pytest.approx(3)  # written at once: the 3 s settled as paused
    # Sticky for the session: the next lock does not pause it again.
    assert of(SessionPaused, e.pause("alex", "locked", clock.now, clock.advance(1))) == []
    e.charge(clock.advance(60))
    assert e.used("alex", ("game",), local(25, 16).date(), clock.now) == pytest.approx(664)
    assert e.snapshot(1).paused_s == pytest.approx(0.0)
    # Another session of the same entry is paused as usual.
    e.end_session(1, clock.now, "stopped_by_child")
    e.resume("alex", clock.now)
    clock.advance(30 * 60)  # the cooldown
    launch(e, clock, sid=2)
    assert of(SessionPaused, e.pause("alex", "locked", clock.now, clock.now))


def test_an_idle_pause_whose_freeze_failed_bills_the_idle_too() -> None:
    e = engine(GAME.replace('[[entries]]', '[[entries]]', 1), USERS.replace(
        'day_starts_at = "04:00"', 'day_starts_at = "04:00"\nidle_after = "5m"'))
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(60)
    e.pause("alex", "idle", clock.now, clock.now)
    clock.advance(300)
    assert of(SessionPaused, e.due(clock.now))  # the idle became a pause, as it froze
    assert e.used("alex", ("game",), local(25, 16).date(), clock.now) == pytest.approx(360)
    events = e.unpausable(1, clock.now)
    assert [r.paused_s for r in of(SessionResumed, events)] == [0.0]
    assert e.used("alex", ("game",), local(25, 16).date(), clock.now) == pytest.approx(360)


def test_programs_thawed_during_a_pause_are_billed_from_then_on() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    clock.advance(100)
    e.pause("alex", "locked", clock.now, clock.now)
    clock.advance(200)
    thawed = clock.now.mono
    e.charge(clock.advance(5))  # a checkpoint after the thaw, before it was heard of
    events = e.unpausable(1, clock.advance(1), since=thawed)
    assert [r.paused_s for r in of(SessionResumed, events)] == [pytest.approx(200)]
    assert e.used("alex", ("game",), local(25, 16).date(), clock.now) == pytest.approx(106)
    assert e.snapshot(1).paused_s == pytest.approx(200)
    ended = e.end_session(1, clock.advance(10), "stopped_by_child")
    assert ended.charged_s == pytest.approx(116)


def test_a_session_not_paused_that_cannot_be_frozen_is_never_paused_later() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launch(e, clock)
    assert [ev for ev in e.unpausable(1, clock.now) if not isinstance(ev, UsageCharged)] == []
    assert of(SessionPaused, e.pause("alex", "locked", clock.now, clock.advance(10))) == []
    assert e.pause_of(1) is None
