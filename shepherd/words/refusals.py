"""Refusals, entry states and warnings in words.

A refusal is one sentence naming the entry and every reason, each with when it
ends: "Minecraft can't start: the games budget for today is used up (back
tomorrow at 04:00), and it needs a rest until 10:01". Reasons come as the
engine's ``Reason`` objects or as their JSON (``{"code": ..., ...}``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from shepherd.detect.facts import LOADER_NAME, MEMFD
from shepherd.engine.events import Reason
from shepherd.words.plain import plain
from shepherd.words.times import at_moment, spoken_duration, until_moment

ReasonLike = Reason | Mapping[str, Any]

STATE_WORDS: Mapping[str, str] = {
    "available": "available",
    "running": "running",
    "busy": "busy",
    "cooldown": "resting",
    "quota_exhausted": "used up",
    "outside_window": "outside hours",
    "locked": "locked",
    "not_allowed": "not allowed",
    "unavailable": "unavailable",
    "not_installed": "not installed",
    "not_runnable": "can't run",
}


def not_installed_clause(program: str) -> str:
    """The one sentence for an entry whose program is missing, after its label or state:
    "can't start: its program 'x' is not installed here" (status, the TUI, explain)."""
    return f"can't start: its program {plain(program)!r} is not installed here"


def busy_program_note(program: str) -> str:
    """Said after "another program is running" when the entry's program would fail
    anyway (``program``: "its program 'x' is not installed here", or why the child may
    not run it): stopping the other program would not help (review-12-s13 L1)."""
    return f"Stopping it would not help: {plain(program)}."


def not_runnable_clause(why: str) -> str:
    """An entry whose program is here but the child may not run it, after its label or
    state: "can't start: '/x/y.sh' is not something nobody may run (only root may: mode
    700)" (``why``: the words of ``policy check``)."""
    return f"can't start: {plain(why)}"


def state_word(state: str) -> str:
    """An entry's state as a short word for a column ("resting", "used up")."""
    return STATE_WORDS.get(state, state.replace("_", " "))


# What outlasts "busy" (another program fills the child's sessions): shown instead of it.
_LASTING = {"quota_exhausted": "quota_exhausted", "group_quota_exhausted": "quota_exhausted",
            "outside_window": "outside_window", "cooldown": "cooldown"}


def lasting_state(state: str, reasons: Iterable[ReasonLike]) -> str:
    """The state worth showing: "busy" passes when the other program stops, so a
    reason that lasts beyond it (used up, outside hours, resting) is shown instead."""
    if state != "busy":
        return state
    for reason in reasons:
        lasting = _LASTING.get(str(_data(reason).get("code")))
        if lasting is not None:
            return lasting
    return state


def join_clauses(clauses: Iterable[str]) -> str:
    """ "a", "a, and b", "a, b, and c" (the comma keeps each clause's own brackets apart)."""
    items = [c for c in clauses if c]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def _data(reason: ReasonLike) -> Mapping[str, Any]:
    return reason.to_json() if isinstance(reason, Reason) else reason


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment if moment.tzinfo else None
    return None


def _back(data: Mapping[str, Any], key: str, now: datetime, zone: tzinfo) -> str:
    moment = _moment(data.get(key))
    return f" (back {at_moment(moment, now, zone)})" if moment else ""


def _unknown_entry(data: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    return f'there is no entry called "{data.get("entry", "")}"'


def _not_allowed(data: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    if data.get("to_you"):  # told to the child themselves
        return "it is not one of your entries"
    return f"it is not one of {data.get('user', 'this child')}'s entries"


def _locked(data: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    if data.get("to_you"):  # told to the child themselves
        return "you are locked by a parent"
    return f"{data.get('user', 'this child')} is locked by a parent"


def _already_running(data: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    if data.get("entry_running"):
        return "it is already running"
    most = int(data.get("max_sessions") or 1)
    if most == 1:
        return "another program is running (only one may run at a time)"
    return f"{most} programs are running (the most allowed at once)"


def _outside_window(data: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    opening = _moment(data.get("next_opening"))
    if opening is None:
        return "it is outside its allowed hours, and none are coming up"
    return f"it is outside its allowed hours (opens {at_moment(opening, now, zone)})"


def _period(data: Mapping[str, Any]) -> str:
    return "this week" if data.get("period") == "week" else "today"


def _quota_exhausted(data: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    back = _back(data, "resets_at", now, zone)
    period = _period(data)
    if not data.get("quota_s"):
        return f"it has no time allowed {period}{back}" if back else "it has no time allowed"
    return f"its time for {period} is used up{back}"


def _group_quota_exhausted(data: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    back = _back(data, "resets_at", now, zone)
    group = data.get("group", "group")
    period = _period(data)
    if not data.get("quota_s"):
        return f"the {group} budget allows no time {period}{back}" if back else (
            f"the {group} budget allows no time")
    return f"the {group} budget for {period} is used up{back}"


def _cooldown(data: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    until = _moment(data.get("until"))
    return f"it needs a rest {until_moment(until, now, zone)}" if until else "it needs a rest"


def _too_many_starts(data: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    who = "you have" if data.get("to_you") else f"{data.get('user', 'this child')} has"
    until = _moment(data.get("until"))
    wait = (f" (try again in {spoken_duration(max(1.0, (until - now).total_seconds()))})"
            if until else "")
    # (started or tried: a start whose program then failed, or that the store's decision
    # refused, wrote to the store too, so it counts: review-14-s32 L2, the words said
    # "started" of those)
    return (f"{who} started or tried to start programs {data.get('most')} times in the last "
            f"minute, the most Shepherd allows{wait}")


def program_name(exe: str) -> str:
    """A program started outside Shepherd as the child and the parent read it: its file's
    name; one run from memory by the name it was given, said so ("homework (run from
    memory)", not "memfd:homework"); "" for the dynamic loader itself (it runs a program,
    it is not one the child would name)."""
    if exe.startswith(MEMFD):
        name = plain(exe.removeprefix(MEMFD).removesuffix(" (deleted)"))
        return f"{name or 'a program'} (run from memory)"
    name = plain(os.path.basename(exe))
    return "" if LOADER_NAME.fullmatch(name) else name


def _program_unknown(data: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    # Said of what was started as the child named it (review-14-s36 L2: "Shepherd could
    # not tell which program shorx was to run" named the program it said it could not tell).
    if data.get("long_line"):
        return ("its command line is longer than Shepherd reads, so Shepherd cannot tell "
                "what it is and it may not run")
    return ("it was started through the system's loader in a way Shepherd could not see "
            "into, so it may not run: start the program itself")


def _store_unavailable(data: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    return "Shepherd cannot record time right now, so nothing may start"


_CLAUSES: Mapping[str, Callable[[Mapping[str, Any], datetime, tzinfo], str]] = {
    "unknown_entry": _unknown_entry,
    "not_allowed_for_user": _not_allowed,
    "locked": _locked,
    "already_running": _already_running,
    "outside_window": _outside_window,
    "quota_exhausted": _quota_exhausted,
    "group_quota_exhausted": _group_quota_exhausted,
    "cooldown": _cooldown,
    "too_many_starts": _too_many_starts,
    "program_unknown": _program_unknown,
    "store_unavailable": _store_unavailable,
}


def reason_clause(reason: ReasonLike, now: datetime, zone: tzinfo) -> str:
    """One reason as a clause about the entry: "it needs a rest until 10:01"."""
    data = _data(reason)
    code = str(data.get("code", ""))
    clause = _CLAUSES.get(code)
    return clause(data, now, zone) if clause else f"it is refused ({code or 'no reason given'})"


def reasons_clause(reasons: Iterable[ReasonLike], now: datetime, zone: tzinfo) -> str:
    """Every reason, joined: "its time for today is used up (...), and it needs a rest ..."."""
    return join_clauses(reason_clause(r, now, zone) for r in reasons)


def _named(entry_id: str, label: str) -> str:
    """An entry as a child knows it, with the id when that is spelt otherwise:
    "Rest Game (rest)", "minecraft"."""
    return label if label.casefold() == entry_id.casefold() else f"{label} ({entry_id})"


def refusal_sentence(label: str, reasons: Iterable[ReasonLike], now: datetime,
                     zone: tzinfo, you: str | None = None) -> str:
    """The whole refusal: "Minecraft can't start: <every reason>"; told to the child
    ``you`` themselves, what is about them is said to them ("you are locked").

    An unknown entry is said differently, with the entries there are (the
    ``known`` ids the engine puts in the reason), so a typo can be put right.
    """
    items = [_data(r) for r in reasons]
    if you is not None:
        items = [{**r, "to_you": True} if r.get("user") == you else r for r in items]
    unknown = next((r for r in items if r.get("code") == "unknown_entry"), None)
    if unknown is not None:
        ids = [str(k) for k in unknown.get("known") or ()]
        labels = [str(k) for k in unknown.get("labels") or ()]
        known = [_named(i, labels[n] if n < len(labels) else i) for n, i in enumerate(ids)]
        sentence = f'There is no entry called "{unknown.get("entry", label)}"'
        if not known:
            return sentence + ", and none are set up for this child."
        return (sentence + "; the entries are "
                + join_clauses(known).replace(", and ", " and ") + ".")
    if not items:
        return f"{label} can start"
    return f"{label} can't start: {reasons_clause(items, now, zone)}"


# -- warnings ------------------------------------------------------------------

_NUMBER = r"(?:\d+|a|an|one|two|three|four|five|ten|fifteen|twenty|thirty)"
_UNIT = r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?)"
# One part of a stated amount: "half an hour", "a quarter of an hour", "an hour and a
# half", "5 minutes", "5 more minutes", "1h30m" (the longer readings first: "half an
# hour" is one amount, not "half" and "an hour").
_PART = (r"(?:half\s+an?\s+hour|(?:a|one|three)\s+quarters?\s+of\s+an\s+hour"
         rf"|{_NUMBER}\s+{_UNIT}\s+and\s+a\s+half|{_NUMBER}\s+(?:more\s+)?{_UNIT}"
         r"|\d+\s*[hms](?:\s*\d+\s*[ms])*)")
# The whole amount a parent wrote ("2 minutes and 30 seconds"): it is all replaced by
# the time left, never a part of it (review-12-s13 M1: "Half 30 minutes left").
_STATED_TIME = re.compile(rf"\b{_PART}(?:\s*(?:,\s*and|,|and)\s*{_PART})*\b", re.IGNORECASE)


def warning_text(message: str, remaining_s: float) -> str:
    """A warning as the child reads it, always with the true time left.

    ``{left}`` in the parent's message is replaced by the time left; a message
    that states a time ("5 minutes left") has that time replaced by the true one
    (a launch with one minute left fires its "5 minutes" warning at once); any
    other message follows the time left ("2 minutes left. Save your world!").
    """
    left = spoken_duration(remaining_s)
    text = message.strip()
    if "{left}" in text:
        return text.replace("{left}", left)
    if _STATED_TIME.search(text):
        # "5 more minutes" reads "1 minute more": the time left, and the parent's "more"
        return _STATED_TIME.sub(
            lambda m: f"{left} more" if re.search(r"\bmore\b", m.group(), re.IGNORECASE)
            else left, text, count=1)
    if not text:
        return f"{left} left"
    return f"{left} left. {text}"
