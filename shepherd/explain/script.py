"""The small language of ``shepherd policy simulate``: one action a line, in order.

    # comments and blank lines are skipped
    15:30 launch minecraft
    16:00 stop                    (the running session; or: stop minecraft)
    16:10 launch celeste
    16:20 grant games +15m        (or: grant +15m games; -D takes back, =D sets;
                                   until 17:00 or --until 17:00, as the command line)
    16:25 extend celeste 10m      (the running session, once)
    16:40 check minecraft         (what the engine says now; or: check, for every entry)
    17:00 cooldown clear minecraft
    17:05 lock / 17:10 unlock

Times are the quota day's local times: one before ``day_starts_at`` is after
midnight, at the end of the day. Every problem of a script is reported at once,
each with its line.
"""

from __future__ import annotations

import re
from argparse import ArgumentTypeError
from dataclasses import dataclass

from shepherd.cli.common import extension_argument, grant_argument
from shepherd.engine.grants import GrantMode

VERBS = ("launch", "stop", "grant", "extend", "check", "cooldown clear", "lock", "unlock")
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_SIGNS: dict[str, GrantMode] = {"+": "add", "-": "take", "=": "set"}


@dataclass(frozen=True)
class Action:
    line: int
    minutes: int  # local time of day, minutes after midnight
    verb: str
    target: str | None = None  # an entry, or a grant's entry or group
    seconds: int = 0
    mode: GrantMode = "add"
    text: str = ""  # the line as written
    until: str | None = None  # a grant's end: HH:MM, today or week
    change: str = ""  # a grant's change as typed ("+15m", "=25h"), said back as typed


class ScriptError(ValueError):
    """Every problem of a script, one a line: "line 3: ..."."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _grant(words: list[str]) -> tuple[str, GrantMode, int, str]:
    """``games +15m`` or ``+15m games``: the target, the mode, the seconds, the change
    as typed."""
    if len(words) != 2:
        raise ValueError("expected a target and a change, as in: grant games +15m")
    first, second = words
    change, target = (first, second) if first[:1] in _SIGNS or first[:1].isdigit() else (
        second, first)
    try:  # the command line's own reading: what it refuses, refused in its words
        mode, seconds = grant_argument(change)
    except ArgumentTypeError as exc:
        raise ValueError(str(exc)) from None
    return target, mode, seconds, change


def _action(number: int, minutes: int, words: list[str], text: str) -> Action:
    verb, rest = words[0], words[1:]
    if (verb == "clear" and rest[:1] == ["cooldown"]) or (verb == "cooldown" and rest[:1] == [
            "clear"]):
        verb, rest = "cooldown clear", rest[1:]
    if verb in ("launch", "cooldown clear"):
        if len(rest) != 1:
            raise ValueError(f"expected one entry, as in: {verb} minecraft")
        return Action(number, minutes, verb, rest[0], text=text)
    if verb in ("stop", "check"):
        if len(rest) > 1:
            raise ValueError(f"expected at most one entry, as in: {verb} minecraft")
        return Action(number, minutes, verb, rest[0] if rest else None, text=text)
    if verb in ("lock", "unlock"):
        if rest:
            raise ValueError(f"{verb} takes nothing more (it acts on the child simulated)")
        return Action(number, minutes, verb, text=text)
    if verb == "grant":
        until = None
        # The command line's "--until 11:00" (or "--until=11:00") is the script's
        # "until 11:00": a grant written as it is typed for `shepherd grant` is taken.
        rest = [w for word in rest for w in (
            ["until", word[len("--until="):]] if word.startswith("--until=")
            else ["until"] if word == "--until" else [word])]
        if "until" in rest:
            at = rest.index("until")
            rest, until = rest[:at], " ".join(rest[at + 1:])
            if not (until in ("today", "week", "this week") or _TIME.fullmatch(until)):
                raise ValueError(f"until {until!r}: expected HH:MM, today or week, as in: "
                                 "grant games +15m until 17:00")
        target, mode, seconds, change = _grant(rest)
        return Action(number, minutes, verb, target, seconds, mode, text, until, change)
    if verb == "extend":
        if not 1 <= len(rest) <= 2:
            raise ValueError("expected a duration, as in: extend 10m (or: extend minecraft 10m)")
        try:
            seconds = extension_argument(rest[-1])
        except ArgumentTypeError as exc:
            raise ValueError(str(exc)) from None
        return Action(number, minutes, verb, rest[0] if len(rest) == 2 else None,
                      seconds, text=text)
    raise ValueError(f"unknown action {verb!r} (expected one of: {', '.join(VERBS)})")


def parse_script(text: str, day_starts_at: int) -> list[Action]:
    """The actions of a script, in order through the quota day; ``ScriptError`` lists
    every problem."""
    actions: list[Action] = []
    problems: list[str] = []
    previous: tuple[int, str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        match = _TIME.fullmatch(words[0])
        if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            problems.append(f"line {number}: {words[0]!r} is not a time of day (expected "
                            "HH:MM first, as in: 15:30 launch minecraft)")
            continue
        minutes = int(match.group(1)) * 60 + int(match.group(2))
        if len(words) < 2:
            problems.append(f"line {number}: nothing to do at {words[0]} (expected an action "
                            f"after the time: {', '.join(VERBS)})")
            continue
        order = (minutes - day_starts_at) % (24 * 60)  # after midnight comes last
        if previous is not None and order < previous[0]:
            problems.append(f"line {number}: {words[0]} comes before {previous[1]} above "
                            "(actions go in order through the day)")
        try:
            actions.append(_action(number, minutes, [w.lower() for w in words[1:]], line))
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
        previous = (order, words[0])
    if problems:
        raise ScriptError(problems)
    return actions
