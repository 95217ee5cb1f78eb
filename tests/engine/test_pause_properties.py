"""Property tests of rule 12: random sequences of locks, seat switches, idles, returns,
checkpoints and suspends, driven like the daemon drives the engine (``due`` at every
``next_wakeup``), checked against an oracle written apart from the engine:

- the billed time equals the running time less the pause intervals;
- no pause ever lengthens a window, nor lets a session run past ``max_run`` of
  billed time or past its quota.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shepherd.engine import Engine, Instant, SessionDue, SessionStarted
from shepherd.policy import load_policy_text
from tests.engine.conftest import PARIS, local

EPS = 1e-6
STATES = ["present", "locked", "switched_away", "idle"]


@dataclass
class Clock:
    wall: datetime
    mono: float = 5000.0

    @property
    def now(self) -> Instant:
        return Instant(self.wall, self.mono)

    def run(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


@dataclass(frozen=True)
class Step:
    wait: int  # seconds after the previous step
    state: str  # what the child's screen says from then on
    idle_for: int  # idle: how long ago the idle began when it is reported
    checkpoint: bool
    suspend: int  # seconds asleep before the step (the wall clock runs, mono does not)


steps = st.lists(st.builds(
    Step, wait=st.integers(0, 1200), state=st.sampled_from(STATES),
    idle_for=st.sampled_from([0, 0, 0, 30, 299, 300, 900]), checkpoint=st.booleans(),
    suspend=st.sampled_from([0, 0, 0, 0, 600])), min_size=1, max_size=14)


def policy_text(idle_after: int, limits: str = "", windows: str = "") -> str:
    return f"""
version = 1
[supervisor]
idle_after = {idle_after}
while_paused = "run"  # the oracle's rule: an idle past idle_after is refunded from its start
default_warnings = [ {{ before = "5m" }}, {{ before = "1m" }} ]
[[users]]
name = "alex"
[[entries]]
id = "game"
command = ["game"]
{limits}
{windows}
"""


def billed_by_oracle(timeline: list[tuple[float, str, float]], end: float,
                     idle_after: int) -> float:
    """Running time less pauses, from the reports alone: (mono, state, idle since)."""
    billed = 0.0
    for i, (start, state, since) in enumerate(timeline):
        stop = timeline[i + 1][0] if i + 1 < len(timeline) else end
        following = timeline[i + 1][1] if i + 1 < len(timeline) else None
        if state == "present":
            billed += stop - start
        elif state == "idle":
            # Paused from its report if it lasts idle_after (counted from when it began)
            # before the next report, or if a lock or a seat switch follows it.
            paused = since + idle_after <= stop + EPS or following in ("locked", "switched_away")
            if not paused:
                billed += stop - start
    return billed


class Driver:
    """The daemon's loop, in miniature: due() at every wake-up, a stop when one is due."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.ended_at: Instant | None = None
        self.charged = 0.0

    def until(self, target_mono: float) -> None:
        while self.ended_at is None:
            wake = self.engine.next_wakeup(self.clock.now)
            if wake is None or wake > target_mono:
                break
            self.clock.run(max(wake - self.clock.mono, 0.0))
            self.handle(self.engine.due(self.clock.now))
        if self.ended_at is None:
            self.clock.run(target_mono - self.clock.mono)
            self.handle(self.engine.due(self.clock.now))

    def handle(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, SessionDue) and self.ended_at is None:
                self.ended_at = self.clock.now
                self.charged = self.engine.end_session(1, self.clock.now,
                                                       event.reason).charged_s

    def report(self, state: str, idle_for: int) -> None:
        now = self.clock.now
        if state == "present":
            self.engine.resume("alex", now)
        elif state == "idle":
            self.engine.pause("alex", "idle", now.at_mono(now.mono - idle_for), now)
        else:
            self.engine.pause("alex", state, now, now)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(idle_after=st.sampled_from([0, 60, 300]), plan=steps, tail=st.integers(0, 900))
def test_billed_time_is_running_time_less_the_pause_intervals(
        idle_after: int, plan: list[Step], tail: int) -> None:
    engine = Engine(load_policy_text(policy_text(idle_after)), PARIS)
    clock = Clock(local(25, 10))
    assert isinstance(engine.launch("alex", "game", clock.now, 1), SessionStarted)
    driver = Driver(engine, clock)
    timeline: list[tuple[float, str, float]] = [(clock.mono, "present", clock.mono)]
    for step in plan:
        clock.wall += timedelta(seconds=step.suspend)
        driver.until(clock.mono + step.wait)
        if step.checkpoint:
            engine.charge(clock.now)
        if step.state == timeline[-1][1]:
            continue  # the daemon reports changes only
        driver.report(step.state, step.idle_for)
        # An idle learnt late is counted from its start, but what was charged stays.
        timeline.append((clock.mono, step.state, clock.mono - step.idle_for))
    driver.until(clock.mono + tail)
    assert driver.ended_at is None  # no limits: nothing ends it
    ended = engine.end_session(1, clock.now, "exited")
    expected = billed_by_oracle(timeline, clock.mono, idle_after)
    assert abs(ended.charged_s - expected) < 1e-3, (ended.charged_s, expected, timeline)
    assert abs(sum(engine.usage.values()) - expected) < 1e-3


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(idle_after=st.sampled_from([0, 60, 300]), plan=steps,
       max_run=st.integers(60, 3600), quota=st.integers(60, 3600),
       window_end=st.sampled_from(["10:30", "11:00", "12:00", "13:30"]),
       start_minute=st.integers(0, 25))
def test_no_pause_lengthens_a_window_nor_bills_past_a_limit(
        idle_after: int, plan: list[Step], max_run: int, quota: int, window_end: str,
        start_minute: int) -> None:
    text = policy_text(idle_after, f'limits = {{ max_run = {max_run}, daily_quota = {quota} }}',
                       f'windows = [ {{ days = "daily", start = "09:00", end = "{window_end}" }} ]')
    engine = Engine(load_policy_text(text), PARIS)
    clock = Clock(local(25, 10, start_minute))
    hour, minute = (int(x) for x in window_end.split(":"))
    closes = local(25, hour, minute)
    assert isinstance(engine.launch("alex", "game", clock.now, 1), SessionStarted)
    driver = Driver(engine, clock)
    last = "present"
    woke_past: float | None = None  # a suspend carried the clock past the window's end
    for step in plan:
        clock.wall += timedelta(seconds=step.suspend)
        if woke_past is None and clock.wall >= closes:
            woke_past = clock.mono
        driver.until(clock.mono + step.wait)
        if driver.ended_at is not None:
            break
        assert clock.wall < closes  # still running: its window is still open
        if step.checkpoint:
            engine.charge(clock.now)
        if step.state != last:
            driver.report(step.state, step.idle_for)
            last = step.state
    driver.until(clock.mono + 6 * 3600)  # long enough for some limit to end it
    assert driver.ended_at is not None
    # Ended by the window at the latest (a suspend may carry the clock past it: then at once).
    assert (driver.ended_at.wall <= closes + timedelta(seconds=EPS)
            or driver.ended_at.mono == woke_past), (driver.ended_at, closes)
    assert driver.charged <= max_run + EPS
    assert driver.charged <= quota + EPS
    assert sum(engine.usage.values()) <= min(max_run, quota) + EPS
