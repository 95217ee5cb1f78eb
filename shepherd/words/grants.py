"""A grant in words: "alex has 15 minutes more of Games today (1h45m in all today)"."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from shepherd.words.refusals import reasons_clause
from shepherd.words.times import format_duration, spoken_duration, until_moment

__all__ = ["expiry_sentence", "grant_sentence"]


def grant_sentence(result: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    """What a grant did, for today, and what still limits the target: from the
    ``grant`` answer (or a ``time_granted`` event with its label)."""
    user, target = result["user"], result.get("label") or result["target"]
    seconds = int(result["seconds"])
    mode = result.get("mode", "add")
    allowance = result.get("allowance_s")
    expires = result.get("expires_at")
    lasts = "today"
    if expires:
        moment = datetime.fromisoformat(expires) if isinstance(expires, str) else expires
        lasts = until_moment(moment, now, zone)
        if result.get("week"):
            lasts = f"this week, on any day {lasts}"
    if mode == "add":
        sentence = f"{user} has {spoken_duration(seconds)} more of {target} {lasts}"
    elif mode == "take":
        sentence = f"{spoken_duration(seconds)} of {target} taken back from {user} for today"
    else:
        sentence = f"{user}'s allowance of {target} for today is set"
    if allowance is not None:
        sentence += f" ({format_duration(allowance)} in all today"
        if expires and not result.get("week"):
            sentence += " until then"
        used = result.get("used_s")
        if result.get("held_at_used") and used is not None:
            sentence += f": {format_duration(used)} is already used, and time used is never "
            sentence += "taken back"
        sentence += ")"
    elif result.get("week_allowance_s") is not None:
        sentence += f" ({format_duration(result['week_allowance_s'])} in all this week)"
    limits = result.get("limited_by") or ()
    if result.get("unlimited") and not limits:
        sentence += f", but {target} has no daily limit, so this changes nothing"
    if limits:
        why = reasons_clause(limits, now, zone)
        sentence += f". But {target} still can't be used today: {why}"
    return sentence + "."


def expiry_sentence(data: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    """A timed grant that stopped counting, from a ``grant_expired`` event: "alex's extra
    time for Minecraft (30 minutes, given until 17:00) has run out; 10 minutes of it
    went unused"."""
    user, target = data.get("user", "?"), data.get("label") or data.get("target", "?")
    extra = spoken_duration(float(data.get("seconds") or 0))
    if data.get("week"):
        sentence = f"{user}'s extra time for {target} this week ({extra}) has run out with the week"
    else:
        expires = data.get("expires_at")
        moment = datetime.fromisoformat(expires) if isinstance(expires, str) else now
        given = until_moment(moment, now, zone)
        sentence = f"{user}'s extra time for {target} ({extra}, given {given}) has run out"
    unused = data.get("unused_s")
    if isinstance(unused, int | float):
        sentence += (f"; {spoken_duration(unused)} of it went unused" if unused >= 1
                     else "; all of it was used")
    return sentence + "."
