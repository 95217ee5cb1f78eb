"""A session whose program never ran costs nothing, whatever was charged while it was
being started (review-1215-s12 F11: a missing program's launch was charged 0.127 s: a
checkpoint came while the daemon was starting it)."""

from __future__ import annotations

from datetime import date

from shepherd.engine import SessionStarted
from tests.engine.conftest import FakeClock, engine, local

GAME = """
[[entries]]
id = "game"
command = ["game"]
limits = { daily_quota = "1h", cooldown = "10m" }
"""


def test_a_session_held_while_it_starts_is_charged_nothing_if_it_never_ran() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    launched = clock.now
    started = e.launch("alex", "game", launched, 1)
    assert isinstance(started, SessionStarted)
    e.hold(1)  # the daemon starts its program
    e.charge(clock.advance(0.127))  # a checkpoint meanwhile
    e.set_policy(e.policy, clock.advance(0.1))  # (a reload charges every session too)
    assert e.usage.get(("alex", "game", date(2026, 11, 25)), 0.0) == 0.0
    ended = e.end_session(1, launched, "launch_failed")
    assert ended.charged_s == 0.0 and ended.final_charge.parts == ()
    assert e.usage.get(("alex", "game", date(2026, 11, 25)), 0.0) == 0.0


def test_a_session_released_once_it_runs_is_charged_from_its_start() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    e.launch("alex", "game", clock.now, 1)
    e.hold(1)
    e.charge(clock.advance(0.5))
    e.release(1)  # it runs: the time since the decision is its use
    e.charge(clock.advance(9.5))
    assert e.usage[("alex", "game", date(2026, 11, 25))] == 10.0
