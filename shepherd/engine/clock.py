"""Time as values: the ``Instant`` the engine reasons about, and the trusted clock.

Two clocks matter (SPEC §3):

- ``mono`` (``CLOCK_MONOTONIC``) measures how long a session ran. It stops during
  suspend and cannot be set, so nothing a user does to the date changes usage.
- ``wall`` answers calendar questions (quota day, windows, cooldown ends). It is
  the *trusted* wall clock: the wall clock read when the daemon started, carried
  forward by ``CLOCK_BOOTTIME`` (which counts through suspend). A change of the
  system clock that ``CLOCK_BOOTTIME`` does not explain is a clock jump; the
  trusted clock follows it only when the system says its time is
  network-synchronised, or when an admin accepts it. A jump not followed is
  *pending* (``TrustedClock.pending``) for as long as the system clock disagrees:
  when the clock is put back within ``JUMP_TOLERANCE_S`` of the trusted one, the
  jump is over (``ClockRestored``) and nothing is left to accept.

This module never reads a clock: readings are passed in, so it is tested with
any sequence of readings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

JUMP_TOLERANCE_S = 60.0
SUSPEND_TOLERANCE_S = 2.0


@dataclass(frozen=True)
class Instant:
    """One moment as the engine sees it: trusted wall time (aware) and a monotonic reading."""

    wall: datetime
    mono: float

    def __post_init__(self) -> None:
        if self.wall.tzinfo is None:
            raise ValueError("Instant.wall must carry a time zone")
        object.__setattr__(self, "wall", self.wall.astimezone(UTC))

    def at_mono(self, mono: float) -> Instant:
        """Another monotonic reading of the same run, placed on the wall clock from this one."""
        return Instant(self.wall - timedelta(seconds=self.mono - mono), mono)


@dataclass(frozen=True)
class ClockReading:
    """Raw readings of the three system clocks, taken together."""

    wall: datetime
    mono: float
    boot: float
    synchronized: bool = False


@dataclass(frozen=True)
class ClockJump:
    """The system clock moved by ``skew_s`` more than boot time explains."""

    system_wall: datetime
    trusted_wall: datetime
    skew_s: float
    followed: bool
    why: str


@dataclass(frozen=True)
class Resumed:
    """The machine was suspended for ``slept_s`` seconds (boot time ran, monotonic did not)."""

    slept_s: float


@dataclass(frozen=True)
class ClockRestored:
    """The system clock agrees with the trusted one again: the pending jump is over."""

    system_wall: datetime
    skew_s: float  # what is left of the difference (within the tolerance)


ClockEvent = ClockJump | Resumed | ClockRestored


class TrustedClock:
    """The wall clock as Shepherd trusts it. Pure: feed it readings, read instants back."""

    def __init__(self, first: ClockReading, last_trusted: datetime | None = None) -> None:
        self.start_events: list[ClockEvent] = []
        self.pending: ClockJump | None = None  # a jump not followed, while it lasts
        self._reported_skew = 0.0
        wall = first.wall.astimezone(UTC)
        if last_trusted is not None and wall < last_trusted:
            self.pending = ClockJump(
                system_wall=wall, trusted_wall=last_trusted,
                skew_s=(wall - last_trusted).total_seconds(), followed=False,
                why="the system clock is earlier than the last trusted reading")
            self.start_events.append(self.pending)
            self._reported_skew = self.pending.skew_s
            wall = last_trusted
        self._base_wall = wall
        self._base_boot = first.boot
        self._last = first

    def _expected(self, boot: float) -> datetime:
        return self._base_wall + timedelta(seconds=boot - self._base_boot)

    def instant(self, reading: ClockReading) -> Instant:
        return Instant(self._expected(reading.boot), reading.mono)

    def observe(self, reading: ClockReading) -> list[ClockEvent]:
        """Check a reading for suspend and clock jumps; follow a jump only when synchronised."""
        events: list[ClockEvent] = []
        slept = (reading.boot - self._last.boot) - (reading.mono - self._last.mono)
        if slept > SUSPEND_TOLERANCE_S:
            events.append(Resumed(slept_s=slept))
        self._last = reading
        expected = self._expected(reading.boot)
        skew = (reading.wall.astimezone(UTC) - expected).total_seconds()
        if abs(skew) <= JUMP_TOLERANCE_S:
            self._reported_skew = 0.0
            if self.pending is not None:  # put back: nothing is left to accept
                events.append(ClockRestored(reading.wall, skew))
                self.pending = None
            return events
        if reading.synchronized:
            events.append(ClockJump(reading.wall, expected, skew, True,
                                    "the system clock is network-synchronised"))
            self.accept(reading)
        elif abs(skew - self._reported_skew) > JUMP_TOLERANCE_S:
            self.pending = ClockJump(reading.wall, expected, skew, False,
                                     "not synchronised: waiting for an admin to accept it")
            events.append(self.pending)
            self._reported_skew = skew
        return events

    def witness(self, reading: ClockReading, other: datetime, who: str) -> ClockJump | None:
        """Another clock's word (``who``'s: the household's server), as it read at ``reading``.

        Unless the system clock is network-synchronised, the trusted clock takes it when
        they differ by more than a minute: a clock moved before the daemon started (where
        no check saw it move) does not open tomorrow's quota. The jump is followed when
        the system clock agrees with the witness; otherwise it waits for an admin.
        """
        other = other.astimezone(UTC)
        expected = self._expected(reading.boot)
        if reading.synchronized or abs((expected - other).total_seconds()) <= JUMP_TOLERANCE_S:
            return None
        self._base_wall = other
        self._base_boot = reading.boot
        skew = (reading.wall.astimezone(UTC) - other).total_seconds()
        followed = abs(skew) <= JUMP_TOLERANCE_S
        self._reported_skew = 0.0 if followed else skew
        jump = ClockJump(reading.wall, other, skew, followed,
                         f"{who}'s clock reads {other:%Y-%m-%d %H:%M} UTC")
        self.pending = None if followed else jump  # while the system clock disagrees
        return jump

    def accept(self, reading: ClockReading) -> None:
        """Trust the system clock as it reads now (``shepherd clock accept``)."""
        self._base_wall = reading.wall.astimezone(UTC)
        self._base_boot = reading.boot
        self._reported_skew = 0.0
        self.pending = None
