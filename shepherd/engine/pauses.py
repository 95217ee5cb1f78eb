"""A session's pause intervals: the time a child is not there is not billed (rule 12).

The shell reports, per child, what the child's screen says, as values: the
screen locked, or another session took the seat, since a moment; the child idle
since the idle began; or the child back. The engine keeps one ``PauseClock`` per
session whose entry counts ``"active"`` time and turns those reports into pause
intervals:

- **Locked or switched away**: the session stops being billed from that moment
  (never before what was already charged: usage only grows).
- **Idle** is *held*: from when the idle began the session's time still counts
  as used (no deadline moves, a deadline that falls due still ends it) but is not
  charged yet. Once the idle has lasted ``idle_after`` the session is paused from
  when the idle began, so none of that idle time is billed; activity before then
  bills it as it ran. Either way at most ``idle_after`` of idle time is billed. A
  lock during a held idle pauses from when the idle began: the lock confirms that
  nobody was there. Where the entry's programs are frozen while paused
  (``while_paused = "freeze"``), a pause begins where they are frozen instead: when
  the engine decides the pause (the lock, or the idle once it has lasted
  ``idle_after``), on which the daemon freezes them. Until then they ran, so the time
  is billed, and a faked idle, or an idle whose start is moved back, gains nothing
  (``_pause_start``).
- **While paused** the session's own clock stands still: ``max_run`` and its
  quotas' use do not advance, so its deadline moves out by the paused time. What
  the wall clock decides still holds: a window that closes, or a new day whose
  quota is spent, ends a paused session on time.
- A session that starts, or is adopted, while its child is away starts paused.

Pure bookkeeping on monotonic readings: the engine owns the rules about when to
call what, this module only the arithmetic of one session's intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shepherd.engine.clock import Instant
from shepherd.engine.events import PauseCause


@dataclass(frozen=True)
class Away:
    """What the child's screen says: ``cause`` since ``since`` (for idle: when it began)."""

    cause: PauseCause
    since: Instant


@dataclass(frozen=True)
class Pause:
    """A pause in force, as status shows it."""

    cause: PauseCause
    since: datetime


@dataclass
class PauseClock:
    """One session's pauses, on the monotonic clock.

    Between two checkpoints a session's time is, in order: billable up to
    ``charge_end``; held (an idle not yet past ``idle_after``: used, not charged);
    paused (skipped at the next settle, added to ``paused_s``).
    """

    paused_s: float = 0.0  # paused time settled so far (up to the last checkpoint)
    start: float | None = None  # a pause in force began here
    since: datetime | None = None  # the same moment on the wall clock, as shown
    cause: PauseCause | None = None
    held: float | None = None  # an idle that is not a pause yet began here

    @property
    def paused(self) -> bool:
        return self.start is not None

    def shown(self) -> Pause | None:
        if self.start is None or self.cause is None or self.since is None:
            return None
        return Pause(self.cause, self.since)

    def charge_end(self, charged: float, now: float) -> float:
        """Up to where the time since the last checkpoint (``charged``) may be charged."""
        if self.start is not None:
            return max(self.start, charged)
        if self.held is not None:
            return max(self.held, charged)
        return now

    def used_end(self, charged: float, now: float) -> float:
        """Up to where it counts as used: held time does, paused time does not."""
        return max(self.start, charged) if self.start is not None else now

    def unsettled_pause(self, charged: float, now: float) -> float:
        """Paused time since the last checkpoint, not yet in ``paused_s``."""
        return max(now - max(self.start, charged), 0.0) if self.start is not None else 0.0

    def settle(self, charged: float, now: float) -> float:
        """The new checkpoint after charging up to ``charge_end``: a pause is skipped."""
        if self.start is not None:
            self.paused_s += self.unsettled_pause(charged, now)
            return now
        return self.charge_end(charged, now)

    def pause(self, start: float, cause: PauseCause, now: Instant) -> None:
        self.start = start
        self.since = now.at_mono(start).wall
        self.cause = cause
        self.held = None

    def resume(self, now: float) -> float:
        """End the pause (its time must be settled first); how long it lasted."""
        assert self.start is not None
        lasted = now - self.start
        self.start = self.since = self.cause = None
        return lasted
