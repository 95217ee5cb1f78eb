"""The day as a compact text chart, one row per entry, within 80 columns.

Each column is a few minutes of the day (5 to 60, whatever fits): ``#`` in use
(played as soon as allowed) for more than half of it, ``+`` in use for less (no
session is left out, however short), ``~`` resting between sessions, ``-`` within
its allowed hours but no time left (or held back another way), ``.`` outside its
allowed hours; the part of the day before the explanation's start is blank.
Columns are real time, so a day the clocks change is an hour shorter or longer;
the hours above them are local time.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, tzinfo

from shepherd.explain.day import DayExplanation, EntryDay, PlannedSession

WIDTH = 80
_STEPS_MIN = (5, 10, 15, 20, 30, 60, 120)
_LABEL_MIN, _LABEL_MAX = 6, 14
LEGEND = "# in use  + partly  ~ resting  - no time left  . closed"


def _step(span_s: float, columns: int) -> int:
    for minutes in _STEPS_MIN:
        if math.ceil(span_s / (minutes * 60)) <= columns:
            return minutes
    return _STEPS_MIN[-1]


def _said(session: PlannedSession) -> tuple[datetime, datetime]:
    """A session's start and end to whole minutes, as the words say them near enough (a
    few seconds past a minute drew a column of its own, rev15-s25 F; a start a few
    seconds before one, after a rest said to end then, rev15-s25b F-b), unless that
    leaves nothing of it (a session within one minute is drawn as it is)."""
    down = session.end.replace(second=0, microsecond=0)
    start = session.start.replace(second=0, microsecond=0)
    up = start if start == session.start else start + timedelta(minutes=1)
    return (up, down) if up < down else (session.start, session.end)


def _cell(row: EntryDay, start: datetime, end: datetime) -> str:
    size = (end - start).total_seconds()
    played = sum(max((min(said[1], end) - max(said[0], start)).total_seconds(), 0.0)
                 for said in map(_said, (s for s in row.sessions if s.seconds > 0)))
    if played > 0:  # (review-15-s24 F4: a session across two columns, under half of each,
        return "#" if played > size / 2 else "+"  # was left out; half of it drawn whole
        # showed 2h30m of play and three rests as 3h30m and one)
    middle = start + (end - start) / 2
    if not any(opens <= middle < closes for opens, closes in row.windows):
        return "."
    for wait in row.waits:
        if wait.start <= middle < wait.end:
            return "~" if wait.resting else "-"
    return " "


def _hour_marks(start: datetime, step: int, columns: int, zone: tzinfo) -> str:
    """Local hours above the columns where an hour starts, spaced to stay readable."""
    every = next(k for k in (1, 2, 3, 4, 6, 12) if k * 60 / step >= 3)
    marks = [" "] * (columns + 2)
    last = -10
    for column in range(columns):
        local = (start + timedelta(minutes=step * column)).astimezone(zone)
        if local.minute == 0 and local.hour % every == 0 and column - last >= 3:
            marks[column:column + 2] = list(f"{local.hour:02d}")
            last = column
    return "".join(marks).rstrip()


def row_names(titles: list[tuple[str, str]], width: int) -> dict[str, str]:
    """Each entry's name in a column ``width`` wide: its title, cut with "…" when longer.
    Titles that the cut would make alike keep their ends as well ("A Fairly…mber 1",
    "A Fairly…mber 2": review-12-s13 L11), as few characters of them as tells them apart;
    titles alike even so, or whole, are told apart by their ids."""
    def cut(title: str, tail: int) -> str:
        if len(title) <= width:
            return title
        return title[:width - 1 - tail] + "…" + (title[-tail:] if tail else "")

    names = {entry: cut(title, 0) for entry, title in titles}
    for tail in range(1, width - 2):
        seen: dict[str, int] = {}
        for name in names.values():
            seen[name] = seen.get(name, 0) + 1
        alike = {entry for entry, name in names.items() if seen[name] > 1}
        if not alike:
            return names
        for entry, title in titles:
            if entry in alike:
                names[entry] = cut(title, tail)
    seen = {}
    for name in names.values():
        seen[name] = seen.get(name, 0) + 1
    return {entry: cut(entry, 0) if seen[name] > 1 else name for entry, name in names.items()}


def day_chart(explanation: DayExplanation, zone: tzinfo, width: int = WIDTH) -> list[str]:
    """The chart's lines: hours, one row per entry, and the legend."""
    rows = explanation.entries
    if not rows:
        return []
    label = min(max(max(len(r.entry.title) for r in rows), _LABEL_MIN), _LABEL_MAX)
    columns_free = width - label - 1 - 2  # the last hour mark may stand past the last column
    local = explanation.start.astimezone(zone)
    start = explanation.start - timedelta(minutes=local.minute, seconds=local.second,
                                          microseconds=local.microsecond)
    span = (explanation.day_end - start).total_seconds()
    step = _step(span, columns_free)
    columns = math.ceil(span / (step * 60))
    names = row_names([(r.entry.id, r.entry.title) for r in rows], label)
    lines = [" " * (label + 1) + _hour_marks(start, step, columns, zone)]
    for row in rows:
        cells = []
        for column in range(columns):
            begin = start + timedelta(minutes=step * column)
            end = min(begin + timedelta(minutes=step), explanation.day_end)
            cells.append(" " if end <= explanation.start
                         else _cell(row, max(begin, explanation.start), end))
        lines.append(f"{names[row.entry.id]:<{label}} {''.join(cells)}")
    lines.append(f"one column = {step} min;  {LEGEND}")
    return lines
