"""Which day and which moment a parent means: ``sat``, ``tomorrow``, ``2026-11-28``,
``15:30``. Shared by the command line and the daemon's ``policy.explain``."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from shepherd.engine import QuotaCalendar
from shepherd.policy import DAY_NAMES


class ExplainError(ValueError):
    """A question about the day that has no answer (an unknown child, a time outside it)."""

_LONG_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_day(text: str | None, today: date) -> date:
    """``2026-11-28``, ``today``, ``tomorrow``, or a weekday (``sat``, ``saturday``: the
    next one after today; on a Saturday ``sat`` is next week's, ``today`` is today's)."""
    if text is None or text.lower() == "today":
        return today
    word = text.lower()
    if word == "tomorrow":
        return today + timedelta(days=1)
    if word in DAY_NAMES or word in _LONG_DAYS:
        weekday = DAY_NAMES.index(word[:3])
        return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)
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


def until_form(text: str | None) -> datetime | int | bool | None:
    """What a grant's ``until`` says, before any day is known: None (``today``), True
    (``week``), a moment (ISO 8601 with its offset) or minutes after midnight (``HH:MM``);
    anything else is an ``ExplainError`` whose words name the text as it was given."""
    if text is None or text.lower() == "today":
        return None
    if text.lower() in ("week", "this week"):
        return True
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is not None:
            return moment
    except ValueError:
        pass
    try:
        return parse_clock(text)
    except ExplainError:
        raise ExplainError(f"{text!r} is not a time of day (expected HH:MM, as 17:00), "
                           "today or week") from None


def grant_until(text: str | None, calendar: QuotaCalendar,
                now: datetime) -> tuple[datetime | None, bool]:
    """How long time added lasts (``shepherd grant --until``): ``HH:MM`` (the next such
    moment of today's quota day: 01:00 on a day that starts at 04:00 is after midnight,
    and 04:00 is when it ends, the same as ``today``),
    an ISO 8601 moment with its offset, ``today`` (None: with the day) or ``week``
    (True: on any day until the week's end)."""
    form = until_form(text)
    if form is None or form is True:
        return None, form is True
    if isinstance(form, datetime):
        return form, False
    minutes = form
    day = calendar.quota_day(now)
    moment = calendar.at(day, minutes, after=now)
    if moment <= calendar.day_start(day):  # the day's start is its end: 04:00 is tonight's
        moment = calendar.at(day + timedelta(days=1), minutes)
    if moment >= calendar.day_end(day):
        return None, False  # until the day ends: the same as today
    if moment <= now:  # passed in this day: the parent means the nearer of it and the next
        # one, which is after the day's end ("05:00" at 03:50 of a day ending at 04:00:
        # review-15-s15 N7); the engine says which and why it refuses it
        later = calendar.at(day + timedelta(days=1), minutes, after=now)
        if later - now < now - moment:
            moment = later
    return moment, False
