"""``shepherd status`` as text: per child, each entry's label, state, time today, and why.

Columns are as wide as their longest cell, so no state or label overflows; a label
longer than ``LABEL_CHARS`` is cut with "…", as the TUI's name column gives way. Built
from the ``status`` JSON alone (what any client gets), in the words of
``shepherd.words``.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any, TextIO

from shepherd.engine.engine import MIN_LAUNCH_S
from shepherd.words import (
    and_list,
    at_moment,
    counting_sentence,
    day_own_left,
    flapping_sentence,
    format_duration,
    lasting_state,
    not_installed_clause,
    not_runnable_clause,
    one_line,
    pause_clause,
    reasons_clause,
    spoken_duration,
    state_word,
    unfrozen_clause,
    until_moment,
    week_left,
)

LABEL_CHARS = 40  # a longer label is cut: it would widen every row of the table


def _week(item: Mapping[str, Any]) -> str:
    """", 3h of 10h left this week" where a weekly quota applies."""
    said = week_left(item.get("quota_week_s"), item.get("remaining_week_s"))
    return f", {said}" if said else ""


def _on_top(item: Mapping[str, Any], quota: float, used: float, left: float,
            now: datetime, zone: tzinfo) -> str | None:
    """Time given until a moment comes on top of the day's total until then: "1m29s of
    2m left, 40s more until 07:35" (each moment's own when given until several: "…, 10m
    more until 11:00 and 10m more until 18:00"). The total is the day's own, the same
    while such time pays; what is said of each moment is what can still be used of it
    before then (review-15-s15 N4, N5). None when none is given."""
    parts = [(float(part["seconds"]), float(part.get("paid_s") or 0.0),
              datetime.fromisoformat(part["until"])) for part in item.get("on_top") or ()]
    if not parts:
        return None
    more = [(usable, end) for usable, _, end in parts if usable >= 1]
    own = day_own_left(left, quota, used, ((usable, paid) for usable, paid, _ in parts))
    said = (f"{format_duration(own)} of {format_duration(quota)} left" if own >= MIN_LAUNCH_S
            else f"all {format_duration(quota)} used")
    if not more:
        return said
    return f"{said}, " + and_list([f"{format_duration(usable)} more "
                                   f"{until_moment(end, now, zone, up=False)}"
                                   for usable, end in more])


def _today(entry: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    used = entry.get("used_today_s") or 0
    left = entry.get("remaining_today_s")
    quota = entry.get("quota_today_s")
    if quota is None and entry.get("quota_week_s") is not None:
        return f"no daily limit, {format_duration(used)} used{_week(entry)}"
    if quota is None and left is not None:
        quota = used + left
    if quota is None:
        return f"no daily limit, {format_duration(used)} used"
    if left is None:
        left = max(quota - used, 0)
    if left < MIN_LAUNCH_S:  # starts nothing: a take-back holds the allowance at the use,
        # rounded up to the second, so no "1s left" beside "used up" (review-12-s13 L3)
        if used < quota - MIN_LAUNCH_S:  # the week (or a budget) is what is spent: the
            # day's own figure as it is, not "all 5m used" of 2 minutes (review-15-s16 P4)
            return f"{format_duration(used)} of {format_duration(quota)} used{_week(entry)}"
        return f"all {format_duration(quota)} used{_week(entry)}"
    on_top = _on_top(entry, quota, used, left, now, zone)
    if on_top is not None:
        return on_top + _week(entry)
    return f"{format_duration(left)} of {format_duration(quota)} left{_week(entry)}"


def _session_words(session: Mapping[str, Any], now: datetime, zone: tzinfo,
                   here: str | None = None) -> str:
    what = f"session {session['id']}"
    machine = session.get("machine")
    if machine and machine != here:  # a household: running on another of its machines
        what += f" on {machine}"
    if session.get("stopping"):
        return f"{what}, stopping"
    deadline = session.get("deadline")
    pause = session.get("paused")
    if pause:  # its clock stands still: no moment to end at, only what is left
        left = session.get("remaining_s")
        rest = "no time limit" if left is None else f"{spoken_duration(left)} left"
        return f"{what}, {pause_clause(pause, now, zone)}{meanwhile(session)} ({rest})"
    unfrozen = session.get("freeze_failed")
    said = f"; {unfrozen_clause(unfrozen)}" if unfrozen else ""
    if deadline is None or session.get("remaining_s") is None:
        return f"{what}, no time limit{said}"
    ends = at_moment(datetime.fromisoformat(deadline), now, zone, up=False)
    return f"{what}, ends {ends} ({spoken_duration(session['remaining_s'])} left){said}"


def meanwhile(session: Mapping[str, Any]) -> str:
    """What a paused session's programs do: frozen, or running on (``while_paused = "run"``)."""
    if session.get("frozen"):
        return ", its programs frozen meanwhile"
    if session.get("runs_while_paused"):
        return ", its programs running on meanwhile"
    return ""


def _detail(entry: Mapping[str, Any], user: Mapping[str, Any],
            sessions: Sequence[Mapping[str, Any]], now: datetime, zone: tzinfo,
            here: str | None) -> str:
    if entry["state"] == "running":
        mine = [s for s in sessions if s["user"] == user["name"] and s["entry"] == entry["id"]]
        return "; ".join(_session_words(s, now, zone, here) for s in mine) or "running"
    closed, missing = entry.get("program_closed"), entry.get("program_missing")
    # the program is said first when it is what keeps the entry from starting: only
    # another program's running ("busy") stands beside it, and stopping that would not
    # help (review-12-s13 L1)
    if closed and entry.get("state") == "not_runnable":
        return not_runnable_clause(str(closed))
    if missing and entry.get("state") == "not_installed":
        return not_installed_clause(str(missing))
    reasons = [r for r in entry.get("reasons", ())
               if not (user.get("locked") and r.get("code") == "locked")]
    if reasons:
        return reasons_clause(reasons, now, zone)
    if entry.get("state") == "locked":
        return ""
    left = entry.get("time_left_s")
    if closed:  # here, but the child may not run it
        return not_runnable_clause(str(closed))
    if missing:  # allowed, but the launch would fail: say so now
        return not_installed_clause(str(missing))
    return "can start, no time limit" if left is None else (
        f"can start, for up to {spoken_duration(left)}")


def _all_paused(entry: Mapping[str, Any], user: Mapping[str, Any],
                sessions: Sequence[Mapping[str, Any]]) -> bool:
    """Are all of this entry's sessions paused (the detail says frozen or running on)?"""
    mine = [s for s in sessions if s["user"] == user["name"] and s["entry"] == entry["id"]]
    return bool(mine) and all(s.get("paused") for s in mine)


def _group_words(group: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    used = format_duration(group.get("used_today_s") or 0)
    quota = group.get("quota_today_s")
    if quota is None:
        return f"{group['id']} {used} today, no daily limit{_week(group)}"
    left = group.get("remaining_today_s")
    if left is not None and left < MIN_LAUNCH_S:  # all of it, to the second
        return f"{group['id']} {format_duration(quota)} of {format_duration(quota)}, " \
            f"used up{_week(group)}"
    on_top = _on_top(group, quota, group.get("used_today_s") or 0, left or 0, now, zone)
    if on_top is not None:
        return f"{group['id']} {used} used, {on_top}{_week(group)}"
    rest = f", {format_duration(left)} left" if left else ", used up"
    return f"{group['id']} {used} of {format_duration(quota)}{rest}{_week(group)}"


def _fold(text: str, width: int | None, first: str, rest: str) -> list[str]:
    """``text`` after ``first``, in lines of at most ``width`` columns (None: one line),
    broken between words only; the lines after the first start with ``rest``."""
    if width is None or len(first) + len(text) <= width:
        return [(first + text).rstrip()]
    return textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False) or [first.rstrip()]


def _table(rows: Sequence[Sequence[str]], indent: str, width: int | None = None) -> list[str]:
    """Rows in columns as wide as their longest cell. When a row would be wider than
    ``width`` (the terminal's), each row keeps its label and state on its first line and
    the rest goes on under them, broken between words: a terminal of 80 columns broke
    the rows mid-word (review-12-s13 L13)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append((indent + "  ".join([*cells, row[-1]])).rstrip())
    if width is None or all(len(line) <= width for line in lines):
        return lines
    columns = _wrapped_columns(rows, widths, indent, width)
    if columns is not None:
        return columns
    lines = []
    under = indent + "  "  # what follows a row's first line
    for row in rows:
        head = indent + "  ".join(cell.ljust(w) for cell, w in zip(row[:2], widths,
                                                                  strict=False)) + "  "
        said = [cell for cell in row[2:] if cell]
        # the first of the rest beside the state when it fits, the others under it
        if said and len(head) + len(said[0]) <= width:
            lines.append(head + said.pop(0))
        else:
            lines.append(head.rstrip())
        for cell in said:
            lines += _fold(cell, width, under, under)
    return lines


_NARROWEST = 16  # a wrapped column narrower than this reads badly: the rest goes under


def _wrapped_columns(rows: Sequence[Sequence[str]], widths: list[int], indent: str,
                     width: int) -> list[str] | None:
    """The rows in their columns, label and state whole, the columns after them (time
    today, detail) each wrapped between words under its own column within ``width``;
    None when they cannot be so narrow (see ``_NARROWEST``) or a word is too long."""
    fixed, flexible = widths[:2], widths[2:]
    room = width - len(indent) - sum(fixed) - 2 * (len(widths) - 1)
    if not flexible or room < _NARROWEST * len(flexible):
        return None
    # each column as wide as it needs, the widest cut to what the others leave it
    given = [0] * len(flexible)
    order = sorted(range(len(flexible)), key=lambda i: flexible[i])
    for n, i in enumerate(order):
        given[i] = min(flexible[i], room // (len(order) - n))
        room -= given[i]
    lines = []
    for row in rows:
        cells = [textwrap.wrap(cell, w, break_long_words=False, break_on_hyphens=False)
                 or [""] for cell, w in zip(row[2:], given, strict=False)]
        for k in range(max(len(cell) for cell in cells)):
            head = row[:2] if k == 0 else ["", ""]
            parts = [*(c.ljust(w) for c, w in zip(head, fixed, strict=False)),
                     *(c[k].ljust(w) if k < len(c) else " " * w
                       for c, w in zip(cells, given, strict=False))]
            lines.append((indent + "  ".join(parts)).rstrip())
    if any(len(line) > width for line in lines):
        return None  # a word longer than its column
    return lines


def render_status(status: Mapping[str, Any], zone: tzinfo,
                  width: int | None = None) -> list[str]:
    """The lines of ``shepherd status``; ``width``: those of a terminal so wide, broken
    between words (None: each line whole, as a pipe gets them)."""
    lines = _render_status(status, zone, width)
    if width is None:
        return lines
    folded: list[str] = []
    for line in lines:
        if len(line) <= width:
            folded.append(line)
            continue
        lead = line[:len(line) - len(line.lstrip(" "))]
        folded += _fold(line.lstrip(" "), width, lead, lead + "  ")
    return folded


def terminal_width(stream: TextIO) -> int | None:
    """The columns of the terminal ``stream`` writes to; None for a pipe or a file
    (whole lines, for a script to read)."""
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):  # closed, or no file behind it
        return None
    return max(shutil.get_terminal_size().columns, 40)


def _render_status(status: Mapping[str, Any], zone: tzinfo,
                   width: int | None) -> list[str]:
    now = datetime.fromisoformat(status["now"]) if status.get("now") else datetime.now(zone)
    sessions: Sequence[Mapping[str, Any]] = status.get("sessions", ())
    here = status.get("machine")
    lines: list[str] = []
    shown: set[tuple[str | None, int]] = set()
    # Restarted cut off from the household store: its books of today's use are there, so
    # the figures here would be only what was counted since the restart (not shown).
    unknown = bool((status.get("household") or {}).get("local_books"))
    for user in status.get("users", ()):
        heading = user["name"]
        if user.get("locked"):
            heading += " (locked by a parent: nothing can start)"
        lines.append(heading)
        rows = []
        for entry in user.get("entries", ()):
            state = lasting_state(entry["state"], entry.get("reasons", ()))
            word = state_word(state)
            if state == "running" and _all_paused(entry, user, sessions):
                word = "paused"  # the TUI's word: its sessions' clocks stand still
            rows.append([one_line(str(entry.get("label") or entry["id"]), LABEL_CHARS), word,
                         "today's use not known" if unknown else _today(entry, now, zone),
                         _detail(entry, user, sessions, now, zone, here)])
            if entry["state"] == "running":
                shown.update((s.get("machine"), s["id"]) for s in sessions
                             if s["user"] == user["name"] and s["entry"] == entry["id"])
        lines += _table(rows, "  ", width) if rows else ["  no entries for this child"]
        groups = user.get("groups") or ()
        if groups and unknown:
            lines.append("  budgets today: not known until the household store is back")
        elif groups:
            said = (_group_words(g, now, zone) for g in groups)
            lines.append("  budgets today: " + "; ".join(said))
    for session in sessions:
        if (session.get("machine"), session["id"]) not in shown:
            lines.append(f"{session['user']}: {session['entry']}, "
                         f"{_session_words(session, now, zone, here)}")
    if status.get("clock_jump_pending"):
        lines.append("The system clock jumped; Shepherd keeps its own time until a parent "
                     "runs `shepherd clock accept`.")
    if not status.get("store_ok", True):
        lines.append("Shepherd cannot record time right now (its store is unavailable), "
                     "so nothing can start.")
    damage = status.get("store_damage")
    if damage:
        lines.append(store_damage_sentence(damage, now, zone))
    differs = status.get("policy_differs")
    if differs:
        lines.append(f"This computer's policy differs from {_names(differs)}'s; each applies "
                     "its own limits, so give every computer the same policy.")
    for said in (status.get("household") or {}).values():
        if said:
            lines.append(str(said))
    counting = status.get("counting") or {}
    blind = counting_sentence(counting.get("presence_problem"), counting.get("count", "active"))
    if blind:
        lines.append(blind)
    lines += [flapping_sentence(flap, now, zone) for flap in counting.get("flapping") or ()]
    deadlines = deadlines_sentence(status.get("deadlines"))
    if deadlines:
        lines.append(deadlines)
    rejected = status.get("policy_rejected")
    if rejected:
        lines.append("The last policy reload was rejected; the previous policy stays in "
                     "force (`shepherd policy show` lists the errors).")
    return lines


def deadlines_sentence(deadlines: Mapping[str, Any] | None) -> str | None:
    """Who stops a session at its deadline (issue 9 F3), from ``status``'s ``deadlines``
    (a parent's only: a child's answer has none), in a parent's words."""
    if not deadlines:
        return None
    alarm, pid = deadlines.get("alarm"), deadlines.get("alarm_pid")
    itself = "Time limits: the service itself stops each program on time"
    if alarm == "serving":
        # (the SIGKILL after the grace is the service's: review-14-s17 L3)
        return (f"Time limits: a separate alarm process (pid {pid}) tells each program its "
                "time is up on time, even if the service itself hangs or is killed; one "
                "that ignores that is killed by the service once its grace is over.")
    if alarm == "stopped":
        return (f"{itself} for now: its alarm process (pid {pid}) is stopped (it was sent "
                "SIGSTOP) and is replaced when it fails to answer.")
    if alarm == "restarting":
        return f"{itself} while its alarm process restarts."
    if alarm == "starting":
        return f"{itself} until its alarm process has started."
    if alarm == "cannot_start":
        return (f"{itself}: its alarm process cannot be started (the service's log says "
                "why); it is tried again now and then.")
    if alarm == "off":
        return f"{itself} (its separate alarm process is turned off)."
    if deadlines.get("kept_by") == "systemd":
        return "Time limits: systemd stops each program on time, as the service asks it to."
    return None


def _names(machines: list[str]) -> str:
    return machines[0] if len(machines) == 1 else ", ".join(machines[:-1]) + " and " + machines[-1]


def store_damage_sentence(damage: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    """What a parent reads after the store's file was found damaged."""
    when = at_moment(datetime.fromisoformat(damage["at"]), now, zone, up=False)
    kept = f" The damaged file is kept as {damage['kept_as']}." if damage.get("kept_as") else ""
    if damage.get("children_locked"):
        return (f"Shepherd found its records damaged when it started ({when}) and could not "
                "read all of the time used, so every child is locked until a parent checks "
                f"their time and unlocks them (`shepherd unlock NAME`).{kept}")
    return (f"Shepherd found its records damaged {when} and rebuilt them from what it holds "
            f"in memory: no time was lost.{kept}")
