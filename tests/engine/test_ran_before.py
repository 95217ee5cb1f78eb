"""Review 14 s9 M3: a program that ran uncounted before the daemon saw it (started
outside Shepherd while no daemon watched) is charged and limited from its start, never
from before the start of today's quota day."""

from __future__ import annotations

from shepherd.engine import SessionStarted
from tests.engine.conftest import FakeClock, engine, local

GAME = '''
[[entries]]
id = "game"
command = ["game"]
limits = { max_run = "45m", daily_quota = "1h" }
'''


def test_the_time_it_already_ran_is_charged_and_counts_toward_its_limits() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    started = e.launch("alex", "game", clock.now, 1, ran_s=600)
    assert isinstance(started, SessionStarted)
    assert started.started_at == local(25, 15, 50)
    assert started.deadline is not None and started.deadline.remaining_s == 35 * 60
    ended = e.end_session(1, clock.advance(60), "stopped")
    assert ended.charged_s == 660
    assert e.used("alex", ("game",), local(25, 16).date(), None) == 660


def test_never_from_before_the_start_of_the_quota_day() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 4, 5))  # the quota day began at 04:00
    started = e.launch("alex", "game", clock.now, 1, ran_s=3 * 3600)
    assert isinstance(started, SessionStarted)
    assert started.started_at == local(25, 4)
    assert started.deadline is not None and started.deadline.remaining_s == 40 * 60


def test_a_program_that_already_ran_past_its_limit_is_due_at_once() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    started = e.launch("alex", "game", clock.now, 1, ran_s=50 * 60)
    assert isinstance(started, SessionStarted)
    assert started.deadline is not None and started.deadline.remaining_s <= 0
    assert [type(ev).__name__ for ev in e.due(clock.now)] == ["SessionDue"]
