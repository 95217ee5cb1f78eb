"""Usage history against quota: a read model for ``shepherd usage`` and the TUI.

What a day allowed is its quota and its grants as they count (allowance.py): time
added for the day, taken back or set; time given until a moment while it counted,
and once it ran out, what it paid for (as noted then; unknown counts nothing);
time given for the week is the week's, shown beside the week's quota and use, and
what it still had left on a day raised that day's allowance (``week_time_s``): the
day's ``allowed_s`` is its quota, its grants as they count and that share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from shepherd.engine.allowance import DayGrants, QuotaLimits, pool_left
from shepherd.engine.engine import ActionRefused, _calendar, unknown_child
from shepherd.policy.model import Policy, QuotaSchedule


class GrantRecord(NamedTuple):
    """One grant as the store recorded it."""

    user: str
    target: str
    day: date
    seconds: int  # signed: taken back is negative
    expires_at: datetime | None  # None: for its day (or taken back, or set)
    week: bool  # time given for the rest of the week
    noted: bool  # its expiry was noted
    paid_s: float | None  # what it paid for, noted at its expiry (None: unknown)
    aside_s: int = 0  # of a set, the week's time it set aside for its day (Engine.aside)
    # of a change of its day's own time, the use that own time had not paid for then
    # (Engine.beyond, review-1215-s10)
    beyond_s: int = 0

    def counts_s(self, now: datetime, day_end: datetime | None) -> float:
        """What it counts for toward its day at ``now`` (``day_end``: when its day ends;
        a week grant counts for the week, not here)."""
        if self.week:
            return 0.0
        if self.expires_at is None or self.expires_at == day_end:
            return float(self.seconds)  # for its day: it counted all of it
        if not self.noted and now < self.expires_at:
            return float(self.seconds)  # still counting
        return self.paid_s or 0.0  # run out: what it paid for (unknown: nothing)


@dataclass(frozen=True)
class UsageLine:
    kind: str  # "entry" | "group"
    id: str
    used_s: float
    quota_s: int | None  # the day's quota; None = no daily limit, or no policy to tell
    granted_s: int  # the day's grants as they count (time given for the week: not here)
    current: bool = True  # in the policy in force (False: an entry since removed)
    label: str = ""  # as the child sees it (an entry's label; else its id)
    quota_week_s: int | None = None  # the weekly quota (None: none)
    used_week_s: float | None = None  # the quota week's use up to this day (with a week)
    granted_week_s: int = 0  # time given for the week, that week up to this day
    over: bool = False  # used beyond all the day (or the week so far) allowed
    week_time_s: int = 0  # what time given for the week added to this day's allowance
    extended_s: int = 0  # extensions of the day's sessions (of its members: a group's)

    @property
    def allowed_s(self) -> int | None:
        """What the day allowed: its quota, its grants, its share of the week's time."""
        if self.quota_s is None:
            return None
        return max(self.quota_s + self.granted_s + self.week_time_s, 0)

    @property
    def allowed_week_s(self) -> int | None:
        """What the week allowed as that day saw it: its weekly quota and the day's own
        grants, which count toward the week on their day (as ``status`` and ``grant``
        say: "20m in all this week"); time given for the week is said beside it."""
        if self.quota_week_s is None:
            return None
        return max(self.quota_week_s + self.granted_s, 0)

    @property
    def weekly(self) -> bool:
        return self.quota_week_s is not None or self.granted_week_s != 0

    def to_json(self) -> dict[str, Any]:
        week = {} if not self.weekly else {
            "quota_week_s": self.quota_week_s, "granted_week_s": self.granted_week_s,
            "allowed_week_s": self.allowed_week_s,
            "used_week_s": round(self.used_week_s or 0.0, 3)}
        return {"kind": self.kind, "id": self.id, "label": self.label or self.id,
                "used_s": round(self.used_s, 3), "quota_s": self.quota_s,
                "granted_s": self.granted_s, "week_time_s": self.week_time_s,
                "allowed_s": self.allowed_s, "current": self.current, **week,
                "extended_s": self.extended_s, "over": self.over}


@dataclass(frozen=True)
class UserDay:
    day: date
    user: str
    lines: list[UsageLine] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "user": self.user,
                "usage": [line.to_json() for line in self.lines]}


def usage_report(
    rows: Iterable[tuple[str, str, date, float]],
    grants: Iterable[tuple[str, str, date, int, datetime | None, bool, bool, float | None, int]
                     | tuple[str, str, date, int, datetime | None, bool, bool, float | None, int,
                             int]],
    policy: Policy | None,
    first: date,
    last: date,
    user: str | None = None,
    *,
    now: datetime,
    zone: ZoneInfo,
    extensions: Iterable[tuple[str, str, datetime, int]] = (),
) -> list[UserDay]:
    """Per day (newest first), per user: every entry used or limited, and every group.

    ``extensions`` (``extension_rows``): a session's extension lets it run past what its
    day allowed, so its time is no use beyond it (review-12-s13 L12: a parent's own
    extension made ``usage`` say OVER): counted on the day the session started.

    ``rows`` and ``grants`` may start up to six days before ``first``: the days of a
    quota week before it count toward that week's use. Entries the policy no longer
    has are kept, marked ``current = False``. A ``user`` that is neither in the policy
    nor in the rows is refused (``ActionRefused``): a typo must not look like a child
    who used nothing.
    """
    used: dict[tuple[str, str, date], float] = {}
    for u, e, d, sec in rows:
        used[(u, e, d)] = used.get((u, e, d), 0.0) + sec
    calendar = _calendar(policy, zone) if policy is not None else None
    day_granted: dict[tuple[str, str, date], float] = {}
    week_granted: dict[tuple[str, str, date], float] = {}
    day_aside: dict[tuple[str, str, date], float] = {}
    day_beyond: dict[tuple[str, str, date], float] = {}
    timed_paid: dict[tuple[str, str, date], float] = {}  # by time given until a moment
    for row in grants:
        g = GrantRecord(*row)
        key = (g.user, g.target, g.day)
        if g.aside_s:
            day_aside[key] = day_aside.get(key, 0.0) + g.aside_s
        if g.beyond_s:
            day_beyond[key] = max(day_beyond.get(key, 0.0), float(g.beyond_s))
        if g.week:
            week_granted[key] = week_granted.get(key, 0.0) + g.seconds
        else:
            end = calendar.day_end(g.day) if calendar is not None else None
            day_granted[key] = day_granted.get(key, 0.0) + g.counts_s(now, end)
            if g.expires_at is not None and g.expires_at != end:
                timed_paid[key] = timed_paid.get(key, 0.0) + g.counts_s(now, end)

    extended: dict[tuple[str, str, date], int] = {}
    for u, e, started, seconds in extensions:
        on = (calendar.quota_day(started) if calendar is not None
              else started.astimezone(zone).date())
        extended[(u, e, on)] = extended.get((u, e, on), 0) + seconds

    def drawn(key: tuple[str, str, date]) -> float:
        """What the week's time had paid for when the day's own time last changed."""
        return max(day_beyond.get(key, 0.0) - timed_paid.get(key, 0.0), 0.0)

    users = sorted({u for u, _, d in used if first <= d <= last}
                   | ({x.name for x in policy.users} if policy else set()))
    if user is not None:
        if user not in users and policy is not None:
            raise ActionRefused(unknown_child(policy, user,
                                              f", and no usage recorded for {user!r}"))
        users = [u for u in users if u == user]

    def line(kind: str, name: str, target: str, members: tuple[str, ...], day: date,
             schedule: QuotaSchedule | None, weekly: int | None, current: bool = True,
             label: str = "") -> UsageLine:
        quota = schedule.for_weekday(day.weekday()) if schedule is not None else None
        spent = sum(used.get((name, e, day), 0.0) for e in members)
        granted = day_granted.get((name, target, day), 0.0)
        days = ([d for d in calendar.week_days(day) if d <= day] if calendar is not None
                else [day])
        for_week = sum(week_granted.get((name, target, d), 0.0) for d in days)
        week_used = sum(used.get((name, e, d), 0.0) for e in members for d in days)
        pool = 0.0
        if quota is not None and for_week > 0:  # what the week's time left that day
            limits = QuotaLimits(target, members, schedule, weekly)
            aside = day_aside.get((name, target, day), 0.0)
            # (the engine's own order: a set's aside kept that much of it from the day)
            pool = aside + max(pool_left(
                limits, days, day,
                lambda d: sum(used.get((name, e, d), 0.0) for e in members),
                lambda d: DayGrants(full=day_granted.get((name, target, d), 0.0),
                                    pool=week_granted.get((name, target, d), 0.0),
                                    aside=day_aside.get((name, target, d), 0.0),
                                    drawn=drawn((name, target, d)))) - aside, 0.0)
        extension = sum(extended.get((name, e, day), 0) for e in members)
        over = quota is not None and spent > quota + granted + pool + extension + 1
        if weekly is not None:
            allowed = weekly + for_week + sum(
                max(day_granted.get((name, target, d), 0.0), 0.0)
                + sum(extended.get((name, e, d), 0) for e in members) for d in days)
            over = over or week_used > allowed + 1
        return UsageLine(kind, target, spent, quota, round(granted), current, label,
                         weekly, week_used if weekly is not None or for_week else None,
                         round(for_week), over, round(pool), extension)

    report: list[UserDay] = []
    day = last
    while day >= first:
        for name in users:
            lines: list[UsageLine] = []
            entry_ids = sorted({e for u, e, d in used if u == name and d == day})
            if policy is not None:
                for entry in policy.entries:
                    limited = (entry.limits.daily_quota is not None
                               or entry.limits.weekly_quota is not None)
                    if (policy.entry_allows(entry, name) and limited
                            and entry.id not in entry_ids):
                        entry_ids.append(entry.id)
            for entry_id in entry_ids:
                known = policy.entry(entry_id) if policy else None
                quota = known.limits.daily_quota if known else None
                lines.append(line(
                    "entry", name, entry_id, (entry_id,), day,
                    quota, known.limits.weekly_quota if known else None,
                    policy is None or known is not None, known.title if known else entry_id))
            for group in policy.groups if policy else ():
                quota = group.daily_quota
                lines.append(line("group", name, group.id, tuple(group.entries), day,
                                  quota, group.weekly_quota))
            if any(x.used_s or x.granted_s or x.granted_week_s for x in lines):
                report.append(UserDay(day, name, lines))
        day -= timedelta(days=1)
    return report
