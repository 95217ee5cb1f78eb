"""The engine driven through a day on a simulated clock, as the daemon drives it.

Time only moves forward. On the way to a moment, every warning and every stop
the engine asks for happens at the instant it asks (``next_wakeup``, then
``due``), and a stopped session is ended with the reason the engine gives: the
same path the daemon takes, without its processes, store or sockets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shepherd.engine import Engine, Event, Instant, SessionDue, TimedGrant
from shepherd.engine.grants import DayRaises
from shepherd.policy import Policy

_MONO_BASE = 1000.0
_MAX_STEPS = 100_000  # a safety net: a day has far fewer warnings and stops
_NUDGE_S = 1e-3


@dataclass(frozen=True)
class Starting:
    """What is known before the day: the store's usage, cooldowns, grants and locks
    (``shepherd policy explain --db``), or nothing (a day with nothing used)."""

    usage: Mapping[tuple[str, str, date], float] = field(default_factory=dict)
    cooldowns: Mapping[tuple[str, str], datetime] = field(default_factory=dict)
    grants: Mapping[tuple[str, str, date], int] = field(default_factory=dict)
    locked: frozenset[str] = frozenset()
    timed_grants: tuple[TimedGrant, ...] = ()  # --until a time, or for the week
    expiries_noted: frozenset[int] = frozenset()
    counted: bool = False  # read from a store or a running daemon: known, even when empty
    # of ``grants``, the week's time sets set aside for their day (Engine.aside)
    aside: Mapping[tuple[str, str, date], int] = field(default_factory=dict)
    # per day, the use its own time had not paid for when it last changed (Engine.beyond)
    beyond: Mapping[tuple[str, str, date], int] = field(default_factory=dict)
    # per day, of its time added for today what was used when a take-back or a set last
    # cut it (Engine.kept)
    kept: Mapping[tuple[str, str, date], int] = field(default_factory=dict)
    # per day, what its words raised and took of its own time (Engine.raises)
    raises: Mapping[tuple[str, str, date], tuple[int, int, int, int]] = field(default_factory=dict)

    from_daemon: bool = False  # the books of a running daemon, asked over its socket

    def to_json(self) -> dict[str, Any]:
        """As data (``policy.books``): each map a list of its keys and value."""
        def rows(books: Mapping[tuple[str, str, date], Any]) -> list[list[Any]]:
            return [[user, target, day.isoformat(), value]
                    for (user, target, day), value in books.items()]
        return {"usage": rows(self.usage), "grants": rows(self.grants),
                "aside": rows(self.aside), "beyond": rows(self.beyond),
                "kept": rows(self.kept), "raises": rows(self.raises),
                "cooldowns": [[user, entry, until.isoformat()]
                              for (user, entry), until in self.cooldowns.items()],
                "locked": sorted(self.locked), "expiries_noted": sorted(self.expiries_noted),
                "timed_grants": [{**{f.name: getattr(g, f.name) for f in fields(g)},
                                  "day": g.day.isoformat(), "expires": g.expires.isoformat()}
                                 for g in self.timed_grants]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Starting:
        """The books ``to_json`` gave, as a running daemon knows them."""
        def books(key: str) -> dict[tuple[str, str, date], Any]:
            return {(user, target, date.fromisoformat(day)): value
                    for user, target, day, value in data.get(key, ())}
        return cls(books("usage"),
                   {(user, entry): datetime.fromisoformat(until)
                    for user, entry, until in data["cooldowns"]},
                   books("grants"), frozenset(data["locked"]),
                   tuple(TimedGrant(**{**g, "day": date.fromisoformat(g["day"]),
                                       "expires": datetime.fromisoformat(g["expires"])})
                         for g in data["timed_grants"]),
                   frozenset(data["expiries_noted"]), counted=True, aside=books("aside"),
                   beyond=books("beyond"), kept=books("kept"),
                   raises={k: DayRaises(*map(int, v)) for k, v in books("raises").items()},
                   from_daemon=True)

    @property
    def known(self) -> bool:
        return self.counted or bool(self.usage or self.cooldowns or self.grants or self.locked
                                    or self.timed_grants)

    def engine(self, policy: Policy, zone: ZoneInfo, day: date) -> Engine:
        """A fresh engine that knows what was used up to ``day`` (later days are not yet)."""
        return Engine(policy, zone,
                      usage={k: v for k, v in self.usage.items() if k[2] <= day},
                      cooldowns=self.cooldowns,
                      grants={k: v for k, v in self.grants.items() if k[2] <= day},
                      locked=self.locked,
                      timed_grants=[g for g in self.timed_grants if g.day <= day],
                      expiries_noted=self.expiries_noted,
                      aside={k: v for k, v in self.aside.items() if k[2] <= day},
                      beyond={k: v for k, v in self.beyond.items() if k[2] <= day},
                      kept={k: v for k, v in self.kept.items() if k[2] <= day},
                      raises={k: v for k, v in self.raises.items() if k[2] <= day})


class DayRun:
    """One engine and a clock that starts at ``origin`` and only moves forward."""

    def __init__(self, engine: Engine, origin: datetime) -> None:
        self.engine = engine
        self.origin = origin
        self.mono = _MONO_BASE
        self._next_id = 1

    @property
    def wall(self) -> datetime:
        return self.origin + timedelta(seconds=self.mono - _MONO_BASE)

    @property
    def now(self) -> Instant:
        return Instant(self.wall, self.mono)

    def mono_at(self, moment: datetime) -> float:
        return _MONO_BASE + (moment - self.origin).total_seconds()

    def session_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def advance(self, until: datetime) -> list[tuple[datetime, Event]]:
        """Move the clock to ``until``; the warnings issued and sessions ended on the way,
        each with its moment."""
        target = max(self.mono_at(until), self.mono)
        events: list[tuple[datetime, Event]] = []
        stalled = False
        for _ in range(_MAX_STEPS):
            wake = self.engine.next_wakeup(self.now)
            if wake is None or wake > target:
                break
            if stalled and wake <= self.mono:
                wake = self.mono + _NUDGE_S  # the wall clock's microseconds rounded a hair
            self.mono = max(self.mono, wake)
            happened = self._due()
            stalled = not happened
            events += happened
        self.mono = target
        events += self._due()
        return events

    def _due(self) -> list[tuple[datetime, Event]]:
        now = self.now
        events: list[tuple[datetime, Event]] = []
        for event in self.engine.due(now):
            if isinstance(event, SessionDue):
                event = self.engine.end_session(event.session_id, now, event.reason)
            events.append((now.wall, event))
        return events

