"""Durations and moments in words: "1h30m", "15 minutes", "tomorrow at 04:00".

Moments are shown in the local zone, to the minute, relative to ``now``: the
same day is "at 15:30", the next "tomorrow at 04:00", the coming week "on
Saturday at 09:00", further "on 30 November at 09:00". A moment when something
becomes possible again is rounded up to the minute (a child told "10:01" who
tries at 10:01 is not refused); a moment something ends is rounded down.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

from shepherd.policy.durations import format_duration

__all__ = ["at_moment", "clock_time", "format_duration", "spoken_at_most", "spoken_duration",
           "until_moment"]

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_PRECISE_BELOW_S = 300  # below five minutes the seconds matter; above, minutes are enough
_SLACK_S = 10  # above, a minute this close is said as reached (never more over than this)


def counted(amount: int, noun: str) -> str:
    """ "1 warning", "2 warnings" (nouns that take an s)."""
    return f"{amount} {noun}" if amount == 1 else f"{amount} {noun}s"


_plural = counted


def and_list(parts: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def spoken_duration(seconds: float, *, exact: bool = False) -> str:
    """Seconds as a person says them: ``900`` -> "15 minutes", ``5400`` -> "1 hour 30 minutes".

    Below five minutes the seconds are kept ("1 minute 30 seconds"); above, the
    time is rounded down to the minute, on the safe side for the child (5m44s left
    is "5 minutes", not "6 minutes"), unless it is within a few seconds of the next
    (a 1-hour deadline read a moment late is still "1 hour"). ``exact`` keeps the
    seconds of any amount (what was done, as the audit records it: "5 minutes 13
    seconds taken back").
    """
    total = round(seconds)
    if total <= 0:
        return "0 seconds"
    if total >= _PRECISE_BELOW_S and not exact:
        total = (total + _SLACK_S) // 60 * 60
    parts = []
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1)):
        amount, total = divmod(total, size)
        if amount:
            parts.append(_plural(amount, unit))
    return " ".join(parts)


def spoken_at_most(seconds: float) -> str:
    """``spoken_duration`` never said as more than it is: to the second where the minute
    would be said as reached ("29 minutes 57 seconds" of what can be used of a half
    hour, not "30 minutes": review-15-s15 N6)."""
    up = round(seconds) >= _PRECISE_BELOW_S and round(seconds) % 60 >= 60 - _SLACK_S
    return spoken_duration(seconds, exact=up)


def _to_minute(moment: datetime, zone: tzinfo, up: bool) -> datetime:
    local = moment.astimezone(zone)
    whole = local.replace(second=0, microsecond=0)
    if up and whole != local:
        whole = (whole + timedelta(minutes=1)).astimezone(zone)
    return whole


def clock_time(moment: datetime, zone: tzinfo, *, up: bool = False) -> str:
    """``HH:MM`` in the local zone (rounded up to the minute when ``up``); in the hour
    the clocks go back, which comes twice, it says which time it is ("02:30 (after the
    clocks go back)": review-15-s24 F5, "02:30–02:30 in use for 1 hour")."""
    local = _to_minute(moment, zone, up)
    which = _which_time(local)
    return f"{local:%H:%M} ({which})" if which else f"{local:%H:%M}"


def _which_time(local: datetime) -> str:
    """In the hour that comes twice, which time it is; else nothing."""
    if local.replace(fold=1 - local.fold).utcoffset() == local.utcoffset():
        return ""
    return f"{'after' if local.fold else 'before'} the clocks go back"


def _at_clock(local: datetime) -> str:
    """``HH:MM`` after "at" or "until", and which time it is in the hour that comes
    twice, without brackets (it often stands in some already)."""
    which = _which_time(local)
    return f"{local:%H:%M} {which}" if which else f"{local:%H:%M}"


def _day_words(day: date, today: date) -> tuple[str, str]:
    """How to name ``day`` seen from ``today``: (after "at"-style, after "until"-style)."""
    offset = (day - today).days
    if offset == 0:
        return "", ""
    if offset == 1:
        return "tomorrow", "tomorrow"
    if offset == -1:
        return "yesterday", "yesterday"
    if -6 <= offset <= 6:
        name = _WEEKDAYS[day.weekday()]
        return f"on {name}", name
    named = f"{day.day} {_MONTHS[day.month - 1]}"
    if day.year != today.year:
        named += f" {day.year}"
    return f"on {named}", named


def at_moment(moment: datetime, now: datetime, zone: tzinfo, *, up: bool = True) -> str:
    """"at 15:30", "tomorrow at 04:00", "on Saturday at 09:00", "on 30 November at 09:00"."""
    local = _to_minute(moment, zone, up)
    day, _ = _day_words(local.date(), now.astimezone(zone).date())
    said = _at_clock(local)
    return f"{day} at {said}" if day else f"at {said}"


def until_moment(moment: datetime, now: datetime, zone: tzinfo, *, up: bool = True) -> str:
    """"until 15:30", "until tomorrow at 04:00", "until Saturday at 09:00"."""
    local = _to_minute(moment, zone, up)
    _, day = _day_words(local.date(), now.astimezone(zone).date())
    said = _at_clock(local)
    return f"until {day} at {said}" if day else f"until {said}"


def boundary_sentence(day_starts_at: int, effect: datetime, now: datetime,
                      zone: tzinfo) -> str:
    """When a new ``day_starts_at`` takes effect: at the end of the day in progress."""
    starts = f"{day_starts_at // 60:02d}:{day_starts_at % 60:02d}"
    return (f"Quota days start at {starts} from the end of the day in progress, "
            f"{at_moment(effect, now, zone, up=False)} (a day already begun never moves).")
