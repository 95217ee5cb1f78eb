"""A child's day explained by a running daemon (``policy.explain``, the TUI's Policy view).

The daemon's engine knows the policy in force and this week's books: what was
charged, what running sessions have used and not yet charged, rests, grants and
locks. They are copied here (a ``Starting``), so the explanation runs on its own
engine, off the daemon's event loop, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shepherd.engine import Engine, Instant, QuotaCalendar
from shepherd.explain.day import ExplainError, explain_day
from shepherd.explain.run import Starting
from shepherd.explain.text import explanation_lines
from shepherd.explain.when import parse_clock, parse_day
from shepherd.policy import Policy


def books_of(engine: Engine, now: Instant) -> Starting:
    """What ``engine`` knows at ``now``, running sessions' time so far counted as used,
    and the rests they would start if they stopped now (the engine's own rule)."""
    usage = dict(engine.usage)
    today = engine.quota_day(now)
    days = [today - timedelta(days=back) for back in range(7)]
    for session_id in engine.session_ids():
        snap = engine.snapshot(session_id)
        for day in days:
            used = engine.used(snap.user, (snap.entry,), day, now)
            if used:
                usage[(snap.user, snap.entry, day)] = used
    return Starting(usage, engine.cooldowns_if_ended(now), dict(engine.grants),
                    frozenset(engine.locked), tuple(engine.timed.values()),
                    frozenset(engine.expiries_noted), counted=True, aside=dict(engine.aside),
                    beyond=dict(engine.beyond), kept=dict(engine.kept),
                    raises=dict(engine.raises))


def running_note(engine: Engine, user: str) -> str:
    """The sessions the explanation does not play on: they are counted, not stopped."""
    labels = []
    for session_id in engine.session_ids(user):
        entry = engine.policy.entry(engine.snapshot(session_id).entry)
        labels.append(entry.title if entry is not None else engine.snapshot(session_id).entry)
    if not labels:
        return ""
    whose, stopped = ("its", "it stopped") if len(labels) == 1 else ("their", "they stopped")
    return (f"Running now: {', '.join(labels)}; {whose} time so far is counted, and the day "
            f"below starts as if {stopped} now (and rested after, as the rules say).")


def explain_live(policy: Policy, zone: ZoneInfo, now: Instant, user: str,
                 day_text: str | None, from_text: str | None, books: Starting,
                 running: str = "", missing: Mapping[str, str] | None = None,
                 closed: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The explanation of ``user``'s day (``sat``, ``2026-11-28``; default today) from
    ``from_text`` (HH:MM; default: now for today, else the day's start), as lines of
    words and as data; ``running``: the note on sessions running now. Touches no
    daemon state (it may run in a thread). Raises ExplainError for a question with
    no answer."""
    calendar = QuotaCalendar(zone, policy.supervisor.day_starts_at,
                             policy.supervisor.week_start_weekday)
    today = calendar.quota_day(now.wall)
    day = parse_day(day_text, today)
    if day < today:
        raise ExplainError(f"{day.isoformat()} is over; the history view shows what was used")
    if from_text is not None:
        start: datetime | None = calendar.at(day, parse_clock(from_text))
    elif day == today:
        start = now.wall  # to the second, as the daemon counts
    else:
        start = None
    explanation = explain_day(policy, zone, user, day, start, books, missing=missing,
                              closed=closed)
    lines = explanation_lines(explanation, zone, running=running if day == today else "")
    return {"user": user, "day": day.isoformat(), "lines": lines,
            "explanation": explanation.to_json()}
