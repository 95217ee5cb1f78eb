"""A child's day under a policy, as the engine itself would run it.

For each entry the child has, the day is played greedily with that entry alone:
launched the moment the engine allows it, run until the engine stops it, launched
again as soon as every reason it gives has passed. That finds, with the rules
that enforce them, when the entry may start, how long each session may last and
what ends it (its session limit, its time for the day or the week, a group
budget, its allowed hours), the rests between sessions, and the most it can be
used that day. Entries used together share their groups' budgets, so a group's
most is its budget left, or what its entries allow together if that is less.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shepherd.engine import (
    Cooldown,
    Engine,
    GroupQuotaExhausted,
    Instant,
    LaunchDenied,
    OutsideWindow,
    QuotaExhausted,
    Reason,
    SessionEnded,
    SessionStarted,
    open_intervals,
    window_state,
)
from shepherd.engine.allowance import QuotaLimits, Standing
from shepherd.engine.engine import entry_limits, group_limits
from shepherd.explain.run import DayRun, Starting
from shepherd.explain.when import ExplainError as ExplainError  # its home is when.py
from shepherd.policy import Entry, Policy
from shepherd.words.limits import day_own_left

_MAX_SESSIONS = 2000  # a safety net: a day of 45-second sessions (a cut day says where)
_WINDOW_CLOSING = timedelta(seconds=1)


@dataclass(frozen=True)
class PlannedSession:
    """A session of the greedy day: from ``start`` to ``end``, stopped by ``cause``."""

    start: datetime
    end: datetime
    cause: str  # a deadline cause (max_run, quota, group_quota, window), or day_end
    period: str = "day"  # for a quota cause: the day's quota or the week's
    group: str | None = None
    grant_end: datetime | None = None  # a quota that runs out as time given until it ends

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                "seconds": round(self.seconds, 3), "ends_because": self.cause,
                "period": self.period, "group": self.group,
                **({} if self.grant_end is None else {"grant_end": self.grant_end.isoformat()})}


@dataclass(frozen=True)
class Wait:
    """A stretch of the greedy day when the entry cannot start, and every reason why."""

    start: datetime
    end: datetime  # when it may start again, or the end of the day
    reasons: tuple[Reason, ...]

    @property
    def resting(self) -> bool:
        """Only a cooldown holds it back: a rest between sessions."""
        return all(isinstance(r, Cooldown) for r in self.reasons)

    @property
    def closed(self) -> bool:
        return any(isinstance(r, OutsideWindow) for r in self.reasons)

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                "reasons": [r.to_json() for r in self.reasons]}


def _standing_json(standing: Standing | None) -> dict[str, Any] | None:
    if standing is None:
        return None
    return {"used_s": round(standing.used_s, 3), "allowance_s": round(standing.allowance_s, 3),
            "left_s": round(standing.left_s, 3)}


@dataclass(frozen=True)
class QuotaView:
    """Where a quota target stands when the explanation starts: its day and its week;
    ``total_s``: the day's total as ``status`` says it (its quota and grants for today,
    with what time given until a moment that has ended paid), and ``on_top``: per moment
    of time given until it still to come, what can still be used of it before then,
    what it paid so far, and the moment (``Engine.day_total``: review-15-s15 N5)."""

    day: Standing | None
    week: Standing | None
    total_s: float | None = None
    on_top: tuple[tuple[float, float, datetime], ...] = ()

    @property
    def left_s(self) -> float | None:
        left = [s.left_s for s in (self.day, self.week) if s is not None]
        return min(left) if left else None

    @property
    def day_total_s(self) -> float | None:
        """The day's total as a parent knows it (None: no daily quota)."""
        if self.day is None:
            return None
        return self.day.allowance_s if self.total_s is None else self.total_s

    def to_json(self) -> dict[str, Any]:
        day = _standing_json(self.day)
        if day is not None and self.on_top:  # as ``status`` has them, only while any
            total = self.day_total_s or 0.0
            day["total_s"] = round(total, 3)
            day["on_top"] = [{"seconds": round(usable, 3), "paid_s": round(paid, 3),
                              "until": end.isoformat()} for usable, paid, end in self.on_top]
            # what can still be used today, as the words say it: the day's own time left
            # and what time given until a moment can still give before then (``left_s``
            # counts such time whole, though its moment may come first: review-15-s24 F3)
            own = day_own_left(day["left_s"], total, day["used_s"],
                               ((usable, paid) for usable, paid, _ in self.on_top))
            day["usable_s"] = round(own + sum(u for u, _, _ in self.on_top if u >= 1), 3)
        return {"day": day, "week": _standing_json(self.week)}


def _quota_view(engine: Engine, user: str, limits: QuotaLimits, day: date,
                begin: datetime) -> QuotaView:
    """A target's ``QuotaView`` at ``begin``, as the books have it (nothing running)."""
    standing = engine.standing(user, limits, day, None, at=begin)
    found = engine.day_total(user, limits, day, Instant(begin, 0.0))
    if found is None:
        return QuotaView(*standing)
    return QuotaView(*standing, found[0], found[1])


@dataclass(frozen=True)
class EntryDay:
    entry: Entry
    groups: tuple[str, ...]
    windows: tuple[tuple[datetime, datetime], ...]  # allowed hours within the day
    quota: QuotaView
    sessions: tuple[PlannedSession, ...]
    waits: tuple[Wait, ...]
    program_missing: str | None = None  # not installed here: it can't start at all
    program_closed: str | None = None  # here, but the child may not run it (why, in words)
    cut: datetime | None = None  # the safety net stopped the day here (not worked out after)
    hours: tuple[tuple[datetime, datetime], ...] = ()  # its allowed hours in the whole day

    @property
    def possible_s(self) -> float:
        return sum(s.seconds for s in self.sessions)

    @property
    def first_start(self) -> datetime | None:
        return self.sessions[0].start if self.sessions else None

    @property
    def quota_out(self) -> tuple[datetime, Reason] | None:
        """When a quota (its own or a group's) stands used up, and which: the first wait
        a used-up quota holds back (a session that ends by its session limit or its
        allowed hours at the very moment its quota runs out says so only then)."""
        for wait in self.waits:
            for reason in wait.reasons:
                if isinstance(reason, QuotaExhausted | GroupQuotaExhausted):
                    return wait.start, reason
        return None

    def to_json(self) -> dict[str, Any]:
        limits = self.entry.limits
        out = self.quota_out
        return {
            "id": self.entry.id, "label": self.entry.title, "groups": list(self.groups),
            "max_run_s": limits.max_run, "cooldown_s": limits.cooldown,
            "windows": [{"opens": a.isoformat(), "closes": b.isoformat()}
                        for a, b in self.windows],
            "always_open": not self.entry.windows,
            "quota": self.quota.to_json(),
            "possible_s": round(self.possible_s, 3),
            "first_start": self.first_start.isoformat() if self.first_start else None,
            "quota_runs_out_at": out[0].isoformat() if out else None,
            "quota_runs_out": out[1].to_json() if out else None,
            "sessions": [s.to_json() for s in self.sessions],
            "waits": [w.to_json() for w in self.waits],
            "program_missing": self.program_missing,
            "program_closed": self.program_closed,
            "cut_at": None if self.cut is None else self.cut.isoformat(),
        }


@dataclass(frozen=True)
class GroupDay:
    id: str
    entries: tuple[str, ...]  # the members this child has
    quota: QuotaView
    possible_s: float  # its budget left, or what its entries allow together if less

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "entries": list(self.entries), "quota": self.quota.to_json(),
                "possible_s": round(self.possible_s, 3)}


@dataclass(frozen=True)
class DayExplanation:
    user: str
    day: date
    start: datetime  # where the explanation starts (the day's start, or --from)
    day_start: datetime
    day_end: datetime
    week_start: date
    week_end: datetime
    usage_known: bool  # the store's usage was counted
    locked: bool
    entries: tuple[EntryDay, ...]
    groups: tuple[GroupDay, ...]
    from_daemon: bool = False  # the books were a running daemon's (its live store)

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user, "day": self.day.isoformat(), "from": self.start.isoformat(),
            "day_start": self.day_start.isoformat(), "day_end": self.day_end.isoformat(),
            "week": {"start": self.week_start.isoformat(), "end": self.week_end.isoformat()},
            "usage_known": self.usage_known, "locked": self.locked,
            "entries": [e.to_json() for e in self.entries],
            "groups": [g.to_json() for g in self.groups],
        }


def clears_at(reason: Reason) -> datetime | None:
    """When a reason stops holding (None: not as far as anyone knows)."""
    if isinstance(reason, OutsideWindow):
        return reason.next_opening
    if isinstance(reason, Cooldown):
        return reason.until
    if isinstance(reason, QuotaExhausted | GroupQuotaExhausted):
        return reason.resets_at
    return None


def _next_try(reason: Reason, at: datetime, entry: Entry, zone: ZoneInfo) -> datetime | None:
    if (isinstance(reason, OutsideWindow) and reason.next_opening is None
            and window_state(entry.windows, zone, at).open):
        return at + _WINDOW_CLOSING  # open, but closing within the second
    return clears_at(reason)


def _greedy(policy: Policy, zone: ZoneInfo, user: str, entry: Entry, day: date,
            start: datetime, starting: Starting
            ) -> tuple[list[PlannedSession], list[Wait], datetime | None]:
    """The entry alone, launched whenever allowed and run until stopped, to the day's end
    (or to where the safety net stopped it: the third value)."""
    engine = starting.engine(policy, zone, day)
    end = engine.calendar.day_end(day)
    run = DayRun(engine, start)
    sessions: list[PlannedSession] = []
    waits: list[Wait] = []
    for _ in range(_MAX_SESSIONS):
        if run.wall >= end:
            break
        at = run.wall
        result = engine.launch(user, entry.id, run.now, run.session_id())
        if isinstance(result, LaunchDenied):
            clears = [_next_try(r, at, entry, zone) for r in result.reasons]
            later = max((c for c in clears if c is not None), default=None)
            if None in clears or later is None or later >= end:
                waits.append(Wait(at, end, result.reasons))
                break
            waits.append(Wait(at, later, result.reasons))
            run.advance(max(later, at))
            if run.wall <= at:
                break  # nothing moves: never loop on a reason that does not pass
            continue
        assert isinstance(result, SessionStarted)
        deadline = result.deadline
        if deadline is None or deadline.wall >= end:
            ended = [e for _, e in run.advance(end)
                     if isinstance(e, SessionEnded) and e.session_id == result.session_id]
            if not ended:  # its deadline, at the day's very end, may have ended it there
                engine.end_session(result.session_id, run.now, "exited")
            if deadline is not None and deadline.wall == end:  # say what runs out then
                sessions.append(PlannedSession(at, end, deadline.cause, deadline.period,
                                               deadline.group))
            else:
                sessions.append(PlannedSession(at, end, "day_end"))
            break
        ended = [e for _, e in run.advance(deadline.wall)
                 if isinstance(e, SessionEnded) and e.session_id == result.session_id]
        if not ended:  # the engine moved its deadline on the way: stop it where it stands
            engine.end_session(result.session_id, run.now, "exited")
        grant_end = (engine.grant_ending(user, entry.id, deadline.wall)
                     if deadline.cause in ("quota", "group_quota") else None)
        sessions.append(PlannedSession(at, run.wall, deadline.cause, deadline.period,
                                       deadline.group, grant_end))
    else:
        if run.wall < end:
            return sessions, waits, run.wall
    return sessions, waits, None


def _windows_of(entry: Entry, zone: ZoneInfo, start: datetime,
                end: datetime) -> tuple[tuple[datetime, datetime], ...]:
    if not entry.windows:
        return ((start, end),)
    return tuple((max(a, start), min(b, end)) for a, b in open_intervals(entry.windows, zone, start)
                 if a < end and b > start)


def _open_seconds(intervals: list[tuple[datetime, datetime]]) -> float:
    """How long at least one of ``intervals`` is open (their union)."""
    total, reach = 0.0, None
    for a, b in sorted(intervals):
        if reach is not None and a < reach:
            a = reach
        if b > a:
            total += (b - a).total_seconds()
            reach = b if reach is None else max(reach, b)
    return total


def explain_day(policy: Policy, zone: ZoneInfo, user: str, day: date,
                start: datetime | None = None, starting: Starting | None = None,
                entries: Sequence[str] | None = None,
                missing: Mapping[str, str] | None = None,
                closed: Mapping[str, str] | None = None) -> DayExplanation:
    """What ``user`` may do on quota day ``day`` from ``start`` (default: the day's start),
    with what ``starting`` says was already used; ``missing`` (entry id -> program): the
    entries whose program is not installed here, which can't start at all; ``closed``
    (entry id -> why): those whose program the child may not run."""
    if policy.user(user) is None:
        names = ", ".join(u.name for u in policy.users)
        raise ExplainError(f"{user!r} is not a child of this policy (the children are: {names})")
    starting = starting or Starting()
    engine = starting.engine(policy, zone, day)
    calendar = engine.calendar
    day_start, day_end = calendar.day_start(day), calendar.day_end(day)
    begin = day_start if start is None else start
    if not day_start <= begin < day_end:
        raise ExplainError("the time to start from is not within that day")
    mine = [e for e in policy.entries if policy.entry_allows(e, user)
            and (entries is None or e.id in entries)]
    found: list[EntryDay] = []
    for entry in mine:
        program, why = (missing or {}).get(entry.id), (closed or {}).get(entry.id)
        sessions, waits, cut = (([], [], None) if program is not None or why is not None
                                else _greedy(policy, zone, user, entry, day, begin, starting))
        found.append(EntryDay(
            entry, tuple(g.id for g in policy.groups_of(entry.id)),
            _windows_of(entry, zone, begin, day_end),
            _quota_view(engine, user, entry_limits(entry), day, begin),
            tuple(sessions), tuple(waits), program, why, cut,
            _windows_of(entry, zone, day_start, day_end)))
    groups: list[GroupDay] = []
    for group in policy.groups:
        members = [e for e in found if e.entry.id in group.entries]
        if not members:
            continue
        view = _quota_view(engine, user, group_limits(group), day, begin)
        together = sum(e.possible_s for e in members)
        child = policy.user(user)
        at_once = child.max_sessions if child is not None else len(members)
        if at_once < len(members):  # the child runs at most this many at a time
            together = min(together, at_once * _open_seconds(
                [w for e in members for w in e.windows]))
        left = view.left_s
        groups.append(GroupDay(group.id, tuple(e.entry.id for e in members), view,
                               together if left is None else min(left, together)))
    return DayExplanation(user, day, begin, day_start, day_end, calendar.week_start(day),
                          calendar.week_end(day), starting.known, user in starting.locked,
                          tuple(found), tuple(groups), starting.from_daemon)
