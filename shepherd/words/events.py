"""Audit events in words: one line each, for `shepherd audit` and the TUI alike.

"alex could not start Minecraft: its time for today is used up (back tomorrow at
04:00)". Codes stay in ``--json``; here every moment is a local time and every
amount of time a duration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from shepherd.words.plain import one_line
from shepherd.words.presence import cause_words, resumed_clause
from shepherd.words.refusals import program_name, reasons_clause, warning_text
from shepherd.words.times import format_duration, until_moment

__all__ = ["end_reason", "event_summary", "warning_words"]


def duration(seconds: float | None) -> str:
    """``1h30m``; ``None`` is no limit."""
    if seconds is None:
        return "no limit"
    return format_duration(max(seconds, 0))


def _moment(when: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(when))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _hour_minute(when: Any, zone: tzinfo) -> str:
    try:
        return datetime.fromisoformat(str(when)).astimezone(zone).strftime("%H:%M")
    except ValueError:
        return str(when)


# Signals a program gets from its own fault, not from someone: "it crashed".
CRASH_SIGNALS = frozenset({"SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT", "SIGSYS",
                           "SIGTRAP"})


def end_reason(code: str, signal: object = None) -> str:
    """Why a session ended, in words; ``signal``: for ``killed``, the signal's name (a
    signal its daemon did not send ended the program: another program or account, the
    child's own ``kill``, the kernel, a crash)."""
    if code == "killed":
        if isinstance(signal, str) and signal in CRASH_SIGNALS:
            return f"it crashed ({signal})"
        shown = signal if isinstance(signal, str) and signal else "a signal"
        return f"it was killed ({shown}), not by Shepherd"
    return {
        "exited": "it was closed", "stopped_by_child": "the child stopped it",
        "stopped_by_admin": "a parent stopped it", "expired": "its time was up",
        "window_closed": "its hours ended", "locked": "the child was locked",
        "daemon_shutdown": "Shepherd stopped", "recovered_after_crash": "Shepherd restarted",
        "launch_failed": "it could not start",
        "store_unreadable": "Shepherd stopped it, unable to read its records after a restart",
    }.get(code, code)


def warning_words(data: Mapping[str, Any]) -> str:
    """A warning as the child was told it: with the true time left."""
    return str(data.get("text") or warning_text(str(data.get("message", "")),
                                                       float(data.get("remaining_s") or 0)))


def event_summary(event: Mapping[str, Any], zone: tzinfo,
                  quote: Callable[[str], str] = str,
                  labels: Mapping[str, str] | None = None) -> str:
    """One line for an audit row or a live event, in words and ``zone``'s local times;
    ``quote`` guards a child's own words where they could be read as markup (the TUI);
    ``labels`` names entries as the parent sees them (their ids otherwise)."""
    kind = str(event.get("type", "?"))
    data = event.get("data") if isinstance(event.get("data"), dict) else event
    assert isinstance(data, Mapping)
    user = event.get("user") or data.get("user") or ""
    names = labels or {}
    entry = event.get("entry") or data.get("entry") or ""
    entry = names.get(str(entry), entry)
    seconds = data.get("seconds")
    if kind == "session_started":
        if data.get("origin") == "outside":
            return f"{user} started {entry} outside Shepherd: counted as a session"
        return f"{user} started {entry}"
    if kind == "session_ended":
        charged = data.get("charged_s")
        spent = f", {duration(charged)} counted" if charged is not None else ""
        why = end_reason(str(data.get("reason")), data.get("signal"))
        return f"{user}'s {entry} ended: {why}{spent}"
    if kind == "warning_issued":
        about = f" about {entry}" if entry else ""
        return f"{user} warned{about}: {warning_words(data)}"
    if kind == "launch_denied":
        # Said as at the refusal's own moment (an audit row read later still says "try
        # again in 40 seconds", "back tomorrow": review-14-s32 L1); a live event: now.
        said_at = _moment(event.get("ts")) or datetime.now(zone)
        reasons = reasons_clause(data.get("reasons", []), said_at, zone)
        unknown = [r for r in data.get("reasons", []) or []
                   if isinstance(r, Mapping) and r.get("code") == "program_unknown"]
        if unknown:  # (its row holds the first entry it may have been: it was none of them)
            # Named as what was started (review-14-s36 L1: a build and a game read alike).
            name = program_name(str(unknown[0].get("program") or data.get("exe") or ""))
            entry = (f"{name or 'a program'} with a command line too long to read"
                     if unknown[0].get("long_line")
                     else f"{name or 'a program'} through the system's loader")
        repeated = data.get("repeated")
        if isinstance(repeated, int) and not isinstance(repeated, bool):
            # Identical refusals after an audited one, counted (review-9-s12 M1).
            window = data.get("window_s")
            minute = ("the minute after" if window in (None, 60) else
                      f"the {duration(window)} after" if isinstance(window, int | float)
                      else "the time after")
            times = "time" if repeated == 1 else "times"
            if data.get("origin") == "outside":  # each one stopped (review-14-s17 M1)
                each = "it was stopped" if repeated == 1 else "each was stopped"
                return (f"{user} started {entry} outside Shepherd {repeated} more {times} "
                        f"in {minute}, and {each}: {reasons}")
            return (f"{user} tried to start {entry} {repeated} more {times} in {minute} "
                    f"(refused: {reasons})")
        if data.get("origin") == "outside":
            return f"{user} started {entry} outside Shepherd, and it was stopped: {reasons}"
        return f"{user} could not start {entry}: {reasons}"
    if kind == "time_granted":
        target = names.get(str(data.get("target")), data.get("target", entry))
        group = data.get("kind") == "group"  # as the confirmation said it: "alex's games budget"
        total = data.get("lasting_s")  # what lasts the day, time given until a moment aside
        total = data.get("allowance_s") if total is None else total
        if data.get("mode") == "set" and total is not None:
            whose = f"{user}'s {target} budget" if group else f"{user}'s {target}"
            asked = data.get("asked_s")
            if (data.get("held_at_used") and isinstance(asked, int | float)
                    and not isinstance(asked, bool) and asked < total):
                # what the parent typed, and why the day holds more (review-15-s16 P6)
                return (f"{whose} for today was set to {duration(asked)} (held at the "
                        f"{duration(total)} already used)")
            return f"{whose} for today was set to {duration(total)}"
        if data.get("mode") == "take":  # with what came out of time given until a moment
            # or for the week (``timed_taken_s``), review 12-s9 M3/M4; a week's take-back
            # gives the day back what a set of it had left out (not taken: M2)
            out = int(data.get("timed_taken_s") or 0)
            taken = out + (0 if data.get("week") or not isinstance(seconds, int | float)
                           else max(-int(seconds), 0))
            if data.get("week"):
                whose = f"{user} for the {target} budget" if group else f"{user} for {target}"
                return (f"{duration(taken)} was taken back from the time given to {whose} "
                        "this week" if taken else
                        f"nothing was taken back from the time given to {whose} this week")
            if not taken:
                return (f"nothing was taken back from {user}'s {target} budget" if group
                        else f"nothing of {target} was taken back from {user}")
            if group:
                return f"{duration(taken)} was taken back from {user}'s {target} budget"
            return f"{duration(taken)} of {target} was taken back from {user}"
        if isinstance(seconds, int | float) and seconds < 0:
            if group:
                return f"{duration(-seconds)} was taken back from {user}'s {target} budget"
            return f"{duration(-seconds)} of {target} was taken back from {user}"
        lasts = ""
        if data.get("week"):
            lasts = " for the week"
        elif data.get("expires_at") and not data.get("with_day"):
            lasts = f" until {_hour_minute(data['expires_at'], zone)}"
            given, ends = _moment(event.get("ts")), _moment(data["expires_at"])
            if given is not None and ends is not None:  # "until tomorrow at 03:59"
                lasts = " " + until_moment(ends, given, zone, up=False)
        where = f"in the {target} budget" if group else f"of {target}"
        return f"{user} got {duration(seconds)} more {where}{lasts}"
    if kind == "grant_expired":
        return str(data.get("text") or f"{user}'s extra time for {entry} has run out")
    if kind == "session_paused":
        return f"{user}'s {entry} paused: {cause_words(str(data.get('cause')))}"
    if kind == "session_resumed":
        return (f"{user}'s {entry} "
                f"{resumed_clause(str(data.get('cause')), data.get('paused_s') or 0)}")
    if kind == "freeze_failed":
        return (f"{user}'s {entry} could not be kept frozen while paused "
                f"({data.get('problem')}): all its running time counts")
    if kind == "presence_unavailable":
        return (f"Shepherd cannot see whether the children are at the screen "
                f"({data.get('problem')}): all running time counts")
    if kind == "presence_available":
        return ("Shepherd can see again whether the children are at the screen: only the "
                "time they are there counts")
    if kind == "session_adopted":
        return (f"{user}'s {entry} (session {data.get('session_id')}) kept running while "
                "Shepherd restarted: it is watched and counted again")
    if kind == "session_extended":
        if entry:
            return (f"{user}'s {entry} (session {data.get('session_id')}) extended by "
                    f"{duration(seconds)}")
        return f"session {data.get('session_id')} extended by {duration(seconds)}"
    if kind == "time_requested":
        # The child's own words: shown as written, never read as markup.
        # On one line and cut: a row never holds the note's line breaks (review 11 s7 D1).
        note = f": “{quote(one_line(str(data['note']), 80))}”" if data.get("note") else ""
        return f"{user} asks for {duration(seconds)} more of {entry}{note}"
    if kind == "request_answered":
        state = data.get("state") or ("approved" if data.get("approved") else "declined")
        return f"{user}'s request for {entry} was {state}"
    if kind == "cooldown_cleared":
        return f"{user}'s rest after {entry} was cleared"
    if kind in ("user_locked", "user_unlocked"):
        return f"{user} was {'locked' if kind == 'user_locked' else 'unlocked'}"
    if kind == "policy_rejected":
        return f"a new policy was rejected ({len(data.get('errors', []))} errors)"
    if kind == "policy_loaded":
        return "the policy was loaded"
    if kind == "clock_jump":
        if data.get("restored"):
            return "the system clock was put back; it agrees with Shepherd's time again"
        if data.get("accepted_by"):
            return f"{data['accepted_by']} accepted the system clock"
        if data.get("followed"):
            return "the system clock jumped; Shepherd followed it (network-synchronised)"
        return "the system clock jumped; Shepherd keeps its own time until a parent accepts it"
    return kind.replace("_", " ")
