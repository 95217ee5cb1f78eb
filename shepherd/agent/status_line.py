"""The time left as one JSON line for panels (waybar's custom module, i3bar blocks).

``{"text": ..., "tooltip": ..., "class": ..., "percentage": ...}``: waybar reads
``text``, ``tooltip``, ``class`` and ``percentage``; i3bar-style tools read
``full_text``. Pure: the daemon's status and the time are passed in.
"""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from typing import Any

from shepherd.words import spoken_duration, until_moment
from shepherd.words.presence import pause_clause


def _short(seconds: float) -> str:
    minutes = int(max(seconds, 0) // 60)
    if minutes >= 60:
        return f"{minutes // 60}h{minutes % 60:02d}"
    return f"{minutes}m" if minutes else f"{int(max(seconds, 0))}s"


def status_line(status: dict[str, Any], child: str, now: datetime, zone: tzinfo) -> str:
    """One JSON line saying what runs for ``child`` and how long it has left."""
    labels = {e["id"]: e.get("label") or e["id"]
              for u in status.get("users", []) if u.get("name") == child
              for e in u.get("entries", [])}
    running = [s for s in status.get("sessions", []) if s.get("user") == child]
    if not running:
        line: dict[str, Any] = {"text": "", "tooltip": "Nothing is running", "class": "idle"}
    else:
        parts, tips, least, billing = [], [], None, False
        for session in running:
            label = labels.get(session["entry"], session["entry"])
            left = session.get("remaining_s")
            pause = session.get("paused")
            # A paused session's clock stands still: say so, and never as urgent.
            paused = f" ({pause_clause(pause, now, zone)})" if pause else ""
            billing = billing or not pause
            if left is None:
                parts.append(label + (" (paused)" if pause else ""))
                tips.append(f"{label}: no time limit{paused}")
                continue
            parts.append(f"{label} {_short(left)}" + (" (paused)" if pause else ""))
            if pause:
                tips.append(f"{label}: {spoken_duration(left)} left{paused}")
                continue
            deadline = datetime.fromisoformat(session["deadline"])
            tips.append(f"{label}: {spoken_duration(left)} left, "
                        f"{until_moment(deadline, now, zone, up=False)}")
            least = left if least is None else min(least, left)
        urgent = least is not None and least <= 60
        line = {"text": " · ".join(parts), "tooltip": "\n".join(tips),
                "class": "critical" if urgent else "running" if billing else "paused"}
    line["full_text"] = line["text"]  # i3bar
    return json.dumps(line, ensure_ascii=False)
