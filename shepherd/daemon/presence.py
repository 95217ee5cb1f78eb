"""The daemon's end of the presence source: which children to watch, and the watch's life.

The logind watch (``shepherd.presence``) reports what each child's screen says;
this module starts it when the policy counts active time somewhere, follows
policy reloads, and hands every report to the daemon's typed commands
(``child_presence``, ``presence_problem``), which decide with the engine.

A child can flap their own screen lock (logind's ``SetLockedHint`` on their own
session, a thousand times a second): every change would be a pause or a resume,
two audit rows, a freeze or a thaw, and the loop that refuses outside programs
would fall seconds behind. So the feed settles what it hands on (``Settle``): the
child back is handed on at once (billed, thawed: nothing is given by waiting), a
child away at most once every ``SETTLE_S`` (the latest report then, and only if it
still holds). Only the latest state matters: a lock that came and went between two
hand-overs was never frozen, so it is billed, and where programs are frozen the
pause begins where the engine hears of it (engine rule 12), so flapping gains
nothing. The daemon's work is then at most one pause and one resume a second per
child, whatever the rate of the lock.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shepherd.engine import Instant
from shepherd.policy import Policy
from shepherd.presence import LogindWatch, Presence
from shepherd.supervisor.account import Account

log = logging.getLogger("shepherd.daemon")

FLAPS_SHOWN_S = 3600.0  # status tells of a storm of screen changes for an hour after
FLAP_GOING_ON_S = 3.0  # a storm seen this recently is said to go on


def counts_active(policy: Policy) -> bool:
    """Does any entry count only active time (so the screen must be watched)?"""
    return any(policy.counts_active(e) for e in policy.entries)


def children(policy: Policy, user_mode: bool, child: str | None) -> dict[str, int]:
    """Login name → uid of the children to watch. User mode: the invoking user plays one."""
    if user_mode:
        return {child: os.getuid()} if child is not None else {}
    found: dict[str, int] = {}
    for user in policy.users:
        try:
            found[user.name] = Account.lookup(user.name).uid
        except KeyError:
            continue  # no such account here: it cannot be at the screen either
    return found


SETTLE_S = 1.0  # a child away is handed on at most once a second (a flapping lock)


@dataclass
class _Child:
    applied: Presence | None = None  # handed on last (None: nothing yet)
    away_at: float = -math.inf  # when an away was last handed on
    pending: Presence | None = None  # away, waiting for its turn
    away_since: float | None = None  # when the reports left "there" (monotonic)


class Settle:
    """Per child, which presence report to hand on now, and when to look again.

    Pure: the caller gives the monotonic time. ``report`` and ``due`` answer
    ``(presence, seen)`` to hand on (``seen``: when the child went away, or now for
    a child back), or None."""

    def __init__(self, every_s: float = SETTLE_S) -> None:
        self.every_s = every_s
        self._children: dict[str, _Child] = {}

    def report(self, name: str, presence: Presence, now: float) -> tuple[Presence, float] | None:
        child = self._children.setdefault(name, _Child())
        if presence.cause is None:  # back: at once, whatever the rate
            child.pending = child.away_since = None
            if child.applied is not None and child.applied.cause is None:
                return None
            child.applied = presence
            return presence, now
        if child.away_since is None:
            child.away_since = now
        if presence == child.applied:
            child.pending = None
            return None
        child.pending = presence
        return self.due(name, now)

    def due(self, name: str, now: float) -> tuple[Presence, float] | None:
        child = self._children.get(name)
        if child is None or child.pending is None or now < child.away_at + self.every_s:
            return None
        presence, child.pending = child.pending, None
        child.applied, child.away_at = presence, now
        return presence, child.away_since if child.away_since is not None else now

    def wake_at(self, name: str) -> float | None:
        """When a report held back is due (None: none is)."""
        child = self._children.get(name)
        if child is None or child.pending is None:
            return None
        return child.away_at + self.every_s

    def keep(self, names: set[str]) -> None:
        self._children = {k: v for k, v in self._children.items() if k in names}


class PresenceFeed:
    """Owns the ``LogindWatch`` while the policy needs one, and settles what it reports."""

    def __init__(self, on_change: Callable[[str, Presence, float], None],
                 on_problem: Callable[[str | None], None], on_wake: Callable[[], None],
                 user_mode: bool, child: str | None) -> None:
        self._on_change = on_change  # (child, presence, seen: monotonic)
        self._on_problem = on_problem
        self._on_wake = on_wake
        self._user_mode = user_mode
        self._child = child
        self.watch: LogindWatch | None = None
        self.settle = Settle()
        self._timers: dict[str, asyncio.TimerHandle] = {}

    @property
    def problem(self) -> str | None:
        """Why active time cannot be seen (None: it can, or it is not asked for)."""
        return self.watch.problem if self.watch is not None else None

    @property
    def problem_detail(self) -> str | None:
        """The raw error behind ``problem`` (the log and --json, never the sentence)."""
        return self.watch.problem_detail if self.watch is not None else None

    def flapping(self, now: Instant) -> list[dict[str, Any]]:
        """Storms of screen changes of the last ``FLAPS_SHOWN_S``, for status (in words
        by the client): who (a child, or None: another account), when, how many."""
        if self.watch is None:
            return []
        return [{"child": f.child, "since": now.at_mono(f.began).wall.isoformat(),
                 "until": now.at_mono(f.last).wall.isoformat(),
                 "going_on": now.mono - f.last <= FLAP_GOING_ON_S,
                 "storms": f.storms, "heard": f.heard}
                for f in self.watch.flaps.values() if now.mono - f.last <= FLAPS_SHOWN_S]

    async def follow(self, policy: Policy) -> None:
        """Start watching when the policy first asks for it; then follow its children."""
        if not counts_active(policy):
            return
        watched = children(policy, self._user_mode, self._child)
        self.settle.keep(set(watched))
        for name in [n for n in self._timers if n not in watched]:
            self._timers.pop(name).cancel()
        if self.watch is not None:
            self.watch.set_children(watched)
            return
        self.watch = LogindWatch(watched, self._heard, self._on_problem, self._on_wake)
        if await self.watch.start():
            log.info("presence: following %d child(ren)'s sessions through logind",
                     len(watched))

    def _heard(self, name: str, presence: Presence) -> None:
        handed = self.settle.report(name, presence, time.monotonic())
        if handed is not None:
            self._on_change(name, *handed)
        self._schedule(name)

    def _due(self, name: str) -> None:
        self._timers.pop(name, None)
        handed = self.settle.due(name, time.monotonic())
        if handed is not None:
            self._on_change(name, *handed)
        self._schedule(name)

    def _schedule(self, name: str) -> None:
        """At most one timer per child (not one per report): one set while a report was
        held back is left to fire even if it no longer is (it then finds nothing due), so a
        flapping lock does not make and cancel a timer per change."""
        at = self.settle.wake_at(name)
        if at is not None and name not in self._timers:
            self._timers[name] = asyncio.get_running_loop().call_later(
                max(at - time.monotonic(), 0.0), self._due, name)

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self.watch is not None:
            await self.watch.close()
