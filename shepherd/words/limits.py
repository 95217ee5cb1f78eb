"""Why a session stops, in words: "its 45-minute session limit", "the games budget
for this week runs out".

A session's deadline carries the limit that sets it (``cause``: ``max_run``,
``quota``, ``group_quota``, ``window``, ``policy_reload``), and for a quota
whether it is the day's or the week's (``period``). An explanation of a day
adds ``day_end``: the quota day is over.
"""

from __future__ import annotations

from shepherd.words.times import format_duration, spoken_duration

__all__ = ["stop_clause", "week_left"]


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
