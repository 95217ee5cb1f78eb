"""Load and check a policy file, gathering every problem at once.

Each problem carries the dotted path (``entries[2].limits.cooldown``), the line
where it is written and what was expected. Errors make the policy unusable;
warnings (``severity == "warning"``) are things a parent should know about but
that have a well-defined meaning.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tomli
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from shepherd.policy.detect_lint import FEW_LITERALS, literal_length, script_interpreter
from shepherd.policy.durations import format_duration
from shepherd.policy.locate import LineMap, PathPart, find_line
from shepherd.policy.model import (
    DAY_NAMES,
    WEEKDAYS,
    WEEKENDS,
    Entry,
    Group,
    Policy,
    QuotaSchedule,
    TimeWarning,
)


@dataclass(frozen=True)
class Problem:
    path: tuple[PathPart, ...]
    line: int
    message: str
    severity: Literal["error", "warning"] = "error"

    @property
    def dotted(self) -> str:
        return dotted_path(self.path)

    def render(self, file: str) -> str:
        where = f"{file}:{self.line}"
        label = "warning: " if self.severity == "warning" else ""
        if self.path:
            return f"{where}: {self.dotted}: {label}{self.message}"
        return f"{where}: {label}{self.message}"


class PolicyError(Exception):
    """A policy that cannot be used, with every problem found in it."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(p.render(file) for p in problems))


@dataclass(frozen=True)
class CheckResult:
    policy: Policy | None
    problems: list[Problem]
    lines: Mapping[tuple[PathPart, ...], int] = field(default_factory=dict)  # path -> line
    advised: bool = True  # False: the advice on a valid policy is still to come (``advice``)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def advice(self) -> list[Problem]:
        """The warnings on a valid policy that a check made without ``advice`` left out
        (``policy_advice``); none when it gave them, or for a rejected policy."""
        if self.advised or self.policy is None:
            return []
        return policy_advice(self.policy, self.lines)


def dotted_path(path: Iterable[PathPart]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def check_policy_file(path: str | Path, advice: bool = True) -> CheckResult:
    file = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        return CheckResult(None, [Problem((), 0, f"cannot read the file: {exc.strerror}")])
    except UnicodeDecodeError as exc:
        problem = Problem((), 1, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        return CheckResult(None, [problem])
    return check_policy_text(text, file, advice)


def check_policy_text(text: str, file: str = "<policy>", advice: bool = True) -> CheckResult:
    """The policy, or where it is wrong. ``advice=False``: the warnings on a valid policy
    (things it means that a parent may not have meant: ``policy_advice``) are left for
    ``CheckResult.advice``; they never make a policy invalid, and the daemon writes them
    only once it is ready (issue 13: a tenth of a 1,000-entry check, and file reads)."""
    try:
        raw = tomli.loads(text)  # the stdlib's tomllib, compiled: a third of its time
    except tomli.TOMLDecodeError as exc:
        return CheckResult(None, [_syntax_problem(exc, text)])
    lines = LineMap(text)  # scanned only if a problem needs a line
    problems: list[Problem] = []
    policy: Policy | None = None
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        problems.extend(_translate(error, lines) for error in errors
                        if not _explained_by_inner_error(error, errors))
    problems.extend(_cross_check(raw, lines))
    if policy is not None:
        if advice:
            problems.extend(policy_advice(policy, lines))
    elif any(p.severity == "error" for p in problems):
        problems.extend(_warnings_beside_errors(raw, problems, lines))
    problems.sort(key=lambda p: (p.line, p.severity != "error"))
    if any(p.severity == "error" for p in problems):
        policy = None
    return CheckResult(policy, problems, lines, advised=advice)


def policy_advice(policy: Policy, lines: Mapping[tuple[PathPart, ...], int]) -> list[Problem]:
    """Warnings only: what a valid policy means that a parent may not have intended."""
    return _limit_warnings(policy, lines) + _running_while_paused(policy, lines)


_LISTS = ("users", "entries", "groups")


def _warnings_beside_errors(raw: dict[str, Any], errors: list[Problem],
                            lines: Mapping[tuple[PathPart, ...], int]) -> list[Problem]:
    """The warnings of what could be checked (SPEC §2: all problems at once): the policy
    without the users, entries and groups that have errors (and without the groups of
    a dropped entry, which cannot be judged without it), each warning at its place in
    the file. Errors elsewhere (a broken ``[supervisor]``): no warnings."""
    kept: dict[str, list[int]] = {}
    broken = {(p.path[0], p.path[1]) for p in errors if p.severity == "error"
              and len(p.path) >= 2 and p.path[0] in _LISTS and isinstance(p.path[1], int)}
    if any(p.severity == "error" and (len(p.path) < 2 or p.path[0] not in _LISTS)
           for p in errors):
        return []
    pruned = dict(raw)
    for key in _LISTS:
        items = raw.get(key)
        if not isinstance(items, list):
            continue
        kept[key] = [i for i in range(len(items)) if (key, i) not in broken]
    dropped = {str(item.get("id")) for i, item in _items(raw, "entries")
               if ("entries", i) in broken}

    def of_dropped(group: object) -> bool:
        members = group.get("entries") if isinstance(group, dict) else None
        return isinstance(members, list) and any(str(m) in dropped for m in members)

    if "groups" in kept:
        kept["groups"] = [i for i in kept["groups"] if not of_dropped(raw["groups"][i])]
    for key, indices in kept.items():
        pruned[key] = [raw[key][i] for i in indices]
    try:
        policy = Policy.model_validate(pruned)
    except ValidationError:
        return []  # what is left still fails together: nothing more can be said

    def placed(problem: Problem) -> Problem:
        path = problem.path
        if len(path) >= 2 and path[0] in kept and isinstance(path[1], int):
            path = (path[0], kept[str(path[0])][path[1]], *path[2:])
        return Problem(path, find_line(lines, path), problem.message, problem.severity)

    return [placed(p) for p in policy_advice(policy, lines)]


def load_policy(path: str | Path) -> Policy:
    """The validated policy, or ``PolicyError`` listing every error."""
    result = check_policy_file(path)
    if result.policy is None:
        raise PolicyError(str(path), result.errors)
    return result.policy


def load_policy_text(text: str, file: str = "<policy>") -> Policy:
    result = check_policy_text(text, file)
    if result.policy is None:
        raise PolicyError(file, result.errors)
    return result.policy


def _explained_by_inner_error(error: ErrorDetails, errors: list[ErrorDetails]) -> bool:
    """A list reported too short only because its items failed says nothing new."""
    loc = error["loc"]
    return error["type"] == "too_short" and any(
        len(other["loc"]) > len(loc) and other["loc"][: len(loc)] == loc for other in errors)


def _syntax_problem(exc: tomli.TOMLDecodeError, text: str) -> Problem:
    message = str(exc)
    if message.endswith(" (at end of document)"):  # the last line with something on it
        last = len(text.rstrip().splitlines()) or 1
        return Problem((), last, "TOML syntax error at the end of the file: "
                       + message.removesuffix(" (at end of document)"))
    line = getattr(exc, "lineno", None)
    column = getattr(exc, "colno", None)
    if line is None:  # Python 3.11 puts the position only in the text.
        import re

        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if match:
            line, column = int(match.group(1)), int(match.group(2))
    base = message.split(" (at line")[0]
    where = f" at column {column}" if column is not None else ""
    return Problem((), line or 1, f"TOML syntax error{where}: {base}")


# -- pydantic errors in a parent's words ----------------------------------------

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "a whole number",
    "bool_type": "true or false",
    "tuple_type": "a list",
    "list_type": "a list",
    "model_type": "a table",
    "dict_type": "a table",
    "frozen_set_type": "a list",
}


def _translate(error: ErrorDetails, lines: Mapping[tuple[PathPart, ...], int]) -> Problem:
    loc = tuple(part for part in error["loc"] if part != "single")
    path: tuple[PathPart, ...] = tuple(p if isinstance(p, int) else str(p) for p in loc)
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(path[:-1]))
        message = f"unknown key {path[-1]!r} (expected one of: {allowed})"
        message += _misplaced_key_hint(path)
    elif kind == "missing":
        message = "missing (this key is required)"
    elif kind == "value_error":
        message = str(error["msg"]).removeprefix("Value error, ")
    elif kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        message = f"got {value!r} (expected {expected})"
    elif kind == "too_short":
        message = "is empty (expected at least one item)"
    elif kind in ("greater_than_equal", "less_than_equal"):
        bounds = error.get("ctx", {})
        if kind == "greater_than_equal":
            message = f"got {value!r} (expected at least {bounds.get('ge')})"
        else:
            message = f"got {value!r} (expected at most {bounds.get('le')})"
    elif kind in _TYPE_WORDS:
        message = f"got {_describe(value)} (expected {_TYPE_WORDS[kind]})"
    else:
        message = f"{error['msg']} (got {_describe(value)})"
    return Problem(path, find_line(lines, path), message)


_LIMIT_KEYS = frozenset({"max_run", "daily_quota", "weekly_quota", "cooldown"})


def _unlimited(days: list[str]) -> str:
    return "that day is unlimited" if len(days) == 1 else "those days are unlimited"


def _misplaced_key_hint(path: tuple[PathPart, ...]) -> str:
    """Groups and entries say their limits differently; say how when one is mixed up."""
    if len(path) != 3 or not isinstance(path[-1], str):
        return ""
    section, key = path[0], path[-1]
    if section == "groups" and key == "members":
        return ('; did you mean entries? A group names the entries that share its budget, '
                'as entries = ["minecraft", "celeste"]')
    if section == "groups" and key == "limits":
        return ('; a group takes its shared budget directly, as daily_quota = "2h", '
                "not inside limits = { ... } (that is for entries)")
    if section == "groups" and key in _LIMIT_KEYS:
        return (f"; a group has only a shared daily_quota and weekly_quota, {key} belongs to "
                "each entry's limits")
    if section == "entries" and key in _LIMIT_KEYS:
        return (f"; an entry's {key} goes inside its limits, as "
                f'limits = {{ {key} = "1h" }}')
    return ""


def _describe(value: Any) -> str:
    kinds = {dict: "a table", list: "a list", bool: "a boolean", str: "a string", int: "a number"}
    return f"{kinds.get(type(value), type(value).__name__)} {value!r}"


def _allowed_keys(path: tuple[PathPart, ...]) -> list[str]:
    model: type[BaseModel] | None = Policy
    for part in path:
        if model is None:
            break
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    if model is None:
        return []
    return [name for name in model.model_fields if name != "single"]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if origin in (tuple, list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


# -- cross-references, checked on the raw document so they are reported even
#    when other parts of the file are broken ---------------------------------------

def _items(raw: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    value = raw.get(key)
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _cross_check(raw: dict[str, Any], lines: Mapping[tuple[PathPart, ...], int]) -> list[Problem]:
    problems: list[Problem] = []

    def add(path: tuple[PathPart, ...], message: str, severity: str = "error") -> None:
        problems.append(Problem(path, find_line(lines, path), message, severity))  # type: ignore[arg-type]

    def unique(table: str, key: str, what: str) -> dict[str, int]:
        seen: dict[str, int] = {}
        for index, item in _items(raw, table):
            name = item.get(key)
            if not isinstance(name, str):
                continue
            if name in seen:
                first = find_line(lines, (table, seen[name], key))
                add((table, index, key),
                    f"duplicate {what} {name!r} (first defined on line {first})")
            else:
                seen[name] = index
        return seen

    users = unique("users", "name", "user")
    entries = unique("entries", "id", "entry id")
    groups = unique("groups", "id", "group id")
    user_list = ", ".join(users) or "no users defined"
    entry_list = ", ".join(entries) or "no entries defined"

    for group_id, index in groups.items():
        if group_id in entries:
            add(("groups", index, "id"),
                f"{group_id!r} is also an entry id (expected a name no entry uses, "
                "so that grants can name either)")

    for index, entry in _items(raw, "entries"):
        names = entry.get("users")
        if isinstance(names, list):
            for j, name in enumerate(names):
                if isinstance(name, str) and name not in users:
                    add(("entries", index, "users", j),
                        f"unknown user {name!r} (expected one of: {user_list})")
            if not names:
                add(("entries", index, "users"), "is empty, so nobody may run this entry",
                    "warning")

    for index, group in _items(raw, "groups"):
        members = group.get("entries")
        if isinstance(members, list):
            seen: set[str] = set()
            for j, member in enumerate(members):
                if not isinstance(member, str):
                    continue
                if member not in entries:
                    add(("groups", index, "entries", j),
                        f"unknown entry {member!r} (expected one of: {entry_list})")
                elif member in seen:
                    add(("groups", index, "entries", j), f"entry {member!r} is listed twice")
                seen.add(member)

    return problems


def _limit_warnings(policy: Policy, lines: Mapping[tuple[PathPart, ...], int]) -> list[Problem]:
    """Things that have a meaning but that a parent may not have intended."""
    problems: list[Problem] = []
    path: tuple[PathPart, ...]
    for index, entry in enumerate(policy.entries):
        quota = entry.limits.daily_quota
        problems += _no_quota_on_open_days(("entries", index, "limits", "daily_quota"), quota,
                                           [entry], policy.supervisor.day_starts_at, lines)
        problems += _weekly_never_limits(("entries", index, "limits"), entry.limits.weekly_quota,
                                         quota, lines)
        limits = [entry.limits.max_run, quota.largest() if quota else None,
                  entry.limits.weekly_quota]
        limits += [g.daily_quota.largest() if g.daily_quota else None
                   for g in policy.groups_of(entry.id)]
        limits += [g.weekly_quota for g in policy.groups_of(entry.id)]
        finite = [v for v in limits if v is not None]
        if not finite or min(finite) == 0:  # unlimited, or it never launches at all
            continue
        longest = max(finite)
        own = entry.warnings is not None
        for w_index, warning in enumerate(policy.warnings_for(entry)):
            if warning.before > longest:
                path = (("entries", index, "warnings", w_index) if own
                        else ("supervisor", "default_warnings", w_index))
                problems.append(Problem(
                    path,
                    find_line(lines, path),
                    f"before = {format_duration(warning.before)} is longer than every limit "
                    f"of entry {entry.id!r} ({format_duration(longest)}), so it fires at launch",
                    "warning"))
    problems += _overnight_warnings(policy, lines)
    problems += _placeholder_warnings(policy, lines)
    problems += _names_alike(policy, lines)
    problems += _quota_without_windows(policy, lines)
    problems += _detect_warnings(policy, lines)
    for index, group in enumerate(policy.groups):
        quota = group.daily_quota
        problems += _weekly_never_limits(("groups", index), group.weekly_quota, quota, lines)
        problems += _no_quota_on_open_days(("groups", index, "daily_quota"), quota,
                                           _members(policy, group),
                                           policy.supervisor.day_starts_at, lines)
    return problems


def _no_quota_on_open_days(path: tuple[PathPart, ...], quota: QuotaSchedule | None,
                           entries: list[Entry], day_start: int,
                           lines: Mapping[tuple[PathPart, ...], int]) -> list[Problem]:
    """Days a day-by-day quota leaves unset on which an entry (of a group: any member)
    opens: nothing limits those days. A day none of them opens on is closed anyway."""
    if quota is None or quota.single is not None:
        return []
    opens = _open_days_of(entries, day_start)
    unset = [d for d in quota.unset_days() if DAY_NAMES.index(d) in opens]
    if not unset:
        return []
    return [Problem(path, find_line(lines, path),
                    f"no quota for {', '.join(unset)}: {_unlimited(unset)}", "warning")]


def _names_alike(policy: Policy, lines: Mapping[tuple[PathPart, ...], int]) -> list[Problem]:
    """Two entries a child names alike (labels or ids differing only in case or spaces):
    ``launch NAME`` cannot tell which is meant."""
    problems: list[Problem] = []
    seen: dict[str, tuple[int, str]] = {}
    for index, entry in enumerate(policy.entries):
        names = {" ".join(n.split()).casefold() for n in (entry.id, entry.title)}
        for name in sorted(names):
            first = seen.get(name)
            if first is not None and first[1] != entry.id:
                path: tuple[PathPart, ...] = ("entries", index, "label")
                problems.append(Problem(
                    path, find_line(lines, path),
                    f"{entry.id!r} and {first[1]!r} are both called {name!r} when case is "
                    "ignored, so a child typing that name cannot say which (give them names "
                    "that differ in more than case)", "warning"))
                break
            seen.setdefault(name, (index, entry.id))
    return problems


_SCHOOL_NIGHTS = frozenset({6, 0, 1, 2, 3})  # sun..thu: the next morning is a school day
_LONG_NIGHT_MINUTES = 12 * 60


def _clock(minutes: int) -> str:
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def _day_list(days: Iterable[int]) -> str:
    return ", ".join(DAY_NAMES[d] for d in sorted(days))


def _overnight_warnings(policy: Policy, lines: Mapping[tuple[PathPart, ...], int]) -> list[Problem]:
    """An end before the start runs past midnight: say so where that looks like a slip."""
    problems = []
    for index, entry in enumerate(policy.entries):
        for w_index, window in enumerate(entry.windows):
            if window.end >= window.start or window.end == 0:
                continue  # same-day, or "until midnight"
            # Unlikely: a window longer than half a day (on every day it runs: a
            # 23-hour Saturday is as much a slip as a Tuesday's), or a shorter one that
            # ends on a school morning (on those nights only).
            long = window.length_minutes > _LONG_NIGHT_MINUTES
            school = window.days & _SCHOOL_NIGHTS
            if not long and not school:
                continue  # a Friday or Saturday late night is plainly meant
            why = (f"on {_day_list(window.days)}" if long
                   else f"on school nights ({_day_list(school)})")
            path: tuple[PathPart, ...] = ("entries", index, "windows", w_index, "end")
            problems.append(Problem(path, find_line(lines, path), (
                f"end {_clock(window.end)} is before start {_clock(window.start)}, so this "
                f"window runs past midnight: {_clock(window.start)} to {_clock(window.end)} "
                f"the next day, {format_duration(window.length_minutes * 60)} long, {why} "
                "(write an end after the start if it should close the same day)"), "warning"))
    return problems


def _open_days(entry: Entry, day_start: int) -> set[int]:
    """Weekdays whose quota day some window of ``entry`` opens in (every day: no windows)."""
    if not entry.windows:
        return set(range(7))
    days: set[int] = set()
    for window in entry.windows:
        days |= window.days
        if window.end < window.start and window.end > day_start:
            days |= {(d + 1) % 7 for d in window.days}  # past midnight and past the day start
    return days


def _open_days_of(entries: list[Entry], day_start: int) -> set[int]:
    """Weekdays whose quota day a window of any of ``entries`` opens in."""
    days: set[int] = set()
    for entry in entries:
        days |= _open_days(entry, day_start)
    return days


def _members(policy: Policy, group: Group) -> list[Entry]:
    """A group's entries, each once, those the policy has."""
    return [e for e in (policy.entry(i) for i in dict.fromkeys(group.entries)) if e is not None]


def _running_while_paused(policy: Policy,
                          lines: Mapping[tuple[PathPart, ...], int]) -> list[Problem]:
    """Entries billed only while the child is there whose programs run on while paused:
    the child can pause the clock themselves (logind lets a session's owner set its
    lock and idle hints), so ``while_paused = "run"`` reopens what the freeze closes."""
    running: dict[tuple[PathPart, ...], list[str]] = {}
    moot: list[Problem] = []
    for index, entry in enumerate(policy.entries):
        if entry.while_paused and not policy.counts_active(entry):
            own: tuple[PathPart, ...] = ("entries", index, "while_paused")
            moot.append(Problem(own, find_line(lines, own), (
                f"{entry.id!r} counts running time, so it is never paused: its while_paused "
                "has no effect"), "warning"))
        if policy.counts_active(entry) and not policy.freezes(entry):
            path: tuple[PathPart, ...] = (("entries", index, "while_paused")
                                          if entry.while_paused else
                                          ("supervisor", "while_paused"))
            running.setdefault(path, []).append(repr(entry.id))
    return [Problem(path, find_line(lines, path), (
        f"the programs of {', '.join(ids)} run on while their clock is paused, and a child "
        "can pause it themselves (their own session's lock or idle hint, one D-Bus call): "
        'use "freeze", or count = "running" for entries that must keep running'), "warning")
        for path, ids in running.items()] + moot


def _quota_without_windows(policy: Policy,
                           lines: Mapping[tuple[PathPart, ...], int]) -> list[Problem]:
    """A quota set for days on which none of the entry's windows ever opens, or none of
    a group's entries' windows: one rule for both."""
    day_start = policy.supervisor.day_starts_at
    problems = []
    for index, entry in enumerate(policy.entries):
        problems += _unused_quota(("entries", index, "limits", "daily_quota"),
                                  entry.limits.daily_quota, [entry], day_start, lines)
    for index, group in enumerate(policy.groups):
        problems += _unused_quota(("groups", index, "daily_quota"), group.daily_quota,
                                  _members(policy, group), day_start, lines)
    return problems


def _unused_quota(base: tuple[PathPart, ...], quota: QuotaSchedule | None,
                  entries: list[Entry], day_start: int,
                  lines: Mapping[tuple[PathPart, ...], int]) -> list[Problem]:
    if quota is None or quota.single is not None or not entries:
        return []
    open_days = _open_days_of(entries, day_start)
    problems = []
    for key in ("weekdays", "weekends", *DAY_NAMES):
        value = getattr(quota, key)
        if not value:
            continue
        if key == "weekdays":
            decided = {d for d in WEEKDAYS if getattr(quota, DAY_NAMES[d]) is None}
        elif key == "weekends":
            decided = {d for d in WEEKENDS if getattr(quota, DAY_NAMES[d]) is None}
        else:
            decided = {DAY_NAMES.index(key)}
        if decided and open_days.isdisjoint(decided):
            path = (*base, key)
            ids = [repr(e.id) for e in entries]
            names = " or ".join([", ".join(ids[:-1]), ids[-1]] if len(ids) > 1 else ids)
            problems.append(Problem(path, find_line(lines, path), (
                f"{key} = {format_duration(value)} is never used: no window of "
                f"{names} opens on {_day_list(decided)} (add a window for those "
                "days, or drop this quota)"), "warning"))
    return problems


_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _placeholder_warnings(policy: Policy,
                          lines: Mapping[tuple[PathPart, ...], int]) -> list[Problem]:
    """A ``{word}`` in a warning's message other than ``{left}`` reaches the child as
    written ("1 minute left. {minutes} left")."""
    problems: list[Problem] = []
    lists: list[tuple[tuple[PathPart, ...], tuple[TimeWarning, ...]]] = [
        (("supervisor", "default_warnings"), policy.supervisor.default_warnings)]
    lists += [(("entries", i, "warnings"), e.warnings) for i, e in enumerate(policy.entries)
              if e.warnings is not None]
    for base, warnings in lists:
        for index, warning in enumerate(warnings):
            unknown = [p for p in _PLACEHOLDER.findall(warning.message) if p != "{left}"]
            if unknown:
                path = (*base, index, "message")
                problems.append(Problem(
                    path, find_line(lines, path),
                    f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a "
                    "placeholder: the child would read it as written (the one placeholder "
                    "is {left}, the time left)", "warning"))
    return problems


def _weekly_never_limits(base: tuple[PathPart, ...], weekly: int | None,
                         daily: QuotaSchedule | None,
                         lines: Mapping[tuple[PathPart, ...], int]) -> list[Problem]:
    """A weekly quota the seven daily quotas can never reach is probably a mistake; a
    daily quota over the weekly one can never be reached."""
    if weekly is None or daily is None:
        return []
    over = {day: q for day in range(7) if (q := daily.for_weekday(day)) is not None
            and q > weekly}
    if over:
        most = max(over.values())
        named = [DAY_NAMES[d] for d, q in over.items() if q == most]
        on = "" if daily.single is not None else f" (on {', '.join(named)})"
        path = (*base, "daily_quota")
        return [Problem(path, find_line(lines, path),
                        f"daily_quota {format_duration(most)}{on} is more than weekly_quota "
                        f"{format_duration(weekly)}, so no day gets more than "
                        f"{format_duration(weekly)}", "warning")]
    days = [daily.for_weekday(day) for day in range(7)]
    if None in days:
        return []
    week = sum(d for d in days if d is not None)
    if weekly < week:
        return []
    path = (*base, "weekly_quota")
    return [Problem(path, find_line(lines, path),
                    f"{format_duration(weekly)} is not less than the seven daily quotas together "
                    f"({format_duration(week)}), so it never limits", "warning")]
# Programs that run many others: an ``exe`` rule naming one would count (or stop)
# every script or program the child runs through it.
_INTERPRETERS = frozenset({"sh", "bash", "dash", "zsh", "fish", "env", "python", "python3",
                           "perl", "ruby", "node", "java", "wine", "wine64", "mono", "flatpak",
                           "bwrap", "steam"})


def _detect_warnings(policy: Policy, lines: Mapping[tuple[PathPart, ...], int]) -> list[Problem]:
    """``detect`` rules that match more than the parent may think, or that two entries share."""
    problems = []
    seen: dict[tuple[str, str], str] = {}
    for index, entry in enumerate(policy.entries):
        if entry.detect is None:
            continue
        for key in ("exe", "flatpak", "desktop"):
            for j, value in enumerate(getattr(entry.detect, key)):
                path: tuple[PathPart, ...] = ("entries", index, "detect", key, j)
                name = Path(value).name
                if key == "exe" and (name in _INTERPRETERS
                                     or name.rstrip("0123456789.") in _INTERPRETERS):
                    problems.append(Problem(path, find_line(lines, path), (
                        f"{value} runs other programs, so every program the child runs through "
                        f"it would count as {entry.id!r} (use cmdline to name this one)"),
                        "warning"))
                interpreter = script_interpreter(value) if key == "exe" else None
                if interpreter is not None:
                    problems.append(Problem(path, find_line(lines, path), (
                        f"{value} is a script run by {interpreter}, so the process's "
                        f"executable is {Path(interpreter).name}, never this file: this rule "
                        f"never matches (use cmdline to name the script, e.g. "
                        f"cmdline = \"{Path(value).name}\")"), "warning"))
                first = seen.setdefault((key, value), entry.id)
                if first != entry.id:
                    problems.append(Problem(path, find_line(lines, path), (
                        f"{value!r} also recognises entry {first!r}, which comes first and so "
                        f"takes the program (this entry never does)"), "warning"))
        pattern = entry.detect.cmdline
        if pattern is not None and literal_length(pattern) < FEW_LITERALS:
            path = ("entries", index, "detect", "cmdline")
            problems.append(Problem(path, find_line(lines, path), (
                f"{pattern!r} matches almost any command line (fewer than {FEW_LITERALS} "
                f"letters must appear), so nearly every program the child runs would count "
                f"as {entry.id!r} (name the program by its name or path)"), "warning"))
    return problems
