"""An explained day in words, for ``shepherd policy explain`` and the TUI.

Every sentence comes from ``shepherd.words``: moments to the minute in the local
zone, durations as a person says them, refusals as the daemon says them.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import replace
from datetime import datetime, timedelta, tzinfo

from shepherd.engine import GroupQuotaExhausted, QuotaExhausted
from shepherd.explain.chart import day_chart
from shepherd.explain.day import (
    DayExplanation,
    EntryDay,
    GroupDay,
    PlannedSession,
    QuotaView,
    Wait,
    clears_at,
)
from shepherd.words import (
    clock_time,
    day_own_left,
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
_CLOCK = r"\d\d:\d\d(?: \((?:before|after) the clocks go back\))?"  # (clock_time)
_TIMES = re.compile(rf" +(?:from )?{_CLOCK}(?:–{_CLOCK})? +")
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
    elif not row.hours:
        parts.append("no allowed hours today")
    else:  # as the policy has them, not cut at --from; said over when all are
        parts.append("allowed " + join_clauses(_span(a, b, zone) for a, b in row.hours)
                     + ("" if row.windows else
                        f", over by {clock_time(explanation.start, zone)}"))
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
        parts.append(f"{format_duration(row.quota.day_total_s or 0.0)} today"
                     f"{_on_top(row.quota, zone, explanation.start)}{used}")
    if week is not None:
        parts.append(week_left(week.allowance_s, week.left_s))
    if row.groups:
        parts.append("shares the " + join_clauses(row.groups).replace(", and ", " and ")
                     + (" budgets" if len(row.groups) > 1 else " budget"))
    return "; ".join(parts)


def _session_line(session: PlannedSession, shown: Shown, zone: tzinfo, day: datetime) -> str:
    why = stop_clause(session.cause, session.period, session.group)
    if session.grant_end is not None:  # review 12-s8 M2: that end, not the day's quota
        ends = until_moment(session.grant_end, day, zone, up=False)
        why = f"the time given {ends} runs out"
    return (f"  {_shown_span(shown, zone)}  in use for "
            f"{spoken_duration(session.seconds)}, until {why}")


Shown = tuple[datetime, datetime]  # a step's two moments as its line says them, to the minute
_MINUTE = timedelta(minutes=1)


def _down(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _up(moment: datetime) -> datetime:
    down = _down(moment)
    return down if down == moment else down + _MINUTE


def _shown_span(shown: Shown, zone: tzinfo) -> str:
    start, end = clock_time(shown[0], zone), clock_time(shown[1], zone)
    # ("12:17 in use for 54 seconds"; a whole day is still "04:00–04:00", rev15-s25 F)
    return start if shown[0] == shown[1] else f"{start}–{end}"


def _shown_moments(steps: list[PlannedSession | Wait]) -> list[Shown]:
    """Each step's start and end as its line says them. An end is rounded down and the end
    of a rest up (the safe side); a session after a rest starts at the rest's end as said,
    so it is said as started that much later: its end, when its length makes it (a session
    limit, a quota or a budget; not its hours, the day's end or a grant's), and the rest
    after it move with it (review-12-s13 L10: "00:32–00:32 in use for 1 minute", where
    started at 00:32 it runs until 00:33)."""
    shown: list[Shown] = []
    later = timedelta(0)  # how much later than planned the lines have it, so far
    for step in steps:
        if isinstance(step, Wait):
            start = _down(step.start + later)
            if not step.resting:  # it ends at a moment of the day (its hours open, ...)
                later = timedelta(0)
            shown.append((start, _up(step.end + later)))
            continue
        if shown and steps[len(shown) - 1].end == step.start:  # right after: at its end
            start = shown[-1][1]
            later = max(start - step.start, timedelta(0))
        else:
            start = _down(step.start + later)
        if step.grant_end is not None or step.cause not in ("max_run", "quota", "group_quota"):
            later = timedelta(0)
        shown.append((start, _down(step.end + later)))
    return shown


def _wait_line(wait: Wait, shown: Shown, last: bool, explanation: DayExplanation,
               zone: tzinfo) -> str:
    if wait.resting and not last:
        return f"  {_shown_span(shown, zone)}  rests"
    reasons = wait.reasons
    if last:  # what holds for the rest of the day, not a rest that ends before it
        lasting = [r for r in reasons if (clears_at(r) or explanation.day_end)
                   >= explanation.day_end]
        # (a day's time is back when the day ends, which "nothing more today" says: "back
        # tomorrow at 04:00" read as the program being back, where its hours open later,
        # review-15-s24 F6)
        reasons = tuple(replace(r, resets_at=None)
                        if isinstance(r, QuotaExhausted | GroupQuotaExhausted)
                        and r.resets_at == explanation.day_end else r
                        for r in lasting) or reasons
    # days named from the day explained: after midnight "tomorrow" is still the next one
    why = reasons_clause(reasons, explanation.day_start, zone)
    if last:
        return f"  from {clock_time(shown[0], zone)}   nothing more today: {why}"
    return f"  {_shown_span(shown, zone)}  can't start: {why}"


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
        # (what the plan below uses, played as soon as allowed: not always the most, so
        # not "up to": where a short first window cuts a session, starting at the next
        # may give more, review-15-s24 F2)
        most = "at least " if row.cut is not None else ""  # the net cut the day
        head = f"{title}: {most}{spoken_duration(row.possible_s)}"
        first = row.sessions[0].start
        head += ", used alone from " + clock_time(first, zone, up=first in opens)
    lines = [head, "  " + _limits(row, explanation, zone)]
    steps: list[PlannedSession | Wait] = sorted([*row.sessions, *row.waits],
                                                key=lambda step: step.start)
    shown = _shown_moments(steps)
    at = 0
    while at < len(steps):
        step = steps[at]
        if isinstance(step, Wait):
            last = step.end >= explanation.day_end
            lines.append(_wait_line(step, shown[at], last, explanation, zone))
            at += 1
            continue
        run, rest = _repeats(steps, at)
        if run < _FOLDED:
            lines.append(_session_line(step, shown[at], zone, explanation.day_start))
            at += 1
            continue
        last_one = at + (run - 1) * (2 if rest else 1)
        ends = steps[last_one]
        assert isinstance(ends, PlannedSession)
        between = (f" with a rest of {spoken_duration(rest)} between" if rest
                   else " back to back")
        lines.append(f"  {_shown_span((shown[at][0], shown[last_one][1]), zone)}  "
                     f"{run} sessions of {spoken_duration(step.seconds)}{between}, each "
                     f"until {stop_clause(step.cause, step.period, step.group)}")
        at += (run - 1) * (2 if rest else 1) + 1
    if row.cut is not None:
        lines.append(f"  from {clock_time(row.cut, zone)}   not worked out: more sessions "
                     "than a day is explained with")
    return lines


_FOLDED = 3  # this many sessions alike or more are said in one line


def _repeats(steps: list[PlannedSession | Wait], at: int) -> tuple[int, float]:
    """How many sessions alike follow from ``steps[at]`` (the same length to the second,
    ended for the same reason), back to back or with the same rest between each two; and
    that rest (0: back to back)."""
    first = steps[at]
    assert isinstance(first, PlannedSession)

    def alike(step: PlannedSession | Wait) -> bool:
        return (isinstance(step, PlannedSession) and step.grant_end is None
                and first.grant_end is None and round(step.seconds) == round(first.seconds)
                and (step.cause, step.period, step.group)
                == (first.cause, first.period, first.group))

    def gap(i: int) -> float | None:
        """The rest between the session at ``i`` and the next (None: no next alike)."""
        after = steps[i + 1] if i + 1 < len(steps) else None
        if after is None:
            return None
        if isinstance(after, PlannedSession):
            return 0.0 if alike(after) and after.start == steps[i].end else None
        following = steps[i + 2] if i + 2 < len(steps) else None
        if (after.resting and following is not None and alike(following)
                and after.end == following.start):
            return round((after.end - after.start).total_seconds())
        return None

    rest = gap(at)
    if rest is None:
        return 1, 0.0
    run, i = 1, at
    while gap(i) == rest:
        run += 1
        i += 2 if rest else 1
    return run, rest


def _on_top(quota: QuotaView, zone: tzinfo, now: datetime) -> str:
    """" and 10 minutes more until 17:00" beside the day's total: what can still be used
    of the time given until each moment still to come ("status" says the same)."""
    more = [(usable, end) for usable, _, end in quota.on_top if usable >= 1]
    if not more:
        return ""
    said = [f"{spoken_duration(usable)} more {until_moment(end, now, zone, up=False)}"
            for usable, end in more]
    return (" and " + said[0]) if len(said) == 1 else (", " + join_clauses(said).replace(
        ", and ", " and "))


def _group_line(group: GroupDay, explanation: DayExplanation, zone: tzinfo) -> str:
    titles = {row.entry.id: row.entry.title for row in explanation.entries}
    members = join_clauses(titles.get(e, e) for e in group.entries).replace(", and ", " and ")
    parts: list[str] = []
    day, week = group.quota.day, group.quota.week
    if day is not None:
        total = group.quota.day_total_s or 0.0
        own = day_own_left(day.left_s, total, day.used_s,
                           ((usable, paid) for usable, paid, _ in group.quota.on_top))
        parts.append(f"{format_duration(own)} of {format_duration(total)} left today"
                     f"{_on_top(group.quota, zone, explanation.start)}")
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
    # (the hour the clocks go back says which one it is: under such long times the
    # sentence goes on where it would under "HH:MM–HH:MM", rev15-s25 B)
    lead = min(lead, len("  HH:MM–HH:MM  "))
    return textwrap.wrap(line, WIDTH, subsequent_indent=" " * lead, break_on_hyphens=False)


def explanation_lines(explanation: DayExplanation, zone: tzinfo, *,
                      chart: bool = True, running: str = "") -> list[str]:
    """The whole explanation: the day, the chart, each entry, each budget; ``running``,
    a note on the sessions running now, follows the first sentence."""
    e = explanation
    # "the next morning" for a day that starts in the morning (review-15-s17 Q6: a day
    # starting at 12:45 ran "to 12:45 the next morning")
    when = "morning" if e.day_end.astimezone(zone).hour < 12 else "day"
    lines = [f"{e.user} on {_date(e.day_start, zone)}: the day runs from "
             f"{clock_time(e.day_start, zone)} to {clock_time(e.day_end, zone)} the next "
             f"{when} ({spoken_duration((e.day_end - e.day_start).total_seconds())})."]
    if running:
        lines.append(running)
    if e.start > e.day_start:  # past midnight: "From Saturday 02:00 on (the end of ...)"
        start, local = clock_time(e.start, zone), e.start.astimezone(zone)
        if local.date() != e.day_start.astimezone(zone).date():
            start = (f"{_WEEKDAYS[local.weekday()]} {start} on (the end of "
                     f"{_WEEKDAYS[e.day.weekday()]}'s day, which its words name today)")
            lines.append(f"From {start}.")
        else:
            lines.append(f"From {start} on.")
    if e.from_daemon:
        lines.append("Counting what was used this week and today, from the running daemon "
                     "(its running sessions' time so far included).")
    elif e.usage_known:
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
