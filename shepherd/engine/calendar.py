"""Calendar answers on the trusted wall clock: quota days and window openings.

A local time on a date names one instant: the first at which the local clock
reads that time or later. When the clocks go back and a time happens twice, that
is its first occurrence; when they go forward over it, the instant of the jump.
A quota day starts at ``day_starts_at`` on its date (so named), and lasts until
the next one starts: days follow each other without gap or overlap, whatever the
clocks do, and the day of an instant never goes back as time goes on. A quota
week is seven quota days, the first on ``week_starts_on``. Windows
open and close at such instants too; a window whose end is not after its start
runs past midnight and belongs to the day it starts on. All instants handed in
and out are aware datetimes; arithmetic is done in UTC so that daylight-saving
changes never stretch or shrink an hour.

A new ``day_starts_at`` (a reload, or a policy changed while the daemon was down)
never moves a day already begun: it takes effect from the end of the quota day in
progress (``moved``). Moved later, that day lasts on until the new boundary after its
old end (a longer day: fail closed); moved earlier, it ends when it was going to, and
the first day under the new rules starts there (a shorter one, as a clock change makes).
The calendar keeps the rules each earlier stretch of days had (``before``), so its
days still follow each other without gap or overlap, never going back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from shepherd.policy.model import MINUTES_PER_DAY, Window

HORIZON_DAYS = 8


@lru_cache(maxsize=4096)
def _local(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The first instant at which the local clock reads ``minutes`` past midnight on ``day``
    (or later): the first occurrence of a repeated time, the jump over a skipped one."""
    extra, minutes = divmod(minutes, MINUTES_PER_DAY)
    naive = datetime.combine(day + timedelta(days=extra), time(minutes // 60, minutes % 60))
    before = naive.replace(tzinfo=zone).astimezone(UTC)  # read with the earlier offset
    after = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)  # read with the later one
    if before <= after:  # an ordinary time (equal), or a repeated one: its first occurrence
        return before
    # A skipped time: ``after`` lies before the jump and ``before`` after it; find the jump.
    low, high = int(after.timestamp()), int(before.timestamp())
    offset = before.astimezone(zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


@dataclass(frozen=True)
class Before:
    """Earlier rules: days up to ``last_day`` started at ``day_starts_at``; the last of
    them ends at ``until`` (where the next rules' first day starts)."""

    until: datetime
    last_day: date
    day_starts_at: int


# Rules older than this are forgotten at the next move (their days are long past).
KEEP_BEFORE = timedelta(days=60)


@dataclass(frozen=True)
class QuotaCalendar:
    zone: ZoneInfo
    day_starts_at: int = 0  # minutes after local midnight (the rules in force last)
    week_starts_on: int = 0  # weekday (Monday = 0) whose day starts the quota week
    # The rules of earlier days (``moved``), oldest first: empty for most calendars.
    before: tuple[Before, ...] = ()
    # The last day answered, with its bounds: most questions fall in the same day.
    _last: list[tuple[datetime, datetime, date]] = field(
        default_factory=list, init=False, compare=False, hash=False, repr=False)
    # Each stretch's rules as a plain calendar (when ``before`` is not empty).
    _plain: list[QuotaCalendar] = field(
        default_factory=list, init=False, compare=False, hash=False, repr=False)

    def _rules(self) -> list[QuotaCalendar]:
        if not self._plain:
            self._plain[:] = [QuotaCalendar(self.zone, b.day_starts_at, self.week_starts_on)
                              for b in self.before] + [
                QuotaCalendar(self.zone, self.day_starts_at, self.week_starts_on)]
        return self._plain

    def _stretch_of_day(self, day: date) -> int:
        for k, b in enumerate(self.before):
            if day <= b.last_day:
                return k
        return len(self.before)

    def _stretch_of_wall(self, wall: datetime) -> int:
        for k, b in enumerate(self.before):
            if wall < b.until:
                return k
        return len(self.before)

    def quota_day(self, wall: datetime) -> date:
        """The day whose start is the latest at or before ``wall``."""
        if self._last:
            start, end, known = self._last[0]
            if start <= wall < end:
                return known
        day = self._quota_day(wall)
        self._last[:] = [(self.day_start(day), self.day_end(day), day)]
        return day

    def next_local_date(self, wall: datetime) -> datetime:
        """When the local date after ``wall``'s begins (its first midnight)."""
        return _local(wall.astimezone(self.zone).date() + timedelta(days=1), 0, self.zone)

    def _quota_day(self, wall: datetime) -> date:
        if self.before:
            k = self._stretch_of_wall(wall)
            day = self._rules()[k]._quota_day(wall)
            # The last day of a stretch lasts until the next rules' first day starts.
            return min(day, self.before[k].last_day) if k < len(self.before) else day
        local = wall.astimezone(self.zone).replace(tzinfo=None)
        day = (local - timedelta(minutes=self.day_starts_at)).date()
        # The local reading is a guess: near a clock change it can be a day off.
        if wall < self.day_start(day):
            return day - timedelta(days=1)
        if wall >= self.day_end(day):
            return day + timedelta(days=1)
        return day

    def day_start(self, day: date) -> datetime:
        if self.before:
            k = self._stretch_of_day(day)
            start = self._rules()[k].day_start(day)
            # A stretch's first day starts where the last one before it ends; a date
            # the move passed over (no day of its own) starts and ends there too.
            return max(start, self.before[k - 1].until) if k else start
        return _local(day, self.day_starts_at, self.zone)

    def day_end(self, day: date) -> datetime:
        return self.day_start(day + timedelta(days=1))

    def at(self, day: date, minutes: int, after: datetime | None = None) -> datetime:
        """The instant of quota day ``day`` at which the local clock reads ``minutes`` past
        midnight: a time before ``day_starts_at`` falls after midnight, on the next date.
        A day longer than a day (a move of ``day_starts_at``) reads it twice: the first,
        or with ``after``, the first after it if the day has one."""
        rules = self._rules()[self._stretch_of_day(day)] if self.before else self
        if minutes < rules.day_starts_at:
            minutes += MINUTES_PER_DAY
        moment = _local(day, minutes, self.zone)
        if after is not None and moment <= after:
            again = _local(day, minutes + MINUTES_PER_DAY, self.zone)
            if again <= self.day_end(day):  # its end, on a day no move made longer
                moment = again
        if self.before:  # within the day's bounds
            return min(max(moment, self.day_start(day)), self.day_end(day))
        return moment

    def week_start(self, day: date) -> date:
        """The first quota day of the week ``day`` belongs to."""
        return day - timedelta(days=(day.weekday() - self.week_starts_on) % 7)

    def week_days(self, day: date) -> list[date]:
        """The seven quota days of ``day``'s week."""
        first = self.week_start(day)
        return [first + timedelta(days=k) for k in range(7)]

    def week_end(self, day: date) -> datetime:
        """When the quota week that ``day`` belongs to ends (the next week's first day starts)."""
        return self.day_start(self.week_start(day) + timedelta(days=7))

    def next_boundary(self, wall: datetime) -> datetime:
        return self.day_end(self.quota_day(wall))

    def moved(self, day_starts_at: int, wall: datetime,
              week_starts_on: int | None = None) -> QuotaCalendar:
        """This calendar with days starting at ``day_starts_at`` from the end of the quota
        day in progress at ``wall`` on: no day already begun moves, and the day of an
        instant never goes back. A move not yet in effect is replaced (undone, when the
        rules go back to the ones in force), unless the day in progress already runs on
        past its old end because of it: that day then ends no sooner."""
        week = self.week_starts_on if week_starts_on is None else week_starts_on
        day = self.quota_day(wall)
        end = self.day_end(day)
        kept = tuple(b for b in self.before if b.until <= wall)
        pending = self.before[len(kept):]
        rules = pending[0].day_starts_at if pending else self.day_starts_at
        undone = QuotaCalendar(self.zone, rules, week, kept)
        if undone.quota_day(wall) == day:  # the day in progress as its rules made it
            if rules == day_starts_at:
                return self if undone == self else undone
            end = undone.day_end(day)
        new = QuotaCalendar(self.zone, day_starts_at, week)
        first = new.quota_day(end)
        until = end if first > day else new.day_end(day)
        kept = tuple(b for b in kept if b.until > wall - KEEP_BEFORE)
        return QuotaCalendar(self.zone, day_starts_at, week,
                             (*kept, Before(until, day, rules)))

    def switch_after(self, wall: datetime) -> datetime | None:
        """When a move not yet in effect at ``wall`` takes effect: the day in progress's
        end, where days start at the new ``day_starts_at`` (None: none pending)."""
        pending = [b.until for b in self.before if b.until > wall]
        return pending[-1] if pending else None

    def to_json(self) -> str:
        """What the store keeps, so that a restart keeps a move (``from_json``)."""
        return json.dumps({"day_starts_at": self.day_starts_at,
                           "week_starts_on": self.week_starts_on,
                           "before": [{"until": b.until.isoformat(),
                                       "last_day": b.last_day.isoformat(),
                                       "day_starts_at": b.day_starts_at}
                                      for b in self.before]})

    @classmethod
    def from_json(cls, text: str, zone: ZoneInfo) -> QuotaCalendar:
        data = json.loads(text)
        return cls(zone, int(data["day_starts_at"]), int(data["week_starts_on"]), tuple(
            Before(datetime.fromisoformat(b["until"]), date.fromisoformat(b["last_day"]),
                   int(b["day_starts_at"])) for b in data["before"]))

    def split(self, start: datetime, seconds: float) -> list[tuple[date, float]]:
        """Cut ``seconds`` of use that began at ``start`` at every day boundary it crosses.

        The parts add up to ``seconds`` exactly: the last part is the remainder.
        """
        parts: list[tuple[date, float]] = []
        left = seconds
        cursor = start
        while left > 0:
            day = self.quota_day(cursor)
            room = (self.day_end(day) - cursor).total_seconds()
            if room >= left:
                parts.append((day, left))
                break
            parts.append((day, room))
            left -= room
            cursor = self.day_end(day)
        return parts


def open_intervals(
    windows: Iterable[Window], zone: ZoneInfo, around: datetime, days: int = HORIZON_DAYS
) -> list[tuple[datetime, datetime]]:
    """Merged open intervals of ``windows`` from the day before ``around`` for ``days`` days."""
    first = around.astimezone(zone).date() - timedelta(days=1)
    return list(_intervals(tuple(windows), zone, first, days))


_INTERVALS: dict[tuple[int, ZoneInfo, date, int],
                 tuple[tuple[Window, ...], tuple[tuple[datetime, datetime], ...]]] = {}


def _intervals(windows: tuple[Window, ...], zone: ZoneInfo, first: date,
               days: int) -> tuple[tuple[datetime, datetime], ...]:
    """``_merged_intervals``, kept for a whole local day: ``status`` asks for every entry
    of every child. Keyed by the windows' identity (a policy's tuples live as long as
    it does), which costs nothing to hash, unlike the models themselves."""
    key = (id(windows), zone, first, days)
    known = _INTERVALS.get(key)
    if known is not None and known[0] is windows:
        return known[1]
    if len(_INTERVALS) > 4096:
        _INTERVALS.clear()
    merged = _merged_intervals(windows, zone, first, days)
    _INTERVALS[key] = (windows, merged)
    return merged


def _merged_intervals(windows: tuple[Window, ...], zone: ZoneInfo, first: date,
                      days: int) -> tuple[tuple[datetime, datetime], ...]:
    raw: list[tuple[datetime, datetime]] = []
    for offset in range(days + 1):
        day = first + timedelta(days=offset)
        for window in windows:
            if day.weekday() in window.days:
                opens = _local(day, window.start, zone)
                end_minutes = window.end
                if window.end <= window.start:
                    end_minutes += MINUTES_PER_DAY
                raw.append((opens, _local(day, end_minutes, zone)))
    raw.sort()
    merged: list[tuple[datetime, datetime]] = []
    for opens, closes in raw:
        if merged and opens <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], closes))
        else:
            merged.append((opens, closes))
    return tuple(merged)


@dataclass(frozen=True)
class WindowState:
    """Where ``now`` stands against an entry's windows."""

    open: bool
    closes_at: datetime | None  # when open; None = always open / beyond the horizon
    next_opening: datetime | None  # when closed; None = never within the horizon


def window_state(windows: tuple[Window, ...], zone: ZoneInfo, now: datetime) -> WindowState:
    if not windows:
        return WindowState(True, None, None)
    first = now.astimezone(zone).date() - timedelta(days=1)
    for opens, closes in _intervals(windows, zone, first, HORIZON_DAYS):
        if opens <= now < closes:
            return WindowState(True, closes, None)
        if opens > now:
            return WindowState(False, None, opens)
    return WindowState(False, None, None)
