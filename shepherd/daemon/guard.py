"""Deadlines kept off the event loop: SIGTERM at the instant, however busy the loop is.

The loop decides (the engine) and keeps the books, and answers every client too.
Under a flood of requests a timer of the loop runs only when the loop's current
round of work is done: with 60 busy clients that was a second late (found by the
load check of issue 14). So the guard, a thread of its own that sleeps until the
earliest deadline, sends SIGTERM to that session itself the moment it passes,
then asks the loop to carry out the stop as usual (the books, the audit, SIGKILL
after the grace). The loop gives it every running session's deadline again after
each change (``Daemon._schedule``), so a deadline a grant moves later is moved
here too; a grant that arrives after the deadline passed is too late.

Only a backend that can signal a session safely from another thread takes part
(``terminate_now``: a cgroup's members through pidfds); others leave it to the loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class DeadlineGuard:
    def __init__(self, terminate: Callable[[int], bool], fired: Callable[[int], None]) -> None:
        """``terminate(session)``: SIGTERM it now (False: cannot from here);
        ``fired(session)``: called after, from this thread (hand it to the loop)."""
        self._terminate = terminate
        self._fired = fired
        self._deadlines: dict[int, float] = {}
        self._sent: set[int] = set()  # SIGTERM sent, the loop not yet stopping: never twice
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="deadline-guard", daemon=True)
        self._thread.start()

    def keep(self, deadlines: dict[int, float]) -> None:
        """The running sessions' deadlines (``CLOCK_MONOTONIC``), replacing the last ones."""
        with self._changed:
            self._sent &= deadlines.keys()
            kept = {s: at for s, at in deadlines.items() if s not in self._sent}
            if kept != self._deadlines:
                self._deadlines = kept
                self._changed.notify()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._thread.join(timeout=5)

    def _due(self) -> int | None:
        """Wait (lock held) until a deadline passes: its session, or None once closed."""
        while not self._closed:
            now = time.monotonic()
            if self._deadlines:
                session, at = min(self._deadlines.items(), key=lambda item: item[1])
                if at <= now:
                    del self._deadlines[session]
                    self._sent.add(session)
                    log.debug("deadline guard: session %d is due (%.1f ms late)", session,
                              (now - at) * 1000)
                    return session
                self._changed.wait(at - now)
            else:
                self._changed.wait()
        return None

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
