"""Pauses in words: why a session's clock stands still, and since when.

"paused since 15:42: the screen is locked". The cause is the engine's code
(``locked``, ``idle``, ``switched_away``); it stays in ``--json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from shepherd.words.times import at_moment, spoken_duration

CAUSE_WORDS = {
    "locked": "the screen is locked",
    "idle": "nobody is using the screen",
    "switched_away": "another account has the screen",
}


def cause_words(cause: str) -> str:
    return CAUSE_WORDS.get(cause, cause.replace("_", " "))


def pause_clause(pause: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    """A session's pause as status carries it: ``{"cause": ..., "since": ISO}``."""
    since = datetime.fromisoformat(str(pause["since"]))
    when = at_moment(since, now, zone, up=False)  # "at 15:42", "yesterday at 23:10"
    when = "since " + when.removeprefix("at ")
    return f"paused {when}: {cause_words(str(pause['cause']))}"


def unfrozen_clause(problem: str) -> str:
    """A session that could not be kept frozen (``freeze_failed``): it counts like running."""
    return f"all its time counts, paused or not: it could not be kept frozen ({problem})"


def resumed_clause(cause: str, paused_s: float) -> str:
    """"counted again after 20 minutes (the screen was locked)"."""
    was = cause_words(cause).replace(" is ", " was ").replace(" has ", " had ")
    return f"counted again after {spoken_duration(paused_s)} ({was})"


def flapping_sentence(flap: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    """A storm of screen-lock (or idle) changes, as status carries it (``counting.flapping``):
    the parent learns that a child (or another account) flapped, and what Shepherd did."""
    since = at_moment(datetime.fromisoformat(str(flap["since"])), now, zone, up=False)
    until = at_moment(datetime.fromisoformat(str(flap["until"])), now, zone, up=False)
    child = flap.get("child")
    who = f"{child}'s screen lock (or idle)" if child else "An account that is not a child's"
    what = "its screen lock (or idle) " if not child else ""
    storms = int(flap.get("storms", 1))
    seen = f"({int(flap.get('heard', 0)):,} changes seen)"
    if flap.get("going_on"):
        told = (f"{who} has been flapping {what}more than 200 times a second "
                f"since {since.removeprefix('at ')} {seen}")
    else:
        times = f", {storms} times" if storms > 1 else ""
        told = (f"{who} flapped {what}more than 200 times a second{times} between "
                f"{since.removeprefix('at ')} and {until.removeprefix('at ')} {seen}")
    if child:
        return told + ": Shepherd read it once a second meanwhile, a lock counted until seen."
    return told + ": Shepherd read the children's screens once a second meanwhile."


def counting_sentence(problem: str | None, count: str) -> str | None:
    """What status says when the screens cannot be seen; None when all is as the policy says."""
    if problem is None or count == "running":
        return None
    return (f"Shepherd cannot see whether the children are at the screen ({problem}), "
            "so all running time counts.")
