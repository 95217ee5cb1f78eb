"""The one duration parser: ``"90s"``, ``"45m"``, ``"1h30m"``, ``"2d"`` or whole seconds."""

from __future__ import annotations

import re

_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
# ASCII digits only: ``\d`` alone also takes "１" (full width), "٣", "१" (review-9-s8 L4)
_DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.ASCII)
EXPECTED = 'a duration like "90s", "45m", "1h30m", "2d" or a whole number of seconds'
# Longer than any limit means, and short enough for every clock sum (a float of seconds,
# a datetime) to hold: past it a policy crashed the engine's arithmetic at reload.
MAX_SECONDS = 100 * 365 * 86_400


class DurationError(ValueError):
    """A value that is not a duration; the message says what was expected."""


class DurationTooLong(DurationError):
    """A well-formed duration longer than ``MAX_SECONDS``."""


def parse_duration(value: object) -> int:
    """Return ``value`` as whole seconds. ``0`` stays 0 (none allowed), never unlimited;
    at most ``MAX_SECONDS`` (a hundred years)."""
    seconds = _seconds(value)
    if seconds > MAX_SECONDS:
        shown = (repr(value if len(value) <= 40 else value[:37] + "...")
                 if isinstance(value, str) else "a number of seconds")
        raise DurationTooLong(f"got {shown}, longer than a hundred years (expected {EXPECTED})")
    return seconds


def _seconds(value: object) -> int:
    if isinstance(value, bool):
        raise DurationError(f"got {value!r} (expected {EXPECTED})")
    if isinstance(value, int):
        if value < 0:
            raise DurationError(f"got {value}, a negative duration (expected {EXPECTED})")
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        match = _DURATION_RE.fullmatch(text)
        if text and match is not None and any(match.groups()):
            return sum(
                int(amount) * _UNIT_SECONDS[unit]
                for amount, unit in zip(match.groups(), "dhms", strict=True)
                if amount is not None
            )
        if text.isascii() and text.isdigit():  # ("²".isdigit(), and int() refuses it)
            return int(text)
        raise DurationError(f"got {value!r} (expected {EXPECTED})")
    raise DurationError(f"got {type(value).__name__} {value!r} (expected {EXPECTED})")


def format_duration(seconds: float) -> str:
    """Format seconds for people: ``5400`` -> ``"1h30m"``, ``0`` -> ``"0s"``."""
    total = round(seconds)
    if total <= 0:
        return "0s"
    parts = []
    for unit in "dhms":
        amount, total = divmod(total, _UNIT_SECONDS[unit])
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)
