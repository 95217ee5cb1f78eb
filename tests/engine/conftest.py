"""A fake clock for the engine: time is a value, so tests run in milliseconds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from shepherd.engine import Engine, Instant
from shepherd.policy import Policy, load_policy_text

PARIS = ZoneInfo("Europe/Paris")


@dataclass
class FakeClock:
    """Wall and monotonic time moved by hand. 2026-11-25 is a Wednesday."""

    wall: datetime
    mono: float = 1000.0

    @property
    def now(self) -> Instant:
        return Instant(self.wall, self.mono)

    def advance(self, seconds: float) -> Instant:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds
        return self.now

    def suspend(self, seconds: float) -> Instant:
        """The machine sleeps: the wall clock runs, the monotonic clock does not."""
        self.wall += timedelta(seconds=seconds)
        return self.now

    def set_wall(self, wall: datetime) -> Instant:
        self.wall = wall
        return self.now


def local(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


USERS = """
version = 1
[supervisor]
day_starts_at = "04:00"
default_warnings = [
  { before = "5m", message = "5 minutes left" },
  { before = "1m", severity = "critical", message = "1 minute left" },
]
[[users]]
name = "alex"
[[users]]
name = "sam"
"""


def alex_at_once(sessions: int) -> str:
    """The users of ``USERS``, alex allowed ``sessions`` programs at once."""
    return USERS.replace('name = "alex"', f'name = "alex"\nmax_sessions = {sessions}')


def policy(entries: str, users: str = USERS) -> Policy:
    return load_policy_text(users + entries)


def engine(entries: str, users: str = USERS) -> Engine:
    return Engine(policy(entries, users), PARIS)
