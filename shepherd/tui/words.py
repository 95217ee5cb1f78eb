"""What the TUI says that only a screen needs; everything shared comes from ``shepherd.words``.

Refusals, entry states, durations and local moments ("at 15:30", "tomorrow at
04:00") are the project's one renderer (``shepherd.words``), so the TUI, the CLI
and notifications say the same thing. This module adds what fits a narrow
column (a ticking ``12:05``, ``tmrw 09:00``) and the TUI's own sentences
(confirmations, audit rows, the policy in readable form).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from rich.markup import escape
from rich.text import Text

from shepherd import words as shared
from shepherd.localtime import local_zone
from shepherd.words import events as shared_events

_ZONE = local_zone()
state_word = shared.state_word
week_left = shared.week_left
lasting_state = shared.lasting_state
one_line = shared.one_line
spoken_duration = shared.spoken_duration


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def duration(seconds: float | None) -> str:
    """``1h30m``; ``None`` is no limit."""
    if seconds is None:
        return "no limit"
    return shared.format_duration(max(seconds, 0))


def countdown(seconds: float) -> str:
    """A ticking clock: ``12:05`` or ``1:02:03``."""
    total = max(int(seconds + 0.999), 0)  # a second still running shows as left
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def answered_elsewhere(event: Mapping[str, Any] | None) -> str:
    """A request answered while its question waited: how, and by whom when known."""
    if event is None:
        return "That request has already been answered."
    how = "approved" if event.get("state") == "approved" else "declined"
    by = f" by {event['by']}" if event.get("by") else ""
    return f"That request has already been answered: it was {how}{by}."


def extension_end(answer: Mapping[str, Any], now: datetime) -> str:
    """When an extended session ends, and what ends it (the CLI's words)."""
    return shared.extension_end(answer, now, _ZONE)


def ends_at(when: datetime, now: datetime) -> str:
    """When something ends: rounded down to the minute, as the CLI and notices say it."""
    return shared.at_moment(when, now, _ZONE, up=False)


def grant_notes(label: str, *, now: datetime, unlimited: bool = False,
                capped_by: Any = ()) -> str:
    """What still limits an entry after a grant: the words `shepherd grant` uses."""
    return shared.grant_notes(label, unlimited=unlimited, capped_by=capped_by, now=now,
                              zone=_ZONE)


def budget_note(label: str, budget: str) -> str:
    return shared.budget_note(label, budget)


def answer_notes(result: dict[str, Any], now: datetime, to_child: bool = False) -> str:
    """What still limits the time an approved request gave (the lock, a budget)."""
    return shared.answer_notes(result, now, _ZONE, to_child=to_child)


def lock_note(user: str, seconds: float) -> str:
    return shared.lock_note(user, seconds)


def until_time(when: datetime, now: datetime) -> str:
    return shared.until_moment(when, now, _ZONE)


def short_at(when: datetime | None, now: datetime, *, up: bool = True) -> str:
    """The same, for a narrow column: ``15:30``, ``tmrw 15:30``, ``Sat 09:00`` (an end is
    rounded down, ``up=False``, as ``ends_at`` rounds it)."""
    if when is None:
        return "—"
    clock = shared.clock_time(when, _ZONE, up=up)
    local, today = when.astimezone(_ZONE), now.astimezone(_ZONE)
    if up and local.replace(second=0, microsecond=0) != local:
        local += timedelta(minutes=1)  # the day of the minute named (23:59:30 is 00:00)
    days = (local.date() - today.date()).days
    if days == 0:
        return clock
    if days == 1:
        return f"tmrw {clock}"
    if 1 < days < 7:
        return f"{local.strftime('%a')} {clock}"
    return f"{local.day} {local.strftime('%b')} {clock}"


def hour_minute(when: str | None) -> str:
    parsed = parse_time(when)
    return parsed.astimezone(_ZONE).strftime("%H:%M") if parsed else "     "


def clock_time(when: str | None) -> str:
    """An audit timestamp in local time, to the second."""
    parsed = parse_time(when)
    return parsed.astimezone(_ZONE).strftime("%Y-%m-%d %H:%M:%S") if parsed else (when or "")


# -- states and refusals (the shared renderer) ------------------------------------

def paused(pause: dict[str, Any], now: datetime, frozen: bool = False,
           runs_on: bool = False) -> str:
    """"paused since 15:42: the screen is locked" (", its programs frozen meanwhile", or
    ", its programs running on meanwhile" where ``while_paused = "run"``)."""
    return shared.pause_clause(pause, now, _ZONE) + (
        ", its programs frozen meanwhile" if frozen
        else ", its programs running on meanwhile" if runs_on else "")


def refusal(label: str, items: list[dict[str, Any]], now: datetime,
            you: str | None = None) -> str:
    """"Minecraft can't start: its time for today is used up (back tomorrow at 04:00)"."""
    return shared.refusal_sentence(label, items, now, _ZONE, you)


def next_change(items: list[dict[str, Any]], now: datetime) -> str:
    """For the narrow "next" column: when the last timed refusal lifts (the entry can
    start no sooner: a budget back at 04:00 beside hours that open at 06:00 is "opens
    06:00", review-12-s13 L2)."""
    found: list[tuple[datetime, str]] = []
    for item in items:
        for key, verb in (("next_opening", "opens"), ("resets_at", "back"), ("until", "until")):
            when = parse_time(item.get(key))
            if when is not None:
                found.append((when, verb))
                break
    if not found:
        return "—"
    when, verb = max(found, key=lambda pair: pair[0])
    return f"{verb} {short_at(when, now)}"


# -- people's actions ------------------------------------------------------------

def minutes_phrase(seconds: int) -> str:
    """"15 more minutes", "1 hour 30 minutes more"."""
    spoken = shared.spoken_duration(seconds).split()
    if len(spoken) == 2:
        return f"{spoken[0]} more {spoken[1]}"
    return " ".join(spoken) + " more"


end_reason = shared_events.end_reason
warning_words = shared_events.warning_words


def event_summary(event: dict[str, Any], labels: Mapping[str, str] | None = None) -> str:
    """One line for an audit row or a live event (the words ``shepherd audit`` prints);
    ``labels`` names entries as the parent sees them (their ids otherwise)."""
    return shared_events.event_summary(event, _ZONE, quote=escape, labels=labels)


_DETAIL_NAMES = {"remaining_s": "time left", "seconds": "duration", "session_id": "session",
                 "request_id": "request"}


def detail_rows(event: dict[str, Any]) -> list[tuple[str, str]]:
    """The audit view's detail pane: the whole event, each part named in words, every
    amount of time a duration (``1m``) and every moment a local time."""
    rows: list[tuple[str, str]] = []
    for key, value in (event.get("data") or {}).items():  # its own parts first: a short
        shown = _detail_value(key, value)                  # pane shows them, not the ids
        if key == "reason" and event["type"] == "session_ended" and isinstance(value, str):
            shown = end_reason(value, (event.get("data") or {}).get("signal"))
        rows.append((_detail_name(key), shown))
    rows += [("event", f"{event_kind(str(event['type']))} (number {event['id']})"),
             ("time", clock_time(event["ts"]))]
    for key in ("user", "entry", "actor"):
        if event.get(key):
            rows.append(("by" if key == "actor" else key, str(event[key])))
    return rows


def event_kind(kind: str) -> str:
    """``request_answered`` as a person says it: "request answered"."""
    return kind.replace("_", " ")


def _detail_name(key: str) -> str:
    if key in _DETAIL_NAMES:
        return _DETAIL_NAMES[key]
    return key.removesuffix("_s").replace("_", " ")


def _detail_value(key: str, value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if key.endswith("_s") or key == "seconds":
            return f"-{duration(-value)}" if value < 0 else duration(value)
        return f"{value:.1f}" if isinstance(value, float) and not value.is_integer() \
            else str(int(value))
    if isinstance(value, str):
        return clock_time(value) if "T" in value and parse_time(value) else value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return shlex.join(value) if key == "command" else ", ".join(value)
    return json.dumps(value, ensure_ascii=False)


def grant_question(user: str, target_label: str, seconds: int, is_group: bool,
                   mode: str = "add", until: str = "today") -> str:
    what = f"the {target_label} budget" if is_group else target_label
    if mode == "add" and until == "week":
        return (f"Give {user} {minutes_phrase(seconds)} of {what} this week, to use on any "
                "day until the week ends?")
    if mode == "add" and until != "today":
        return f"Give {user} {minutes_phrase(seconds)} of {what} until {until} today?"
    if mode == "take" and until == "week":
        return (f"Take {shared.spoken_duration(seconds)} of {what} back from the time given "
                f"to {user} for this week?")
    if mode == "take":
        return f"Take {shared.spoken_duration(seconds)} of {what} back from {user} for today?"
    if mode == "set":
        return f"Set {user}'s {what} for today to {shared.spoken_duration(seconds)} in all?"
    return f"Give {user} {minutes_phrase(seconds)} of {what} today?"


def since_ago(seconds: float) -> str:
    return "just now" if seconds < 60 else f"{duration(seconds)} ago"


def time_after(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)


def verify_result(result: dict[str, Any]) -> str:
    if result.get("ok"):
        return (f"The audit log is intact: {result.get('checked', 0):,} events checked, "
                "none changed, removed or reordered.")
    return (f"[b red]The audit log has been tampered with[/] at event {result.get('bad_id')}: "
            f"{result.get('problem')} ({result.get('checked', 0):,} events checked).")


# -- the policy, readable -----------------------------------------------------------

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _minutes(value: int) -> str:
    return f"{value // 60:02d}:{value % 60:02d}"


def _days(days: list[int]) -> str:
    if sorted(days) == list(range(7)):
        return "every day"
    if sorted(days) == [0, 1, 2, 3, 4]:
        return "weekdays"
    if sorted(days) == [5, 6]:
        return "weekends"
    return ", ".join(_DAYS[d] for d in days)


def quota_text(quota: dict[str, Any] | None) -> str:
    if quota is None:
        return "no limit"
    if quota.get("single") is not None:
        return duration(quota["single"])
    parts = [f"{key} {duration(quota[key])}" for key in ("weekdays", "weekends", *_DAYS)
             if quota.get(key) is not None]
    return ", ".join(parts) or "no limit"


def _per_week(weekly: int | None) -> str:
    return f", per week {duration(weekly)}" if weekly is not None else ""


def policy_text(path: str, policy: dict[str, Any], *, user_mode: bool = False) -> Text:
    """The policy in force, as a parent would read it (durations like 1h30m). A daemon
    in user mode has the user it runs as for its parent, whatever the admin group."""
    sup = policy["supervisor"]
    parents = (f"the parent is the user this daemon runs as (user mode; installed, it "
               f"would be the group {escape(sup['admin_group'])})" if user_mode
               else f"parents are the group {escape(sup['admin_group'])}")
    out = [f"[b]Policy in force[/b]  [dim]{escape(path)}[/]", "",
           f"Days start at {_minutes(sup['day_starts_at'])}, weeks on "
           f"{_LONG_DAYS[_DAYS.index(sup.get('week_starts_on', 'mon'))]}; {parents}; "
           f"programs get {duration(sup['stop_grace'])} to close; "
           f"the audit log keeps {duration(sup['audit_retention'])}; after a crash, "
           f"running programs are {'adopted' if sup['on_restart'] == 'adopt' else 'stopped'}.",
           "", "[b]Children[/b]"]
    for user in policy["users"]:
        most = int(user["max_sessions"])
        out.append(f"  {escape(user['name'])}: " + (
            "one program at a time" if most == 1 else f"up to {most} programs at once"))
    out += ["", "[b]Entries[/b]"]
    for entry in policy["entries"]:
        limits = entry["limits"]
        who = ", ".join(entry["users"]) if entry.get("users") else "every child"
        out.append(f"  [b]{escape(entry.get('label') or entry['id'])}[/b] "
                   f"[dim]({escape(entry['id'])})[/] for "
                   f"{escape(who)}: {escape(' '.join(entry['command']))}")
        out.append(f"    per session {duration(limits.get('max_run'))}, per day "
                   f"{quota_text(limits.get('daily_quota'))}, rest after "
                   f"{duration(limits.get('cooldown')) if limits.get('cooldown') else 'none'}"
                   + _per_week(limits.get("weekly_quota")))
        if entry.get("windows"):
            hours = "; ".join(f"{_days(w['days'])} {_minutes(w['start'])}–{_minutes(w['end'])}"
                              for w in entry["windows"])
            out.append(f"    hours: {hours}")
        warnings = entry.get("warnings")
        if warnings is None:
            warnings = sup.get("default_warnings", [])
        if warnings:
            said = "; ".join(f"{duration(w['before'])} before: “{escape(w['message'])}”"
                             for w in warnings)
            out.append(f"    warnings: {said}")
    if policy.get("groups"):
        out += ["", "[b]Shared budgets (groups)[/b]"]
        for group in policy["groups"]:
            daily, weekly = group.get("daily_quota"), group.get("weekly_quota")
            shared = (f"{duration(weekly)} a week" if daily is None and weekly is not None
                      else f"{quota_text(daily)} a day{_per_week(weekly)}")
            out.append(f"  {group['id']}: {', '.join(group['entries'])} share {shared} "
                       "per child")
    return Text.from_markup("\n".join(out))


def rejected_text(rejected: dict[str, Any]) -> Text:
    errors = "\n".join(f"  {escape(str(e))}" for e in rejected.get("errors", []))
    return Text.from_markup(
        f"[b]The last reload was rejected[/b] ({clock_time(rejected.get('at'))}); the policy "
        f"below stays in force. Fix these and reload (R):\n{errors}\n")


def bottom_line(label: str, detail: str) -> str:
    """The line under a list of entries (child and parent): the label once, then what it can do
    (a detail that already begins with the label is not prefixed again)."""
    return detail if detail.startswith(label) else f"{label}: {detail}"
