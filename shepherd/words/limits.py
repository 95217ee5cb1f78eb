"""Why a session stops, in words: "its 45-minute session limit", "the games budget
for this week runs out".

A session's deadline carries the limit that sets it (``cause``: ``max_run``,
``quota``, ``group_quota``, ``window``, ``policy_reload``), and for a quota
whether it is the day's or the week's (``period``). An explanation of a day
adds ``day_end``: the quota day is over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from shepherd.words.times import at_moment, format_duration, spoken_duration

__all__ = ["day_own_left", "extension_end", "stop_clause", "week_left"]


def day_own_left(left: float, total: float, used: float,
                 on_top: Iterable[tuple[float, float]]) -> float:
    """Of the day's total, what is left while time given until a moment is on top of
    it ("1m29s" of "1m29s of 2m left, 40s more until 07:35"): what is left less what
    can still be used of that time (``on_top``: per moment, that and what it paid so
    far), and never more than the total less the use that time did not pay for."""
    parts = list(on_top)
    more = sum(usable for usable, _ in parts if usable >= 1)
    return max(min(left - more, total - used + sum(paid for _, paid in parts)), 0.0)


def extension_end(answer: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    """When an extended session ends and what ends it, from ``extend``'s answer (or its
    preview): "at 17:35, when its time for today and the extra 15 minutes are used up",
    "at 18:00: that is when its hours end, which an extension never passes"."""
    if not answer.get("deadline"):
        return "with no time limit"
    end = at_moment(datetime.fromisoformat(str(answer["deadline"])), now, zone, up=False)
    cause, extra = answer.get("cause"), f"the extra {spoken_duration(answer.get('seconds') or 0)}"
    when = "this week" if answer.get("period") == "week" else "today"
    spent = {"max_run": "its session limit",
             "quota": f"its time for {when}",
             "group_quota": f"the {answer.get('group') or 'group'} budget for {when}"}
    if cause in spent:
        return f"{end}, when {spent[str(cause)]} and {extra} are used up"
    if cause == "window":
        return f"{end}: that is when its hours end, which an extension never passes"
    return f"{end}, when {stop_clause(str(cause))}"


def stop_clause(cause: str, period: str = "day", group: str | None = None,
                max_run_s: float | None = None) -> str:
    """The limit that ends a session, as a clause: "its time for today runs out"."""
    when = "this week" if period == "week" else "today"
    if cause == "max_run":
        if max_run_s:
            return f"it reaches its session limit of {spoken_duration(max_run_s)}"
        return "it reaches its session limit"
    if cause == "quota":
        return f"its time for {when} runs out"
    if cause == "group_quota":
        return f"the {group or 'group'} budget for {when} runs out"
    if cause == "window":
        return "its allowed hours end"
    if cause == "policy_reload":
        return "the rules changed"
    if cause == "day_end":
        return "the day ends"
    return f"a limit is reached ({cause})"


def week_left(quota_s: float | None, left_s: float | None) -> str:
    """What a weekly quota leaves, "3h of 10h left this week" ("" when there is none)."""
    if quota_s is None:
        return ""
    left = format_duration(max(left_s or 0.0, 0.0))
    return f"{left} of {format_duration(quota_s)} left this week"
