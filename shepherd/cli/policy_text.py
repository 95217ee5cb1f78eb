"""``shepherd policy show`` as text: the policy in force, written back as TOML.

Works from the policy's JSON (what the daemon sends), so durations come as
seconds, times of day as minutes and days as weekday numbers; they are written
the way a parent writes them ("1h30m", "15:30", "weekdays"). The result is a
valid policy file that loads back to the same policy; absent limits (unlimited)
are left out, as in the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shepherd.policy.model import DAY_NAMES
from shepherd.words import format_duration

DURATION_KEYS = frozenset({"max_run", "cooldown", "before", "stop_grace", "audit_retention",
                           "idle_after", "daily_quota", "weekly_quota"})
CLOCK_KEYS = frozenset({"day_starts_at", "start", "end"})
_NAMED_DAYS = {tuple(range(7)): "daily", tuple(range(5)): "weekdays", (5, 6): "weekends"}


def _duration(seconds: int) -> str:
    return json.dumps(format_duration(seconds))


def _clock(minutes: int) -> str:
    return json.dumps(f"{minutes // 60:02d}:{minutes % 60:02d}")


def _days(days: list[int]) -> str:
    ordered = tuple(sorted(days))
    named = _NAMED_DAYS.get(ordered)
    return json.dumps(named) if named else _scalar_list([DAY_NAMES[d] for d in ordered])


def _scalar_list(items: list[Any]) -> str:
    return "[" + ", ".join(_value("", item) for item in items) + "]"


def _schedule(schedule: Mapping[str, Any]) -> str:
    if schedule.get("single") is not None:
        return _duration(schedule["single"])
    return _inline({k: v for k, v in schedule.items() if k != "single"}, durations=True)


def _inline(table: Mapping[str, Any], durations: bool = False) -> str:
    parts = [f"{key} = {_duration(value) if durations else _value(key, value)}"
             for key, value in table.items() if value is not None]
    return "{ " + ", ".join(parts) + " }" if parts else "{}"


def _value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and key in CLOCK_KEYS:
        return _clock(value)
    if isinstance(value, int) and key in DURATION_KEYS:
        return _duration(value)
    if key == "days" and isinstance(value, list):
        return _days(value)
    if isinstance(value, Mapping):
        if key in DURATION_KEYS:
            return _schedule(value)
        return _inline(value)
    if isinstance(value, list):
        if value and all(isinstance(item, Mapping) for item in value):
            rows = "".join(f"  {_inline(item)},\n" for item in value)
            return f"[\n{rows}]"
        return _scalar_list(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value)


def _table_lines(table: Mapping[str, Any]) -> list[str]:
    return [f"{key} = {_value(key, value)}" for key, value in table.items()
            if value is not None]


def render_policy(policy: Mapping[str, Any]) -> list[str]:
    """The lines of a TOML policy equal to ``policy`` (a ``Policy`` dumped as JSON)."""
    lines: list[str] = []
    scalars = {k: v for k, v in policy.items()
               if not isinstance(v, Mapping | list) and v is not None}
    lines += _table_lines(scalars)
    for key, value in policy.items():
        if isinstance(value, Mapping):
            lines += ["", f"[{key}]", *_table_lines(value)]
        elif isinstance(value, list):
            for item in value:
                lines += ["", f"[[{key}]]", *_table_lines(item)]
    return lines
