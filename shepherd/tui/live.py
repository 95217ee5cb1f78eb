"""What the TUI knows of the daemon, and how it looks at any moment.

The daemon's ``status`` is a picture taken at one instant. Between pictures the
TUI moves it forward on its own monotonic clock: a running session's time left
falls, today's use grows, a rest counts down. So countdowns tick every second
without asking the daemon; a new picture is fetched when an event says something
changed, or when a known moment passes (a rest ends, a window opens).
Pure: no I/O; the monotonic reading is passed in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shepherd.tui import words

Json = dict[str, Any]
RESYNC_S = 60.0  # a full picture at least this often, in case an event was missed


@dataclass(frozen=True)
class EntryLine:
    user: str
    entry: str
    label: str
    state: str
    state_text: str  # short, for the table
    detail: str  # the whole sentence
    left: str  # time left now or if started now
    used: str  # used today / today's total
    fraction: float | None  # of today's total used


@dataclass(frozen=True)
class SessionLine:
    session_id: int
    user: str
    entry: str
    label: str
    remaining_s: float | None
    countdown: str
    fraction: float  # of the session elapsed
    ends: str
    cause: str | None
    paused: str | None = None  # why its clock stands still, and since when


@dataclass
class LiveState:
    hello: Json | None = None
    status: Json | None = None
    received: float = 0.0  # monotonic reading when ``status`` arrived
    requests: list[Json] = field(default_factory=list)
    warnings: deque[Json] = field(default_factory=lambda: deque(maxlen=20))
    my_requests: dict[int, Json] = field(default_factory=dict)  # a child's own, by id
    connected: bool = False
    problem: str = ""
    pictures: int = 0  # ``status`` answers received: the countdowns tick without them
    _still: dict[tuple[str, str], EntryLine] = field(default_factory=dict)
    _still_picture: int = -1

    # -- who ---------------------------------------------------------------------
    @property
    def is_admin(self) -> bool:
        return bool(self.hello and self.hello.get("role") == "admin")

    @property
    def me(self) -> str:
        return str(self.hello.get("name", "")) if self.hello else ""

    # -- time --------------------------------------------------------------------
    def now(self, mono: float) -> datetime:
        """The daemon's (trusted) time now, carried forward from the last picture."""
        assert self.status is not None
        taken = datetime.fromisoformat(self.status["now"])
        return taken + timedelta(seconds=self.elapsed(mono))

    def elapsed(self, mono: float) -> float:
        return max(mono - self.received, 0.0)

    # -- lookups -----------------------------------------------------------------
    def users(self) -> list[Json]:
        return list(self.status["users"]) if self.status else []

    def sessions(self) -> list[Json]:
        return list(self.status["sessions"]) if self.status else []

    def user(self, name: str) -> Json | None:
        return next((u for u in self.users() if u["name"] == name), None)

    def label(self, user: str, entry: str) -> str:
        found = self.user(user)
        for item in found["entries"] if found else []:
            if item["id"] == entry:
                return str(item["label"])
        return entry

    def session_of(self, user: str, entry: str) -> Json | None:
        return next((s for s in self.sessions() if s["user"] == user and s["entry"] == entry),
                    None)

    def session(self, session_id: int) -> Json | None:
        return next((s for s in self.sessions() if s["id"] == session_id), None)

    def groups_of(self, user: str, entry: str) -> list[Json]:
        found = self.user(user)
        return [g for g in (found or {}).get("groups", []) if entry in g["entries"]]

    # -- lines for the screen ----------------------------------------------------
    def entry_line(self, user: str, item: Json, mono: float) -> EntryLine:
        """One entry as shown now. Lines that do not tick are kept for the whole picture."""
        if self._still_picture != self.pictures:
            self._still.clear()
            self._still_picture = self.pictures
        key = (user, str(item["id"]))
        kept = self._still.get(key)
        if kept is not None:
            return kept
        line = self._entry_line(user, item, mono)
        if line.state not in ("running", "cooldown"):
            self._still[key] = line
        return line

    def _entry_line(self, user: str, item: Json, mono: float) -> EntryLine:
        now = self.now(mono)
        session = self.session_of(user, item["id"])
        paused = session is not None and bool(session.get("paused"))
        ticking = self.elapsed(mono) if session is not None and not paused else 0.0
        used = item["used_today_s"] + ticking
        total = item.get("quota_today_s")
        used_text = words.duration(used) + (f" of {words.duration(total)}" if total else "")
        fraction = min(used / total, 1.0) if total else None
        state = item["state"]
        label = str(item["label"])
        if session is not None:
            left_s = session["remaining_s"]
            left = "no limit" if left_s is None else words.countdown(left_s - ticking)
            detail = f"running, {left} left" if left_s is not None else "running, no limit"
            if paused:  # its clock stands still while the child is away
                detail = f"{words.paused(session['paused'], now)}, {left} left"
                return EntryLine(user, item["id"], label, "running", "paused", detail, left,
                                 used_text, fraction)
            return EntryLine(user, item["id"], label, "running", "running", detail, left,
                             used_text, fraction)
        until = words.parse_time(item.get("cooldown_until"))
        if state == "cooldown" and until is not None:
            rest = (until - now).total_seconds()
            left = words.countdown(rest)
            return EntryLine(user, item["id"], label, state, words.state_word(state),
                             f"resting for {left}, {words.until_time(until, now)}",
                             left, used_text, fraction)
        if not item["reasons"]:
            left_s = item.get("time_left_s")
            left = words.duration(left_s)
            return EntryLine(user, item["id"], label, "available", words.state_word("available"),
                             f"{label} can start: {left} if started now", left, used_text,
                             fraction)
        detail = words.refusal(label, item["reasons"], now)
        return EntryLine(user, item["id"], label, state, words.state_word(state), detail,
                         words.next_change(item["reasons"], now), used_text, fraction)

    def session_line(self, session: Json, mono: float) -> SessionLine:
        now = self.now(mono)
        started = datetime.fromisoformat(session["started_at"])
        ran = max((now - started).total_seconds(), 0.0)
        left = session["remaining_s"]
        if left is None:
            return SessionLine(session["id"], session["user"], session["entry"],
                               self.label(session["user"], session["entry"]), None,
                               "no limit", 0.0, "no limit", None)
        pause = session.get("paused")
        if pause:  # the countdown stands still; it ends whenever the child is back
            fraction = ran / (ran + left) if ran + left > 0 else 1.0
            return SessionLine(session["id"], session["user"], session["entry"],
                               self.label(session["user"], session["entry"]), left,
                               words.countdown(left), fraction, "paused",
                               session.get("deadline_cause"), words.paused(pause, now))
        left = max(left - self.elapsed(mono), 0.0)
        fraction = ran / (ran + left) if ran + left > 0 else 1.0
        ends = words.at_time(now + timedelta(seconds=left), now)
        return SessionLine(session["id"], session["user"], session["entry"],
                           self.label(session["user"], session["entry"]), left,
                           words.countdown(left), fraction, ends, session.get("deadline_cause"))

    def group_lines(self, user: str, mono: float) -> list[str]:
        found = self.user(user)
        lines = []
        for group in (found or {}).get("groups", []):
            total = group.get("quota_today_s")
            if total is None:
                continue
            running = any((s := self.session_of(user, e)) and not s.get("paused")
                          for e in group["entries"])
            used = group["used_today_s"] + (self.elapsed(mono) if running else 0.0)
            lines.append(f"{group['id']} {words.duration(used)} of {words.duration(total)}")
        return lines

    # -- when to look again ------------------------------------------------------
    def next_change_in(self, mono: float) -> float:
        """Seconds until the picture is known to go stale (a rest ends, a window opens...)."""
        if self.status is None:
            return RESYNC_S
        now = self.now(mono)
        soonest = RESYNC_S
        for user in self.users():
            for item in user["entries"]:
                moments = [item.get("cooldown_until")]
                moments += [r.get(k) for r in item["reasons"]
                            for k in ("next_opening", "resets_at", "until")]
                for moment in moments:
                    when = words.parse_time(moment)
                    if when is not None:
                        soonest = min(soonest, (when - now).total_seconds())
        for session in self.sessions():
            if session["remaining_s"] is not None:
                soonest = min(soonest, session["remaining_s"] - self.elapsed(mono))
        return max(soonest, 0.0) + 0.3  # just after the moment, when the daemon has moved

    # -- consequences, for confirmations -----------------------------------------
    def grant_consequence(self, user: str, target: str, seconds: int, mono: float) -> str:
        """What still limits an entry after a grant, in the words `shepherd grant` uses
        ("" when nothing does). Judged from the last status, before the grant is made."""
        now = self.now(mono)
        found = self.user(user)
        if found is None:
            return ""
        item = next((e for e in found["entries"] if e["id"] == target), None)
        if item is None:  # a group, or not this child's
            return ""
        session = self.session_of(user, target)
        ticking = self.elapsed(mono) if session is not None else 0.0
        if item.get("remaining_today_s") is None:
            return words.grant_notes(item["label"], unlimited=True, now=now)
        new_left = item["remaining_today_s"] - ticking + seconds
        caps: list[dict[str, Any]] = []
        for g in self.groups_of(user, target):
            left = g.get("remaining_today_s")
            if left is not None and left - ticking < new_left:
                left = max(left - ticking, 0.0)
                until = (now + timedelta(seconds=left)).isoformat() if session else None
                caps.append({"kind": "group_quota", "group": g["id"], "usable_s": left,
                             "until": until, "running": session is not None})
        if session is not None and session.get("deadline_cause") in ("window", "max_run"):
            end_s = max(session["remaining_s"] - ticking, 0.0)
            caps.append({"kind": session["deadline_cause"], "usable_s": end_s, "running": True,
                         "until": (now + timedelta(seconds=end_s)).isoformat()})
        return words.grant_notes(item["label"], capped_by=caps, now=now)
