"""Which day and which moment a parent means: ``sat``, ``tomorrow``, ``2026-11-28``,
``15:30``. Shared by the command line and the daemon's ``policy.explain``."""

from __future__ import annotations

from datetime import date, timedelta

from shepherd.explain.day import ExplainError
from shepherd.policy import DAY_NAMES

_LONG_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_day(text: str | None, today: date) -> date:
    """``2026-11-28``, ``today``, ``tomorrow``, or a weekday (``sat``, ``saturday``: the
    next one, today included)."""
    if text is None or text.lower() == "today":
        return today
    word = text.lower()
    if word == "tomorrow":
        return today + timedelta(days=1)
    if word in DAY_NAMES or word in _LONG_DAYS:
        weekday = DAY_NAMES.index(word[:3])
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ExplainError(f"{text!r} is not a day (expected 2026-11-28, today, tomorrow, "
                           "or a weekday such as sat)") from None


def parse_clock(text: str) -> int:
    """``HH:MM`` as minutes after midnight."""
    hours, sep, minutes = text.partition(":")
    if (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2
            and int(hours) < 24 and int(minutes) < 60):
        return int(hours) * 60 + int(minutes)
    raise ExplainError(f"{text!r} is not a time of day (expected HH:MM, as 15:30)")
