"""The machine's local time zone, for calendar questions (quota days, windows)."""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def local_zone() -> ZoneInfo:
    """``$TZ`` if set, else ``/etc/localtime``'s zone name, else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.readlink("/etc/localtime")
        candidates.append(target.split("zoneinfo/", 1)[-1])
    except OSError:
        pass
    timezone_file = Path("/etc/timezone")
    if timezone_file.exists():
        candidates.append(timezone_file.read_text().strip())
    for name in candidates:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")
