"""The default, ``while_paused = "freeze"``, as a property (review 16, s6: the random tests
of pauses pin ``"run"``, so nothing random checked the default).

Oracle, written apart from the engine: the programs are frozen from the moment the engine
says SessionPaused (the daemon asks the kernel then) until it says SessionResumed; every other
second they ran and must be billed -- no more, no less.
"""
from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shepherd.engine import Engine, SessionPaused, SessionResumed, SessionStarted
from shepherd.policy import load_policy_text
from tests.engine.conftest import PARIS, local
from tests.engine.test_pause_properties import STATES, Clock, Step

steps = st.lists(st.builds(
    Step, wait=st.sampled_from([0, 1, 10, 59, 100, 299, 301, 1200]), state=st.sampled_from(STATES),
    idle_for=st.sampled_from([0, 0, 30, 299, 300, 900]), checkpoint=st.booleans(),
    suspend=st.sampled_from([0, 0, 0, 600])), min_size=1, max_size=14)

POLICY = """
version = 1
[supervisor]
idle_after = {idle_after}
[[users]]
name = "alex"
[[entries]]
id = "game"
command = ["game"]
"""


class Frozen:
    def __init__(self, clock: Clock) -> None:
        self.clock, self.since, self.total = clock, None, 0.0

    def see(self, events: list[Any]) -> None:
        for e in events:
            if isinstance(e, SessionPaused) and self.since is None:
                self.since = self.clock.mono
            elif isinstance(e, SessionResumed) and self.since is not None:
                self.total += self.clock.mono - self.since
                self.since = None

    def end(self) -> float:
        if self.since is not None:
            self.total += self.clock.mono - self.since
            self.since = None
        return self.total


def run(idle_after: int, plan: list[Step], tail: int, repeat_idle: bool) -> None:
    engine = Engine(load_policy_text(POLICY.format(idle_after=idle_after)), PARIS)
    clock = Clock(local(25, 10))
    start = clock.mono
    assert isinstance(engine.launch("alex", "game", clock.now, 1), SessionStarted)
    frozen = Frozen(clock)
    last = "present"

    def until(target: float) -> None:
        while True:
            wake = engine.next_wakeup(clock.now)
            if wake is None or wake > target:
                break
            clock.run(max(wake - clock.mono, 0.0))
            frozen.see(engine.due(clock.now))
        clock.run(target - clock.mono)
        frozen.see(engine.due(clock.now))

    for step in plan:
        until(clock.mono + step.wait)
        if step.checkpoint:
            engine.charge(clock.now)
        if step.state == last and not (repeat_idle and step.state == "idle"):
            continue
        now = clock.now
        if step.state == "present":
            frozen.see(engine.resume("alex", now))
        elif step.state == "idle":
            frozen.see(engine.pause("alex", "idle", now.at_mono(now.mono - step.idle_for), now))
        else:
            frozen.see(engine.pause("alex", step.state, now, now))  # type: ignore[arg-type]
        last = step.state
    until(clock.mono + tail)
    charged = engine.end_session(1, clock.now, "exited").charged_s
    ran = clock.mono - start - frozen.end()
    assert abs(charged - ran) < 1e-3, (charged, ran)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(idle_after=st.sampled_from([0, 60, 300]), plan=steps, tail=st.integers(0, 900))
def test_freeze_one_session_billed_is_time_not_frozen(idle_after: int, plan: list[Step],
                                                      tail: int) -> None:
    run(idle_after, plan, tail, repeat_idle=False)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(idle_after=st.sampled_from([0, 60, 300]), plan=steps, tail=st.integers(0, 900))
def test_freeze_idle_since_may_change_while_idle(idle_after: int, plan: list[Step],
                                                 tail: int) -> None:
    # Two graphical sessions: the idle's "since" (the latest of those in front) can change
    # without the child coming back in between.
    run(idle_after, plan, tail, repeat_idle=True)
