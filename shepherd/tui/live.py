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

from shepherd import words as shared
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
    key: str = ""  # its row: the number, or "MACHINE:NUMBER" for another machine's
    elsewhere: str | None = None  # the household machine it runs on, when not this one
    paused: str | None = None  # why its clock stands still, and since when
    short_ends: str = ""  # ``ends`` for a narrow column: "16:40", "tmrw 00:10", "frozen 00:46"
    unfrozen: str | None = None  # it could not be kept frozen: all its time counts (why)

    @property
    def sentence(self) -> str:
        """The whole of it, for the footer (the row's cells are cut to fit)."""
        head = f"{self.user} · {self.label}: "
        left = "no time limit" if self.remaining_s is None else f"{self.countdown} left"
        if self.paused:
            said = f"{self.paused} ({left})"
        elif self.remaining_s is None:
            said = left
        else:
            said = f"{left}, ends {self.ends}"
        return head + said + (f"; {shared.unfrozen_clause(self.unfrozen)}"
                              if self.unfrozen else "")


@dataclass
class LiveState:
    hello: Json | None = None
    status: Json | None = None
    received: float = 0.0  # monotonic reading when ``status`` arrived
    requests: list[Json] = field(default_factory=list)
    warnings: deque[Json] = field(default_factory=lambda: deque(maxlen=20))
    my_requests: dict[int, Json] = field(default_factory=dict)  # a child's own, by id
    answered: dict[int, Json] = field(default_factory=dict)  # answers seen, by request id
    connected: bool = False
    problem: str = ""
    waiting: str = ""  # an action sent, its answer not yet come
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

    def entry_labels(self) -> dict[str, str]:
        """Each entry's id and the name a parent sees, for every child shown."""
        return {str(item["id"]): str(item["label"]) for u in self.users()
                for item in u["entries"]}

    def entry_named(self, typed: str) -> str:
        """The id of the entry a parent names (by its label, any case, or by its id)."""
        wanted = typed.strip().casefold()
        for entry, label in self.entry_labels().items():
            if wanted in (label.casefold(), entry.casefold()):
                return entry
        return typed.strip()

    def session_of(self, user: str, entry: str) -> Json | None:
        return next((s for s in self.sessions() if s["user"] == user and s["entry"] == entry),
                    None)

    def session(self, session_id: int) -> Json | None:
        return next((s for s in self.sessions() if s["id"] == session_id
                     and self.elsewhere(s) is None), None)

    def elsewhere(self, session: Json) -> str | None:
        """The household machine a session runs on, when it is not this daemon's."""
        here = self.status.get("machine") if self.status else None
        machine = session.get("machine")
        return str(machine) if machine and machine != here else None

    def session_key(self, session: Json) -> str:
        elsewhere = self.elsewhere(session)
        return f"{elsewhere}:{session['id']}" if elsewhere else str(session["id"])

    def session_by_key(self, key: str) -> Json | None:
        return next((s for s in self.sessions() if self.session_key(s) == key), None)

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
        used_text, fraction = _today(used, item)
        state = words.lasting_state(item["state"], item["reasons"])
        label = str(item["label"])
        week = self._week(item, ticking)
        if session is not None:
            left_s = session["remaining_s"]
            left = "no limit" if left_s is None else words.countdown(left_s - ticking)
            detail = f"running, {left} left" if left_s is not None else "running, no limit"
            if paused:  # its clock stands still while the child is away
                said = words.paused(session["paused"], now, bool(session.get("frozen")),
                                    bool(session.get("runs_while_paused")))
                detail = f"{said}, {left} left{week}"
                return EntryLine(user, item["id"], label, "running", "paused", detail, left,
                                 used_text, fraction)
            detail += week
            return EntryLine(user, item["id"], label, "running", "running", detail, left,
                             used_text, fraction)
        until = words.parse_time(item.get("cooldown_until"))
        if state == "cooldown" and until is not None:
            rest = (until - now).total_seconds()
            left = words.countdown(rest)
            return EntryLine(user, item["id"], label, state, words.state_word(state),
                             f"resting for {left}, {words.until_time(until, now)}{week}",
                             left, used_text, fraction)
        # a missing or closed program outlasts "busy" (review-12-s13 L1): the daemon's
        # state says so, and the words name the program, not the other one running
        closed = item.get("program_closed")
        if closed and (not item["reasons"] or item["state"] == "not_runnable"):
            return EntryLine(user, item["id"], label, "not_runnable",
                             words.state_word("not_runnable"),
                             f"{label} {shared.not_runnable_clause(str(closed))}.", "—",
                             used_text, fraction)
        missing = item.get("program_missing")
        # a launch would fail: never "can start"
        if missing and (not item["reasons"] or item["state"] == "not_installed"):
            return EntryLine(user, item["id"], label, "not_installed",
                             words.state_word("not_installed"),
                             f"{label} {shared.not_installed_clause(str(missing))}.", "—",
                             used_text, fraction)
        if not item["reasons"]:
            left_s = item.get("time_left_s")
            left = words.duration(left_s)
            return EntryLine(user, item["id"], label, "available", words.state_word("available"),
                             f"{label} can start: {left} if started now{week}", left, used_text,
                             fraction)
        detail = words.refusal(label, item["reasons"], now,
                               you=None if self.is_admin else self.me)
        if not any(r.get("period") == "week" for r in item["reasons"]):
            detail += week  # what the week has left, as on the other rows (rev15-s24 F6)
        if state == "busy":  # the child runs as many programs as they may: it waits
            most = next((int(r.get("max_sessions") or 1) for r in item["reasons"]
                         if r.get("code") == "already_running"), 1)
            return EntryLine(user, item["id"], label, state, words.state_word(state), detail,
                             f"{most} running", used_text, fraction)
        return EntryLine(user, item["id"], label, state, words.state_word(state), detail,
                         words.next_change(item["reasons"], now), used_text, fraction)

    @staticmethod
    def _week(item: Json, ticking: float) -> str:
        """"; 3h of 5h left this week" where a weekly quota applies."""
        left = item.get("remaining_week_s")
        said = words.week_left(item.get("quota_week_s"),
                               None if left is None else left - ticking)
        return f"; {said}" if said else ""

    def session_line(self, session: Json, mono: float) -> SessionLine:
        now = self.now(mono)
        started = datetime.fromisoformat(session["started_at"])
        ran = max((now - started).total_seconds(), 0.0)
        left = session["remaining_s"]
        elsewhere = self.elsewhere(session)
        label = self.label(session["user"], session["entry"])
        if elsewhere:
            label += f" (on {elsewhere})"
        key = self.session_key(session)
        unfrozen = session.get("freeze_failed") or None
        pause = session.get("paused")
        said = short = None
        if pause:  # the countdown stands still; it ends whenever the child is back
            said = words.paused(pause, now, bool(session.get("frozen")),
                                bool(session.get("runs_while_paused")))
            # The cell's short form ("paused since" was all a 150-column screen showed).
            short = ("frozen " if session.get("frozen") else "paused ") + words.short_at(
                words.parse_time(str(pause["since"])), now, up=False)
        if left is None:
            return SessionLine(session["id"], session["user"], session["entry"], label, None,
                               "no limit", 0.0, "no limit", None, key, elsewhere, said,
                               short or "", unfrozen)
        if pause:
            fraction = ran / (ran + left) if ran + left > 0 else 1.0
            return SessionLine(session["id"], session["user"], session["entry"], label, left,
                               words.countdown(left), fraction, "paused",
                               session.get("deadline_cause"), key, elsewhere, said,
                               short or "", unfrozen)
        left = max(left - self.elapsed(mono), 0.0)
        fraction = ran / (ran + left) if ran + left > 0 else 1.0
        # The daemon's own deadline, so the TUI names the minute the CLI names.
        deadline = words.parse_time(session.get("deadline")) or now + timedelta(seconds=left)
        ends = words.ends_at(deadline, now)
        return SessionLine(session["id"], session["user"], session["entry"], label, left,
                           words.countdown(left), fraction, ends, session.get("deadline_cause"),
                           key, elsewhere, short_ends=words.short_at(deadline, now, up=False),
                           unfrozen=unfrozen)

    def group_lines(self, user: str, mono: float) -> list[str]:
        found = self.user(user)
        lines = []
        for group in (found or {}).get("groups", []):
            total = group.get("quota_today_s")
            running = any((s := self.session_of(user, e)) and not s.get("paused")
                          for e in group["entries"])
            ticking = self.elapsed(mono) if running else 0.0
            week = self._week(group, ticking).removeprefix("; ")
            if total is None and not week:
                continue
            used = group["used_today_s"] + ticking
            today = (_today(used, group)[0] if total is not None
                     else f"{words.duration(used)} today")
            lines.append(f"{group['id']} {today}" + (f" ({week})" if week else ""))
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
    def request_budget(self, user: str, entry: str) -> str | None:
        """The budget an approved request for ``entry`` gives its time in (the daemon's
        ``request_budget``): the first of its groups with a quota, when the entry has no
        limit of its own. Judged from the last status."""
        found = self.user(user)
        item = next((e for e in (found or {}).get("entries", ()) if e["id"] == entry), None)
        if found is None or item is None or item.get("remaining_today_s") is not None \
                or item.get("remaining_week_s") is not None:
            return None
        return next((str(g["id"]) for g in found.get("groups", ())
                     if entry in g.get("entries", ()) and (g.get("quota_today_s") is not None
                                                          or g.get("quota_week_s") is not None)),
                    None)

    def grant_consequence(self, user: str, target: str, seconds: int, mono: float) -> str:
        """What still limits an entry after a grant, in the words `shepherd grant` uses
        ("" when nothing does). Judged from the last status, before the grant is made."""
        found = self.user(user)
        if found is None:
            return ""
        locked = words.lock_note(user, seconds) if found.get("locked") else ""
        item = next((e for e in found["entries"] if e["id"] == target), None)
        if item is None:  # a group, or not this child's
            return locked
        return " ".join(filter(None, [locked, self._grant_caps(item, user, target, seconds,
                                                                 mono)]))

    def _grant_caps(self, item: Json, user: str, target: str, seconds: int,
                    mono: float) -> str:
        now = self.now(mono)
        session = self.session_of(user, target)
        ticking = self.elapsed(mono) if session is not None else 0.0
        if item.get("remaining_today_s") is None:
            return words.grant_notes(item["label"], unlimited=True, now=now)
        quota = item.get("quota_today_s")
        day_left = (item["remaining_today_s"] if quota is None
                    else quota + _given_until(item) - item["used_today_s"])
        new_left = day_left - ticking + seconds
        caps: list[dict[str, Any]] = []
        week_left = item.get("remaining_week_s")
        if week_left is not None and week_left < day_left:  # a grant counts toward both
            left = max(week_left - ticking + seconds, 0.0)
            until = (now + timedelta(seconds=left)).isoformat() if session else None
            caps.append({"kind": "quota", "period": "week", "usable_s": left, "until": until,
                         "running": session is not None})
        for g in self.groups_of(user, target):
            left = g.get("remaining_today_s")
            if left is not None and left - ticking < new_left:
                weekly = g.get("remaining_week_s") is not None and g["remaining_week_s"] <= left
                left = max(left - ticking, 0.0)
                until = (now + timedelta(seconds=left)).isoformat() if session else None
                caps.append({"kind": "group_quota", "group": g["id"], "usable_s": left,
                             "until": until, "running": session is not None,
                             "period": "week" if weekly else "day"})
        if session is not None and session.get("deadline_cause") in ("window", "max_run"):
            end_s = max(session["remaining_s"] - ticking, 0.0)
            caps.append({"kind": session["deadline_cause"], "usable_s": end_s, "running": True,
                         "until": (now + timedelta(seconds=end_s)).isoformat()})
        return words.grant_notes(item["label"], capped_by=caps, now=now)

    def take_consequence(self, user: str, target: str, seconds: int, mode: str,
                         mono: float) -> str:
        """What taking time back (or setting today's total) does to a running session."""
        found = self.user(user)
        if found is None:
            return ""
        group = next((g for g in found.get("groups", []) if g["id"] == target), None)
        item = next((e for e in found["entries"] if e["id"] == target), None)
        if group is not None:
            entries, left, used = list(group["entries"]), group.get("remaining_today_s"), \
                group.get("used_today_s", 0)
        elif item is not None:
            entries, left, used = [target], item.get("remaining_today_s"), item["used_today_s"]
        else:
            return ""
        sessions = [s for e in entries if (s := self.session_of(user, e)) is not None
                    and s["remaining_s"] is not None]
        if not sessions or (mode == "take" and left is None):
            return ""
        ticking = self.elapsed(mono) if any(not s.get("paused") for s in sessions) else 0.0
        new_left = (left - ticking - seconds) if mode == "take" and left is not None \
            else seconds - (used + ticking)
        names = " and ".join(self.label(user, s["entry"]) for s in sessions)
        if new_left <= 0:
            return f"{names} is running: this ends it now."
        end = words.ends_at(self.now(mono) + timedelta(seconds=new_left), self.now(mono))
        return f"{names} is running: it then ends {end} at the latest."


def _given_until(item: Json) -> float:
    """What time given until moments still to come gives the day on top of its total:
    what it paid so far and what can still be used of it before its end."""
    return sum(float(part.get("paid_s") or 0.0) + float(part["seconds"])
               for part in item.get("on_top") or ())


def _today(used: float, item: Json) -> tuple[str, float | None]:
    """Today's cell and its bar: "21m of 40m", or "1m11s of 2m +1m" while time given until
    a moment is on top of the day's total (the total that ``status`` and ``explain`` say,
    review-15-s15 N5; "+1m": what that time paid and can still pay before its end)."""
    total = item.get("quota_today_s")
    if total is None:
        return words.duration(used), None
    on_top = _given_until(item)
    text = f"{words.duration(used)} of {words.duration(total)}" if total or on_top else \
        words.duration(used)
    if on_top >= 1:
        text += f" +{words.duration(on_top)}"
    whole = total + on_top
    return text, (min(used / whole, 1.0) if whole else None)
