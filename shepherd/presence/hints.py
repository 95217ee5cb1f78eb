"""From a child's logind sessions to one ``Presence``: there, idle, locked or switched away.

Only sessions of class ``user`` count (not a greeter, a lock screen, a cron job or
the user's service manager). A child is *there* when any graphical session is
active on its seat, unlocked and not idle. Where Shepherd cannot see, the child
is there too (fail closed, time is counted): no graphical session at all, or a
text or remote login beside it (a terminal's idleness is not signalled, only
polled, and a child playing over ``ssh`` must not hide behind a locked screen).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shepherd.engine.events import PauseCause

GRAPHICAL = frozenset({"x11", "wayland", "mir"})


@dataclass(frozen=True)
class SeatSession:
    """One logind session, as its properties say."""

    id: str
    uid: int
    type: str  # x11, wayland, mir, tty, unspecified
    session_class: str  # user, greeter, lock-screen, background, manager, ...
    active: bool  # the session in front on its seat (a session without a seat always is)
    locked: bool
    idle: bool
    idle_since_mono: float | None  # CLOCK_MONOTONIC seconds; None: not said

    @property
    def counts(self) -> bool:
        return self.session_class.startswith("user")

    @property
    def graphical(self) -> bool:
        return self.type in GRAPHICAL


@dataclass(frozen=True)
class Presence:
    """Is the child there? ``cause`` None: yes. Idle: since ``idle_since_mono``."""

    cause: PauseCause | None
    idle_since_mono: float | None = None
    why: str = ""  # when there although not seen: why (shown in logs)


HERE = Presence(None)


def presence_of(sessions: Iterable[SeatSession]) -> Presence:
    mine = [s for s in sessions if s.counts]
    graphical = [s for s in mine if s.graphical]
    if not graphical:
        return Presence(None, why="no graphical session")
    if len(graphical) != len(mine):
        return Presence(None, why="a text or remote login is open")
    if any(s.active and not s.locked and not s.idle for s in graphical):
        return HERE
    in_front = [s for s in graphical if s.active and not s.locked]
    if in_front:  # every one of them idle: since the latest began
        known = [s.idle_since_mono for s in in_front if s.idle_since_mono is not None]
        return Presence("idle", max(known) if len(known) == len(in_front) else None)
    if any(s.locked for s in graphical):
        return Presence("locked")
    return Presence("switched_away")
