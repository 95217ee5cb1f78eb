"""The deadline guard: SIGTERM at the deadline from its own thread, once, never early."""

from __future__ import annotations

import threading
import time

from shepherd.daemon.guard import DeadlineGuard


class Recorder:
    def __init__(self, can: bool = True) -> None:
        self.can = can
        self.terminated: list[tuple[int, float]] = []
        self.fired: list[int] = []
        self.done = threading.Event()

    def terminate(self, session: int) -> bool:
        self.terminated.append((session, time.monotonic()))
        return self.can

    def on_fired(self, session: int) -> None:
        self.fired.append(session)
        self.done.set()


def test_a_deadline_fires_once_at_its_instant_never_before() -> None:
    seen = Recorder()
    guard = DeadlineGuard(seen.terminate, seen.on_fired)
    try:
        at = time.monotonic() + 0.3
        guard.keep({1: at, 2: at + 3600})
        assert seen.done.wait(10)
        guard.keep({1: at, 2: at + 3600})  # the loop has not stopped it yet: not again
        time.sleep(0.3)
    finally:
        guard.close()
    assert [s for s, _ in seen.terminated] == [1] and seen.fired == [1]
    assert seen.terminated[0][1] >= at


def test_a_deadline_moved_later_does_not_fire_at_the_old_one() -> None:
    seen = Recorder()
    guard = DeadlineGuard(seen.terminate, seen.on_fired)
    try:
        now = time.monotonic()
        guard.keep({1: now + 0.5})
        guard.keep({1: now + 1.0})  # a grant
        assert seen.done.wait(10)
    finally:
        guard.close()
    assert seen.terminated[0][1] >= now + 1.0


def test_a_session_gone_from_the_list_is_forgotten_and_a_backend_that_cannot_is_not_fired() -> None:
    seen = Recorder(can=False)
    guard = DeadlineGuard(seen.terminate, seen.on_fired)
    try:
        now = time.monotonic()
        guard.keep({1: now + 0.2, 2: now + 0.1})
        guard.keep({2: now + 0.1})  # session 1 ended meanwhile
        time.sleep(0.6)
    finally:
        guard.close()
    assert [s for s, _ in seen.terminated] == [2]
    assert seen.fired == []  # the loop's own timer stops it
