"""Usage history against quota: a read model for ``shepherd usage`` and the TUI."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from shepherd.engine.engine import ActionRefused
from shepherd.policy.model import Policy


@dataclass(frozen=True)
class UsageLine:
    kind: str  # "entry" | "group"
    id: str
    used_s: float
    quota_s: int | None  # None = unlimited, or no policy to tell
    granted_s: int
    current: bool = True  # in the policy in force (False: an entry since removed)
    label: str = ""  # as the child sees it (an entry's label; else its id)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "label": self.label or self.id,
                "used_s": round(self.used_s, 3), "quota_s": self.quota_s,
                "granted_s": self.granted_s, "current": self.current}


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
    grants: Mapping[tuple[str, str, date], int],
    policy: Policy | None,
    first: date,
    last: date,
    user: str | None = None,
) -> list[UserDay]:
    """Per day (newest first), per user: every entry used or limited, and every group.

    Entries the policy no longer has are kept, marked ``current = False``. A
    ``user`` that is neither in the policy nor in the rows is refused
    (``ActionRefused``): a typo must not look like a child who used nothing.
    """
    used: dict[tuple[str, str, date], float] = {}
    for u, e, d, s in rows:
        used[(u, e, d)] = used.get((u, e, d), 0.0) + s
    users = sorted({u for u, _, _ in used} | ({x.name for x in policy.users} if policy else set()))
    if user is not None:
        if user not in users and policy is not None:
            children = ", ".join(x.name for x in policy.users)
            raise ActionRefused(f"there is no child called {user!r} in the policy, and no "
                                f"usage recorded for {user!r} (the children are: {children})")
        users = [u for u in users if u == user]
    report: list[UserDay] = []
    day = last
    while day >= first:
        for name in users:
            lines: list[UsageLine] = []
            entry_ids = sorted({e for u, e, d in used if u == name and d == day})
            if policy is not None:
                for entry in policy.entries:
                    if (policy.entry_allows(entry, name) and entry.limits.daily_quota is not None
                            and entry.id not in entry_ids):
                        entry_ids.append(entry.id)
            for entry_id in entry_ids:
                known = policy.entry(entry_id) if policy else None
                quota = known.limits.daily_quota if known else None
                lines.append(UsageLine(
                    "entry", entry_id, used.get((name, entry_id, day), 0.0),
                    quota.for_weekday(day.weekday()) if quota else None,
                    grants.get((name, entry_id, day), 0),
                    policy is None or known is not None, known.title if known else entry_id))
            for group in policy.groups if policy else ():
                total = sum(used.get((name, e, day), 0.0) for e in group.entries)
                quota = group.daily_quota
                lines.append(UsageLine("group", group.id, total,
                                       quota.for_weekday(day.weekday()) if quota else None,
                                       grants.get((name, group.id, day), 0)))
            if any(line.used_s or line.granted_s for line in lines):
                report.append(UserDay(day, name, lines))
        day -= timedelta(days=1)
    return report
