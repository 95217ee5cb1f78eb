"""An explained day in words, for ``shepherd policy explain`` and the TUI.

Every sentence comes from ``shepherd.words``: moments to the minute in the local
zone, durations as a person says them, refusals as the daemon says them.
"""

from __future__ import annotations

import re
import textwrap
from datetime import datetime, tzinfo

from shepherd.explain.chart import day_chart
from shepherd.explain.day import (
    DayExplanation,
    EntryDay,
    GroupDay,
    PlannedSession,
    Wait,
    clears_at,
)
from shepherd.words import (
    clock_time,
    format_duration,
    join_clauses,
    not_installed_clause,
    not_runnable_clause,
    reasons_clause,
    spoken_duration,
    stop_clause,
    until_moment,
    week_left,
)

WIDTH = 80
_TIMES = re.compile(r" +(?:from )?\d\d:\d\d(?:–\d\d:\d\d)? +")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def _date(moment: datetime, zone: tzinfo) -> str:
    local = moment.astimezone(zone)
    return f"{_WEEKDAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}"


def _span(start: datetime, end: datetime, zone: tzinfo, *, up_start: bool = False,
          up_end: bool = False) -> str:
    """``HH:MM–HH:MM``; a moment that opens something (a wait's end, a start after a
    wait) rounded up as `status` says it, so a child trying then is not refused."""
    return f"{clock_time(start, zone, up=up_start)}–{clock_time(end, zone, up=up_end)}"


def _limits(row: EntryDay, explanation: DayExplanation, zone: tzinfo) -> str:
    limits = row.entry.limits
    parts: list[str] = []
    if not row.entry.windows:
        parts.append("allowed at any time")
    elif not row.windows:
        parts.append("no allowed hours today")
    else:
        parts.append("allowed " + join_clauses(_span(a, b, zone) for a, b in row.windows))
    if limits.max_run is not None:
        run = f"sessions of at most {spoken_duration(limits.max_run)}"
        if limits.cooldown:
            run += f", then a rest of {spoken_duration(limits.cooldown)}"
        parts.append(run)
    elif limits.cooldown:
        parts.append(f"a rest of {spoken_duration(limits.cooldown)} after each session")
    day, week = row.quota.day, row.quota.week
    if day is not None:
        used = f" ({format_duration(day.used_s)} used)" if day.used_s else ""
        parts.append(f"{format_duration(day.allowance_s)} today{used}")
    if week is not None:
        parts.append(week_left(week.allowance_s, week.left_s))
    if row.groups:
        parts.append("shares the " + join_clauses(row.groups).replace(", and ", " and ")
                     + (" budgets" if len(row.groups) > 1 else " budget"))
    return "; ".join(parts)


def _session_line(session: PlannedSession, row: EntryDay, zone: tzinfo,
                  after_wait: bool = False) -> str:
    why = stop_clause(session.cause, session.period, session.group)
    if session.grant_end is not None:  # review 12-s8 M2: that end, not the day's quota
        ends = until_moment(session.grant_end, session.start, zone, up=False)
        why = f"the time given {ends} runs out"
    return (f"  {_span(session.start, session.end, zone, up_start=after_wait)}  in use for "
            f"{spoken_duration(session.seconds)}, until {why}")


def _wait_line(wait: Wait, last: bool, explanation: DayExplanation, zone: tzinfo) -> str:
    if wait.resting and not last:
        return f"  {_span(wait.start, wait.end, zone, up_end=True)}  rests"
    reasons = wait.reasons
    if last:  # what holds for the rest of the day, not a rest that ends before it
        lasting = [r for r in reasons if (clears_at(r) or explanation.day_end)
                   >= explanation.day_end]
        reasons = tuple(lasting) or reasons
    why = reasons_clause(reasons, wait.start, zone)
    if last:
        return f"  from {clock_time(wait.start, zone)}   nothing more today: {why}"
    return f"  {_span(wait.start, wait.end, zone, up_end=True)}  can't start: {why}"


def _entry_lines(row: EntryDay, explanation: DayExplanation, zone: tzinfo) -> list[str]:
    title = row.entry.title
    if row.program_missing is not None:  # as status and the TUI say it
        return [f"{title} {not_installed_clause(row.program_missing)}."]
    if row.program_closed is not None:
        return [f"{title} {not_runnable_clause(row.program_closed)}."]
    opens = {wait.end for wait in row.waits}  # moments a wait ends: rounded up
    if row.possible_s <= 0:
        head = f"{title}: no time today"
    else:
        head = f"{title}: up to {spoken_duration(row.possible_s)}"
        first = row.sessions[0].start
        head += ", used alone from " + clock_time(first, zone, up=first in opens)
    lines = [head, "  " + _limits(row, explanation, zone)]
    items: list[tuple[datetime, str]] = []
    for session in row.sessions:
        items.append((session.start, _session_line(session, row, zone,
                                                   session.start in opens)))
    for wait in row.waits:
        last = wait.end >= explanation.day_end
        items.append((wait.start, _wait_line(wait, last, explanation, zone)))
    lines += [text for _, text in sorted(items, key=lambda item: item[0])]
    return lines


def _group_line(group: GroupDay, explanation: DayExplanation, zone: tzinfo) -> str:
    titles = {row.entry.id: row.entry.title for row in explanation.entries}
    members = join_clauses(titles.get(e, e) for e in group.entries).replace(", and ", " and ")
    parts: list[str] = []
    day, week = group.quota.day, group.quota.week
    if day is not None:
        parts.append(f"{format_duration(day.left_s)} of {format_duration(day.allowance_s)} "
                     "left today")
    if week is not None:
        parts.append(week_left(week.allowance_s, week.left_s))
    if not parts:
        parts.append("no limit of its own")
    return (f"The {group.id} budget ({members}): " + ", ".join(parts)
            + f"; together they can use at most {spoken_duration(group.possible_s)}.")


def _wrap(line: str) -> list[str]:
    """Lines within 80 columns; a wrapped line goes on under its text, past any times."""
    if len(line) <= WIDTH:
        return [line]
    times = _TIMES.match(line)
    lead = len(times.group(0)) if times else len(line) - len(line.lstrip(" ")) + 2
    return textwrap.wrap(line, WIDTH, subsequent_indent=" " * lead, break_on_hyphens=False)


def explanation_lines(explanation: DayExplanation, zone: tzinfo, *,
                      chart: bool = True, running: str = "") -> list[str]:
    """The whole explanation: the day, the chart, each entry, each budget; ``running``,
    a note on the sessions running now, follows the first sentence."""
    e = explanation
    start = clock_time(e.start, zone)
    lines = [f"{e.user} on {_date(e.day_start, zone)}: the day runs from "
             f"{clock_time(e.day_start, zone)} to {clock_time(e.day_end, zone)} the next "
             f"morning ({spoken_duration((e.day_end - e.day_start).total_seconds())})."]
    if running:
        lines.append(running)
    if e.start > e.day_start:
        lines.append(f"From {start} on.")
    if e.usage_known:
        lines.append("Counting what the store says was used this week and today.")
    else:
        lines.append("Assuming nothing was used yet this week (give --db to count what was).")
    if e.locked:
        lines.append(f"{e.user} is locked by a parent: nothing can start until unlocked.")
    lines.append("Each entry is shown as if used alone, started as soon as allowed; "
                 "entries that share a budget share its time.")
    if chart and e.entries:
        lines += ["", *day_chart(e, zone)]
    for row in e.entries:
        lines += ["", *_entry_lines(row, e, zone)]
    if e.groups:
        lines.append("")
        lines += [_group_line(g, e, zone) for g in e.groups]
    return [wrapped for line in lines for wrapped in _wrap(line)]
