"""Issue 13 / 9.4: a ``status`` answer waits only for the engine's own moment (a warning, a
deadline's books), never for a plain checkpoint (twice a second while sessions run: a fixed
window before it held one lone caller's answer in ten, the p99 of the round trip)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

from shepherd.daemon.core import CHECKPOINT_S, Daemon
from shepherd.engine.clock import Instant


def _scheduled(engine_in: float | None) -> tuple[float, float | None]:
    """A daemon with one billed session, its checkpoint due first: the timer's moment and
    the moment a ``status`` answer would wait for, with the engine's next in ``engine_in``."""

    async def scenario() -> tuple[float, float | None]:
        loop = asyncio.get_running_loop()
        now = Instant(datetime.now(UTC), loop.time())
        engine = SimpleNamespace(
            billing=lambda sid: True,
            next_wakeup=lambda at: None if engine_in is None else at.mono + engine_in)
        daemon = SimpleNamespace(
            _timer=None, now=lambda: now, engine=engine, sessions={1: object()},
            _last_clock_check=now.mono, clock_check_s=60.0, _last_checkpoint=now.mono - 0.4,
            guard=None, _tick=lambda: None)
        Daemon._schedule(daemon)  # type: ignore[arg-type]
        assert daemon._timer is not None
        when = daemon._timer.when()
        moment = Daemon._engine_moment(daemon)  # type: ignore[arg-type]
        daemon._timer.cancel()
        return when - now.mono, None if moment is None else moment - now.mono

    return asyncio.run(scenario())


def test_an_answer_waits_for_the_engines_moment_not_for_the_checkpoint_before_it() -> None:
    timer, moment = _scheduled(0.3)  # the checkpoint in 0.1 s, a warning in 0.3 s
    assert abs(timer - (CHECKPOINT_S - 0.4)) < 1e-9
    assert moment is not None and abs(moment - 0.3) < 1e-9  # the warning's, not the timer's
    timer, moment = _scheduled(None)  # nothing of the engine's: a checkpoint alone
    assert moment is None
    timer, moment = _scheduled(0.05)  # the warning first: the timer is its
    assert moment is not None and abs(moment - timer) < 1e-9
