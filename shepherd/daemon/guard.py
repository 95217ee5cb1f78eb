"""Deadlines kept off the event loop: SIGTERM at the instant, however busy the loop is.

The loop decides (the engine) and keeps the books, and answers every client too.
Under a flood of requests a timer of the loop runs only when the loop's current
round of work is done: with 60 busy clients that was a second late (found by the
load check of issue 14). So the guard, a thread of its own that sleeps until the
earliest deadline, sends SIGTERM to that session itself the moment it passes,
then asks the loop to carry out the stop as usual (the books, the audit, SIGKILL
after the grace). The loop gives it every running session's deadline again after
each change (``Daemon._schedule``). A change that moves a deadline later (an
extension, a grant) hands it over first (``move``, from ``Daemon._move_deadlines``),
atomically with a look at whether the old one's SIGTERM went: if it did, the
deadline won, and the change says so (too late, ``already_stopping``).

Only a backend that can signal a session safely from another thread takes part
(``terminate_now``: a cgroup's members through pidfds); others leave it to the loop.

The thread needs the GIL to send its SIGTERM; under a flood of long lines the loop
holds it for milliseconds at a time (issue 9 F3: 140 ms late). So each deadline is
also given to the backend's alarm (``arm``: a process of its own that signals the
group at the deadline, ``supervisor/alarm.py``). Both wake at the deadline; the
backend's token for the session (``DirectBackend._claim``) says which of them sends
the SIGTERM: the first to read its byte, never both, and neither waits for the other
(a stopped alarm leaves the byte to this thread). The thread and the loop then carry
out the stop as before. Without an alarm (it failed, or systemd) the thread sends it,
as before. The alarm is told on a
second thread of the guard's (the teller), neither the loop's nor the deadlines' (a
request waits for its reply: up to half a second when the alarm is stuck):
``keep`` hands the deadlines over and returns. The deadline still wins a race: the
alarm fires every deadline it has passed before it reads a change,
and a change that finds it fired has the session stopped (``fired``).

Who sends when both could: the alarm. A SIGTERM sent from this thread reached its
program later (issue 13: p99 42 ms after the deadline against 26 ms when the alarm sent
it, in the same run; each sender punctual to 1–5 ms by its own clock): the waker's core
is where the woken program is put, and the daemon goes on running there, at its higher
priority, while the alarm sleeps again at once. So while the alarm holds a session's
deadline (``alarm_holds``) this thread is its backup: it takes the token only
``ALARM_FIRST_S`` after the deadline, when an alarm that is stopped or late has not; and
the loop's own stop, which carries out the deadline's books at once, waits as long
before it signals (``DirectBackend._sigterm_once``). Without an alarm, or for a
session it does not hold, this thread sends at the deadline, as before. A change that
reaches this thread in those milliseconds is still decided by the alarm (``move``): the
deadline wins if it fired.

``hold_gil`` (tests only; ``SHEPHERD_TEST_HOLD_GIL=SECONDS`` at the daemon's command
line): the loop holds the GIL in a busy loop from just before each deadline to
SECONDS after it, so a test can show the SIGTERM leaves while nothing in this
interpreter can run.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from shepherd.supervisor.alarm import ALARM_FIRST_S

log = logging.getLogger(__name__)

HOLD_ENV = "SHEPHERD_TEST_HOLD_GIL"  # read by the daemon's command (daemon_cmd.py) only
HOLD_BEFORE_S = 1.0  # the hook begins this long before the deadline (a late loop too)


class DeadlineGuard:
    def __init__(self, terminate: Callable[[int], bool], fired: Callable[[int], None],
                 arm: Callable[[dict[int, float]], list[int]] | None = None,
                 hold_gil: float = 0.0,
                 alarm_holds: Callable[[int], bool] | None = None) -> None:
        """``terminate(session)``: SIGTERM it now (False: cannot from here);
        ``fired(session)``: called after, from this thread (hand it to the loop);
        ``arm(deadlines)``: give them to the alarm, from the teller's thread; it answers the
        sessions whose SIGTERM it had sent already (``fired`` is called for each);
        ``hold_gil``: the test hook above (0: off);
        ``alarm_holds(session)``: True while a serving alarm holds its deadline (this
        thread then sends ``ALARM_FIRST_S`` later, if the alarm has not)."""
        self._terminate = terminate
        self._fired = fired
        self._arm = arm
        self._alarm_holds = alarm_holds
        self._hold = hold_gil
        self._to_arm: dict[int, float] | None = None  # for the alarm, from this thread
        self._held: set[int] = set()
        self._deadlines: dict[int, float] = {}
        self._sent: set[int] = set()  # SIGTERM sent, the loop not yet stopping: never twice
        self._word: dict[int, float] = {}  # the loop's last deadlines (``keep``)
        self._moves: dict[int, float] = {}  # ``move``: kept over the loop's word until settled
        self._asked: list[tuple[int, Future[bool]]] = []  # moves the alarm must answer
        self._telling: list[tuple[int, Future[bool]]] = []  # (taken with ``_to_arm``)
        # ``given``: done once the alarm was given the word pending then (the next word's
        # waiters; the word being given's, while the teller gives it: None when idle).
        self._given_next: list[Future[None]] = []
        self._giving: list[Future[None]] | None = None
        # One lock, a condition for each thread: a word that changes nothing for one of
        # them does not wake it (issue 13: the idle daemon's wake-ups).
        lock = threading.Lock()
        self._changed = threading.Condition(lock)  # the guard's thread: its deadlines
        self._told = threading.Condition(lock)  # the teller's thread: a word for the alarm
        self._handed: dict[int, float] | None = None  # the last word for the alarm
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="deadline-guard", daemon=True)
        self._thread.start()
        # The alarm is told by a thread of its own: a stopped or slow alarm's answer (up
        # to REPLY_TIMEOUT_S) never holds up the next deadline's SIGTERM (review-9-s9 M2).
        self._teller: threading.Thread | None = None
        if arm is not None:
            self._teller = threading.Thread(target=self._tell, name="alarm-teller",
                                            daemon=True)
            self._teller.start()

    def keep(self, deadlines: dict[int, float]) -> None:
        """The running sessions' deadlines (``CLOCK_MONOTONIC``), replacing the last ones.
        From the loop; the alarm is told by the teller's thread (never waited for here)."""
        if self._hold > 0:
            self._hold_at(deadlines)
        with self._changed:
            self._word = dict(deadlines)
            deadlines = {s: self._moves.get(s, at) for s, at in deadlines.items()}
            if self._arm is not None and (deadlines or self._handed != {}):
                # Handed over even when unchanged: a session the backend did not know yet
                # at the last word (its start not confirmed) is armed now. The thread
                # sends the alarm only what changed (``DirectBackend._sync``). No session
                # now nor at the last word (an idle tick): nothing to tell, and the
                # teller's thread sleeps on.
                self._to_arm = dict(deadlines)  # the latest word replaces one not yet sent
                self._handed = self._to_arm
                self._told.notify()
            self._sent &= deadlines.keys()
            kept = {s: at for s, at in deadlines.items() if s not in self._sent}
            if kept != self._deadlines:
                self._deadlines = kept
                self._changed.notify_all()

    def move(self, session: int, at: float) -> Future[bool]:
        """From the loop, before an extension is made (review-9-s9 M1): the session's
        deadline becomes ``at`` in both keepers, atomically with the check that the old
        deadline's SIGTERM has not gone. The answer (a future: the alarm is asked on this
        teller's thread, never waited for on the loop) is False when this thread or the
        alarm had sent it already: the extension must not be made. Until ``settle`` the
        moved deadline stands over the loop's word (``keep``)."""
        done: Future[bool] = Future()
        with self._changed:
            if session in self._sent:  # this thread took it as due: its SIGTERM goes
                done.set_result(False)
                return done
            self._moves[session] = at
            if session in self._deadlines:
                self._deadlines[session] = at
            if self._arm is None:
                done.set_result(True)
            else:
                self._to_arm = {s: self._moves.get(s, t) for s, t in self._word.items()}
                self._to_arm[session] = at
                self._handed = self._to_arm
                self._asked.append((session, done))
                self._told.notify()
            self._changed.notify_all()
        return done

    def given(self) -> Future[None]:
        """From the loop, after ``keep``: done once the alarm was given that word (or
        failed to take it: a stopped or slow alarm answers within ``REPLY_TIMEOUT_S``; an
        alarm not serving is not asked). A launch is answered only then: the alarm
        outlives a daemon killed right after the answer, and holds the new session's
        deadline while no daemon runs (one killed before the teller told it left the
        session playing on past its deadline until the restart)."""
        done: Future[None] = Future()
        with self._changed:
            if self._closed or self._arm is None:
                done.set_result(None)
            elif self._to_arm is not None:  # taken with the next word
                self._given_next.append(done)
            elif self._giving is not None:  # the word is being given now
                self._giving.append(done)
            else:
                done.set_result(None)
        return done

    def settle(self, session: int) -> None:
        """From the loop: a ``move`` is now the loop's own word (or was given up)."""
        with self._changed:
            self._moves.pop(session, None)

    def _hold_at(self, deadlines: dict[int, float]) -> None:
        """The test hook (``HOLD_ENV``): once per session, the loop busy with the GIL held."""
        loop = asyncio.get_running_loop()
        for session, at in deadlines.items():
            if session not in self._held:
                self._held.add(session)
                loop.call_at(at - HOLD_BEFORE_S, _hold_gil, at + self._hold)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            self._told.notify_all()
        self._thread.join(timeout=5)
        if self._teller is not None:
            self._teller.join(timeout=5)
        with self._changed:  # a move never answered (closing): nothing waits forever
            for _, done in self._asked + self._telling:
                if not done.done():
                    done.set_result(False)
            for given in self._given_next + (self._giving or []):
                if not given.done():
                    given.set_result(None)

    def _due(self) -> int | None:
        """Wait (lock held) until a deadline passes (its session); None once closed."""
        while not self._closed:
            now = time.monotonic()
            if self._deadlines:
                session, at = min(((s, self.sends_at(s, at)) for s, at in
                                   self._deadlines.items()), key=lambda item: item[1])
                if at <= now:
                    del self._deadlines[session]
                    self._sent.add(session)
                    log.debug("deadline guard: session %d is due (%.1f ms late)", session,
                              (now - at) * 1000)
                    return session
            if self._deadlines:
                self._changed.wait(at - now)
            else:
                self._changed.wait()
        return None

    def sends_at(self, session: int, deadline: float) -> float:
        """When this thread would send the session's SIGTERM: at its deadline, or
        ``ALARM_FIRST_S`` after it while the alarm holds it."""
        if self._alarm_holds is not None and self._alarm_holds(session):
            return deadline + ALARM_FIRST_S
        return deadline

    def _run(self) -> None:
        while True:
            with self._changed:
                session = self._due()
            if session is None:
                return
            began = time.monotonic()
            try:
                if self._terminate(session):
                    log.debug("deadline guard: session %d sent SIGTERM in %.1f ms", session,
                              (time.monotonic() - began) * 1000)
                    self._fired(session)
            except Exception:  # the guard must never die; the loop still stops it
                log.exception("deadline guard: session %d", session)


    def _tell(self) -> None:
        """The teller's thread: each latest word given to the alarm, until closed."""
        while True:
            with self._changed:
                while self._to_arm is None and not self._closed:
                    self._told.wait()
                deadlines, self._to_arm = self._to_arm, None
                if deadlines is None:  # closed
                    return
                self._telling, self._asked = self._asked, []
                self._giving, self._given_next = self._given_next, []
            try:
                self._give_alarm(deadlines)
            finally:
                with self._changed:
                    given, self._giving = self._giving or [], None
                for done in given:
                    if not done.done():
                        done.set_result(None)

    def _give_alarm(self, deadlines: dict[int, float]) -> None:
        """On the teller's thread: the alarm brought in line; a session whose SIGTERM it
        had sent already (the deadline won the race with a later one) is stopped as expired."""
        assert self._arm is not None
        asked, self._telling = self._telling, []
        try:
            fired = self._arm(deadlines)
        except Exception:  # the guard must never die; its own deadlines still hold
            log.exception("deadline guard: the alarm could not be told")
            fired = []
        for session, done in asked:  # a move stands unless the old deadline fired first
            done.set_result(session not in fired)
        for session in fired:
            self._fired(session)


def _hold_gil(until: float) -> None:
    """Busy until ``until`` (monotonic) without giving the GIL to any other thread: no
    switch is asked for (a huge switch interval) and nothing here releases it."""
    interval = sys.getswitchinterval()
    began = time.time()
    sys.setswitchinterval(1000.0)
    try:
        while time.monotonic() < until:
            pass
    finally:
        sys.setswitchinterval(interval)
    log.warning("test hook: the loop held the GIL from %.6f to %.6f", began, time.time())
