"""An entry's availability as a value that answers for later instants too (``status``).

``status`` asks the engine about every (child, entry) pair several times a second
(the TUI, the agent, scripts), and between two changes of the engine's state most
answers do not change at all: a child's entry that none of the child's running
sessions spends stands still until a window opens or closes, a cooldown ends or
the quota day rolls over. Only its time left moves, and only with the wall clock.

So the engine works an availability out in two steps (``Engine.outlook`` then
``Engine.verdict``): an ``Outlook`` holds everything that does not depend on the
exact instant, with each limit's time left as a ``Term`` of the wall clock, and
the verdict evaluates those terms at the instant asked. A fresh availability is
the same two steps at one instant, so an outlook reused at a later instant gives
the very same answer, float for float, as long as it ``holds``:

- the engine's state is the one it was worked out from (``version``: bumped by
  every change: launches, ends, grants, locks, cooldowns, reloads, pauses, the
  household's books; a checkpoint's charge is not one, see ``volatile``);
- the instant is not before it (a wall clock set back is worked out afresh) and
  before its next change (``until``: a window opening or closing, a cooldown
  ending, the quota day or the local date rolling over);
- each time-left term still takes the branch it took (``guards``: a quota that ran
  out on its day while that day's end was further away);
- it is not ``volatile``: the entry is not running, here or on another machine, the
  child has no session on another machine and no grant that expires. Those answers
  move with the monotonic clock too and are never reused. A group quota the child's
  running sessions spend moves with it too, but it is one for the group's many
  entries: an outlook marks it ``live`` and the verdict looks at it again (once per
  read pass for all of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

from shepherd.engine.clock import Instant
from shepherd.engine.events import DeadlineCause, EntryState, Period, Reason


@dataclass(frozen=True, slots=True)
class Term:
    """Seconds left by one limit as a function of the wall clock: ``start``, or the
    seconds until ``anchor``; then each of ``adds`` added in turn (in the order the
    engine sums them, so evaluating later gives the float a fresh sum gives)."""

    start: float = 0.0
    anchor: datetime | None = None
    adds: tuple[float, ...] = ()

    def at(self, wall: datetime) -> float:
        value = self.start if self.anchor is None else (self.anchor - wall).total_seconds()
        for add in self.adds:
            value += add
        return value


@dataclass(frozen=True, slots=True)
class Limit:
    """One term of a deadline with what it is (a quota, a window, ``max_run``...)."""

    term: Term
    cause: DeadlineCause
    group: str | None
    period: Period
    sharing: int = 1  # a quota's: the running sessions of the child that spend it
    live: bool = False  # a group quota those spend: worked out again at each instant


@dataclass(frozen=True, slots=True)
class Guard:
    """A quota's runway ended on its first day: it does while ``share`` (its share
    of the quota left, plus what extends it) stays below the seconds to ``end``."""

    end: datetime
    share: float

    def holds(self, wall: datetime) -> bool:
        return self.share < (self.end - wall).total_seconds()


@dataclass(frozen=True, slots=True)
class GroupCheck:
    """Whether one of the entry's group quotas refuses: ``reason`` as it stands, or
    ``live``: one the child's running sessions spend, looked at again at each instant."""

    group: str
    live: bool
    reason: Reason | None


@dataclass(frozen=True, eq=False)
class Outlook:
    """Everything about a (user, entry) pair's availability but the instant's arithmetic."""

    user: str
    entry: str
    blocked: tuple[Reason, ...]
    version: int
    since: Instant
    until: datetime | None  # the next change; None: none within sight
    volatile: bool
    day: date
    head: tuple[Reason, ...]  # the reasons that come before the group quotas'
    head_states: tuple[EntryState, ...]
    groups: tuple[GroupCheck, ...]
    tail: tuple[Reason, ...]  # and after: cooldown, windows, busy
    tail_states: tuple[EntryState, ...]
    used_today_s: float
    remaining_today_s: float | None
    cooldown_until: datetime | None
    next_opening: datetime | None  # of its windows, when closed
    limits: tuple[Limit, ...] | None  # its deadline's terms, when nothing refuses
    guards: tuple[Guard, ...]

    @cached_property
    def live(self) -> bool:
        """Does its answer follow a group quota the child's running sessions spend?"""
        return (any(check.live for check in self.groups)
                or any(limit.live for limit in self.limits or ()))

    def steady(self, now: Instant) -> bool:
        """Is its verdict at ``now`` the one it gives at ``since`` (for an instant it holds
        for)? So while nothing refuses and a fixed term (``max_run``, a quota that runs
        out today) binds, with each term that runs down with the clock a second above it."""
        calm = self._calm_until
        return calm is None or now.wall < calm

    @cached_property
    def _calm_until(self) -> datetime | None:
        return self.since.wall if self.live else self.calm_but_live

    @cached_property
    def calm_but_live(self) -> datetime | None:
        """``_calm_until`` of its terms but the ``live`` ones (``Engine.calm`` bounds
        those at each instant it renders them)."""
        if self.limits is None:  # refused: its time left is 0 whatever the clock says
            return None
        fixed = [limit.term.at(self.since.wall) for limit in self.limits
                 if limit.term.anchor is None and not limit.live]
        running = [limit.term for limit in self.limits
                   if limit.term.anchor is not None and not limit.live]
        if not running:
            return None
        if not fixed:
            return self.since.wall
        least = min(fixed)
        return min(term.anchor + timedelta(seconds=sum(term.adds) - least - 1.0)
                   for term in running if term.anchor is not None)

    def holds(self, now: Instant, version: int) -> bool:
        """Does this outlook still answer at ``now`` for an engine at ``version``?"""
        return (not self.volatile and version == self.version
                and now.wall >= self.since.wall and now.mono >= self.since.mono
                and (self.until is None or now.wall < self.until)
                and (not self.guards or all(g.holds(now.wall) for g in self.guards)))
