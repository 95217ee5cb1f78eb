"""What every command shares: exit codes, time arguments, printing."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from typing import Any

from shepherd.localtime import local_zone
from shepherd.policy.durations import DurationError, parse_duration

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DENIED = 3
EXIT_FORBIDDEN = 4
EXIT_UNREACHABLE = 5


class CommandError(Exception):
    """A failure to report as ``shepherd: message`` with an exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def time_argument(text: str) -> datetime:
    """``2026-11-25``, ``2026-11-25T18:00``, or a duration ago (``2h``, ``7d``)."""
    try:
        return datetime.now(local_zone()) - timedelta(seconds=parse_duration(text))
    except DurationError:
        pass
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time (expected 2026-11-25, 2026-11-25T18:00 or 2h / 7d ago)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=local_zone())


def duration_argument(text: str) -> int:
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def local_time(iso: str) -> str:
    """An ISO timestamp shown in local time, to the second."""
    try:
        return datetime.fromisoformat(iso).astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso
