"""The deadline guard: SIGTERM at the deadline from its own thread, once, never early."""

from __future__ import annotations

import threading
import time

from shepherd.daemon.guard import DeadlineGuard
from shepherd.supervisor.alarm import ALARM_FIRST_S


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


class StuckAlarm:
    """An alarm that answers only when let go (like one stopped with SIGSTOP): each
    request notes the thread that made it."""

    def __init__(self, fired: list[int]) -> None:
        self.answer = fired
        self.go = threading.Event()
        self.asked: list[tuple[dict[int, float], str]] = []
        self.asking = threading.Event()

    def arm(self, deadlines: dict[int, float]) -> list[int]:
        self.asked.append((dict(deadlines), threading.current_thread().name))
        self.asking.set()
        assert self.go.wait(30), "never let go"
        answer, self.answer = self.answer, []
        return answer


def test_the_alarm_is_told_on_the_guards_thread_never_waited_for_by_the_loop() -> None:
    """Issue 9 F3: ``keep`` (the loop) returns while the alarm has not answered; the
    request is made by the guard's thread, with the latest deadlines."""
    seen = Recorder()
    alarm = StuckAlarm(fired=[])
    guard = DeadlineGuard(seen.terminate, seen.on_fired, alarm.arm)
    try:
        far = time.monotonic() + 3600
        guard.keep({1: far})
        assert alarm.asking.wait(30)
        guard.keep({1: far, 2: far + 1})  # returns though the first request hangs
        guard.keep({1: far + 5, 2: far + 1})  # the latest word replaces the unsent one
        alarm.go.set()
        deadline = time.monotonic() + 30
        while len(alarm.asked) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        guard.close()
    assert alarm.asked == [({1: far}, "alarm-teller"),
                           ({1: far + 5, 2: far + 1}, "alarm-teller")]
    assert seen.terminated == [] and seen.fired == []


def test_a_session_the_alarm_fired_before_a_later_deadline_reached_it_is_stopped() -> None:
    """The deadline wins the race: the alarm answers that it sent the SIGTERM already
    (a grant came too late); the loop is told to stop the session (``fired``)."""
    seen = Recorder()
    alarm = StuckAlarm(fired=[4])
    alarm.go.set()
    guard = DeadlineGuard(seen.terminate, seen.on_fired, alarm.arm)
    try:
        guard.keep({4: time.monotonic() + 3600})
        assert seen.done.wait(30)
    finally:
        guard.close()
    assert seen.fired == [4] and seen.terminated == []


def test_a_move_is_refused_once_the_guard_took_the_old_deadline_as_due() -> None:
    """Review 9-s9 M1: an extension reaches the guard after it sent the SIGTERM: refused
    (the deadline won); one that reaches it first moves the deadline, and the loop's
    older word (``keep``, before the extension is made) does not bring the old one back."""
    seen = Recorder()
    guard = DeadlineGuard(seen.terminate, seen.on_fired)
    try:
        now = time.monotonic()
        guard.keep({1: now + 0.05, 2: now + 0.2})
        assert seen.done.wait(30)  # session 1 fired
        assert guard.move(1, now + 3600).result(30) is False
        assert guard.move(2, now + 3600).result(30) is True
        guard.keep({2: now + 0.2})  # the loop's word from before the extension
        time.sleep(0.5)
        assert [s for s, _ in seen.terminated] == [1]  # 2 not fired at its old deadline
        guard.settle(2)
        guard.keep({2: now + 0.2})  # the extension given up: the old deadline again
        deadline = time.monotonic() + 30
        while len(seen.terminated) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        guard.close()
    assert [s for s, _ in seen.terminated] == [1, 2]


def test_a_move_the_alarm_fired_past_is_refused() -> None:
    """The alarm answers the moved deadline with "fired" (it sent the old one's SIGTERM
    before it read the new one): the move is refused and the session stopped."""
    seen = Recorder()
    alarm = StuckAlarm(fired=[4])
    alarm.go.set()
    guard = DeadlineGuard(seen.terminate, seen.on_fired, alarm.arm)
    try:
        assert guard.move(4, time.monotonic() + 3600).result(30) is False
        assert seen.done.wait(30)
    finally:
        guard.close()
    assert seen.fired == [4] and seen.terminated == []


def _switches(thread: threading.Thread) -> int:
    """How often ``thread`` went to sleep (its voluntary context switches): each is the
    end of a wake-up."""
    with open(f"/proc/self/task/{thread.native_id}/status") as status:
        for line in status:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches")


def _asleep(*threads: threading.Thread) -> dict[str, int]:
    """Each thread's switches, once it is back waiting (state S) and has stayed there."""
    names = {t.name: t for t in threads}
    last: dict[str, int] = {}
    for _ in range(500):
        now = {}
        for name, thread in names.items():
            with open(f"/proc/self/task/{thread.native_id}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
            now[name] = _switches(thread) if state == "S" else -1
        if now == last and -1 not in now.values():
            return now
        last = now
        time.sleep(0.02)
    raise AssertionError(f"the threads never settled: {last}")


def test_a_word_that_changes_nothing_wakes_neither_thread() -> None:
    """Issue 13 (idle wake-ups): the loop hands its word over at every tick, once a
    minute when idle. With no session, and none at the last word, there is nothing to tell
    the alarm: the teller's thread sleeps on; and the guard's thread is woken only when
    its own deadlines change (each thread waits on a condition of its own)."""
    seen = Recorder()
    alarm = StuckAlarm(fired=[])
    alarm.go.set()
    guard = DeadlineGuard(seen.terminate, seen.on_fired, alarm.arm)
    threads = (guard._thread, guard._teller)
    assert threads[1] is not None
    try:
        guard.keep({})
        before = _asleep(guard._thread, threads[1])
        for _ in range(20):
            guard.keep({})  # idle ticks
        after_idle = _asleep(guard._thread, threads[1])
        far = time.monotonic() + 3600
        guard.keep({1: far})  # a session: the alarm is told
        assert alarm.asking.wait(30)
        settled = _asleep(guard._thread, threads[1])
        for _ in range(20):
            guard.keep({1: far})  # checkpoints: the alarm is told, the guard not woken
        after_busy = _asleep(guard._thread, threads[1])
    finally:
        guard.close()
    assert after_idle == before
    assert after_busy["deadline-guard"] == settled["deadline-guard"]
    assert [word for word, _ in alarm.asked][:2] == [{}, {1: far}]
    assert all(word == {1: far} for word, _ in alarm.asked[1:])


def test_a_deadline_the_alarm_holds_is_left_to_it_first_and_sent_after_if_it_did_not() -> None:
    """The alarm sends a deadline's SIGTERM when it holds it (a program it woke gets a core
    sooner than one the busy daemon woke): the guard's thread is its backup, and sends
    only ``ALARM_FIRST_S`` after the deadline. A session the alarm does not hold is sent
    at its deadline, as ever."""
    seen = Recorder()
    held = {1}
    guard = DeadlineGuard(seen.terminate, seen.on_fired, alarm_holds=held.__contains__)
    try:
        at = time.monotonic() + 0.2
        guard.keep({1: at, 2: at})
        deadline = time.monotonic() + 10
        while len(seen.terminated) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        guard.close()
    when = dict(seen.terminated)
    assert set(when) == {1, 2}
    assert when[2] >= at
    assert when[1] >= at + ALARM_FIRST_S  # never before the alarm's turn has passed
    assert guard.sends_at(1, at) == at + ALARM_FIRST_S and guard.sends_at(2, at) == at


def test_given_is_done_only_once_the_alarm_took_the_word_with_the_new_deadline() -> None:
    """ci on de34b67: a launch answered before the teller's thread had given the alarm the
    new session's deadline; killed (-9) right after the answer, the daemon left a session no
    alarm held, which played on past its deadline until the restart. ``given`` (what the
    launch now waits for) is done only after the alarm took a word holding it."""
    took: list[dict[int, float]] = []
    slow = threading.Event()

    def arm(deadlines: dict[int, float]) -> list[int]:
        slow.wait(10)  # an alarm slow to answer (or a teller slow to get the GIL)
        took.append(dict(deadlines))
        return []

    seen = Recorder()
    guard = DeadlineGuard(seen.terminate, seen.on_fired, arm=arm)
    try:
        far = time.monotonic() + 3600
        guard.keep({1: far})
        first = guard.given()
        time.sleep(0.2)  # the teller is inside arm(), giving the first word
        guard.keep({1: far, 2: far})  # a second launch's word, pending behind it
        second = guard.given()
        assert not first.done() and not second.done()
        slow.set()
        first.result(10)
        assert took[0] == {1: far}
        second.result(10)
        assert took[-1] == {1: far, 2: far}
        idle = guard.given()  # nothing pending nor being given: done at once
        assert idle.done()
    finally:
        slow.set()
        guard.close()
    bare = DeadlineGuard(seen.terminate, seen.on_fired)
    try:
        assert bare.given().done()  # no alarm to tell: at once
    finally:
        bare.close()
