"""The accounting engine: every rule about time, with no I/O.

Rules (SPEC §3 and the timing rules of §4), as this module applies them:

1. Time is passed in, never read. An ``Instant`` pairs the trusted wall clock
   (calendar questions) with a monotonic reading (how long things ran).
2. A session's use is the monotonic time between its checkpoints. Each piece is
   placed on the wall clock starting at the previous checkpoint (after a suspend
   the use happened before the machine slept), or ending at this one when the
   wall clock went back, and is cut at every quota-day boundary
   (``day_starts_at`` local time), so each second is charged to the day it was
   spent in. Moving the wall clock moves where time is filed, never how much:
   usage only ever grows.
3. A launch is allowed only when no limit forbids it; a denial lists every reason
   that holds: unknown entry, not allowed for the user, user locked, already
   running (the same entry, or ``max_sessions`` reached), outside its windows
   (with the next opening), entry or group quota used up (with when it resets),
   cooldown (with its end).
4. A session's deadline is the earliest of: start + ``max_run`` + extensions;
   the moment the entry's quota for the day (plus grants) runs out; the same for
   every group the entry belongs to (shared by the user's running sessions in
   that group); the end of the current window. Quota runs are followed across
   day boundaries: the new day's quota applies from the boundary. Deadlines are
   recomputed whenever asked, so grants, extensions, reloads and new days move
   them at once.
5. Time past a deadline is never charged: a charge is capped at the deadline
   as it stood when the charged piece began. Usage of a day therefore never
   exceeds its quota plus grants plus session extensions (a policy reload's
   one-minute grace aside).
6. Warnings: each threshold fires once per session at ``deadline - before``.
   When several are due at once (a late launch, a deadline pulled in) only the
   most urgent fires. When the deadline moves later, thresholds that lie in the
   future again re-arm.
7. Ending a session, for any reason, settles its last piece of use and starts the
   (user, entry) cooldown on the wall clock — except a launch that failed: a
   program that never ran earns no rest.
8. Admin actions: grants add to a day's quota for an entry or group; extensions
   add to one session's max_run and quota allowance (windows still hold);
   a lock ends every session of the user and denies launches until unlocked.
9. A policy reload keeps running sessions; one the new policy would end at once
   (or whose entry is gone) gets at least a minute, and a critical warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from shepherd.engine.calendar import HORIZON_DAYS, QuotaCalendar, window_state
from shepherd.engine.clock import Instant
from shepherd.engine.events import (
    AlreadyRunning,
    Availability,
    Cooldown,
    Deadline,
    DeadlineCause,
    EndReason,
    EntryState,
    Event,
    GroupQuotaExhausted,
    LaunchDenied,
    Locked,
    NotAllowedForUser,
    OutsideWindow,
    QuotaExhausted,
    Reason,
    SessionDue,
    SessionEnded,
    SessionExtended,
    SessionSnapshot,
    SessionStarted,
    TimeGranted,
    UnknownEntry,
    UsageCharged,
    WarningIssued,
)
from shepherd.policy.model import Entry, Policy, QuotaSchedule

RELOAD_GRACE_S = 60.0
MIN_LAUNCH_S = 1.0
_EPSILON = 1e-6


class ActionRefused(ValueError):
    """An admin action that names something that does not exist or makes no sense."""


@dataclass
class _Session:
    id: int
    user: str
    entry: Entry
    started_wall: datetime
    started_mono: float
    charged_mono: float
    charged_wall: datetime
    extension_s: int = 0
    charged_total: float = 0.0
    fired: set[int] = field(default_factory=set)
    last_deadline: float | None = None
    floor_mono: float | None = None  # reload grace: not before this
    cap_mono: float | None = None  # entry gone after a reload: not after this
    due_reported: bool = False


class Engine:
    """Accounting state and decisions. Every method takes the current ``Instant``."""

    def __init__(
        self,
        policy: Policy,
        zone: ZoneInfo,
        *,
        usage: Mapping[tuple[str, str, date], float] | None = None,
        cooldowns: Mapping[tuple[str, str], datetime] | None = None,
        grants: Mapping[tuple[str, str, date], int] | None = None,
        locked: Iterable[str] = (),
    ) -> None:
        self.policy = policy
        self.zone = zone
        self.calendar = QuotaCalendar(zone, policy.supervisor.day_starts_at)
        self.usage: dict[tuple[str, str, date], float] = dict(usage or {})
        self.cooldowns: dict[tuple[str, str], datetime] = dict(cooldowns or {})
        self.grants: dict[tuple[str, str, date], int] = dict(grants or {})
        self.locked: set[str] = set(locked)
        self._sessions: dict[int, _Session] = {}

    # -- reading state ----------------------------------------------------------
    def session_ids(self, user: str | None = None) -> list[int]:
        return [s.id for s in self._sessions.values() if user is None or s.user == user]

    def snapshot(self, session_id: int) -> SessionSnapshot:
        s = self._session(session_id)
        return SessionSnapshot(s.id, s.user, s.entry.id, s.started_wall, s.started_mono,
                               s.charged_mono, s.extension_s, tuple(sorted(s.fired)))

    def quota_day(self, now: Instant) -> date:
        return self.calendar.quota_day(now.wall)

    def used(self, user: str, entry_ids: Iterable[str], day: date, now: Instant | None) -> float:
        """Seconds used on ``day``; with ``now``, including running sessions' uncharged time."""
        members = set(entry_ids)
        total = sum(self.usage.get((user, e, day), 0.0) for e in members)
        if now is not None:
            for s in self._sessions.values():
                if s.user == user and s.entry.id in members:
                    total += sum(sec for d, sec in self._pending(s, now) if d == day)
        return total

    def granted(self, user: str, target: str, day: date) -> int:
        return self.grants.get((user, target, day), 0)

    def deadline(self, session_id: int, now: Instant) -> Deadline | None:
        return self._refresh(self._session(session_id), now)

    def availability(
        self, user: str, entry_id: str, now: Instant, blocked: tuple[Reason, ...] = ()
    ) -> Availability:
        entry = self.policy.entry(entry_id)
        if entry is None:
            known = tuple(e.id for e in self.policy.entries if self.policy.entry_allows(e, user))
            return Availability(user, entry_id, "not_allowed",
                                (*blocked, UnknownEntry(entry_id, known)), None, 0.0, None, None)
        reasons: list[Reason] = list(blocked)
        states: list[EntryState] = []
        account = self.policy.user(user)
        running = [s for s in self._sessions.values() if s.user == user]
        same = [s.id for s in running if s.entry.id == entry_id]
        if same:
            states.append("running")
        if user in self.locked:
            reasons.append(Locked(user))
            states.append("locked")
        if account is None or not self.policy.entry_allows(entry, user):
            reasons.append(NotAllowedForUser(user, entry_id))
            states.append("not_allowed")
        max_sessions = account.max_sessions if account is not None else 1
        if same or len(running) >= max_sessions:
            reasons.append(AlreadyRunning(tuple(same or (s.id for s in running)), max_sessions,
                                          bool(same)))
            if not same:
                states.append("busy")
        day = self.calendar.quota_day(now.wall)
        used_today = self.used(user, (entry_id,), day, now)
        quota = entry.limits.daily_quota
        remaining_today = self._left(user, (entry_id,), quota, entry_id, day, now)
        never = entry.limits.max_run == 0
        if never or (remaining_today is not None and remaining_today < MIN_LAUNCH_S):
            allowed = (quota.for_weekday(day.weekday()) or 0) if quota and not never else 0
            reasons.append(QuotaExhausted(
                used_today, allowed + self.granted(user, entry_id, day),
                None if never else self._resets_at(user, (entry_id,), quota, entry_id, now)))
            states.append("quota_exhausted")
        for group in self.policy.groups_of(entry_id):
            left = self._left(user, group.entries, group.daily_quota, group.id, day, now)
            if left is not None and left < MIN_LAUNCH_S and group.daily_quota is not None:
                reasons.append(GroupQuotaExhausted(
                    group.id, self.used(user, group.entries, day, now),
                    (group.daily_quota.for_weekday(day.weekday()) or 0)
                    + self.granted(user, group.id, day),
                    self._resets_at(user, group.entries, group.daily_quota, group.id, now)))
                states.append("quota_exhausted")
        until = self.cooldowns.get((user, entry_id))
        if until is not None and until > now.wall:
            reasons.append(Cooldown(until))
            states.append("cooldown")
        else:
            until = None
        windows = window_state(entry.windows, self.zone, now.wall)
        if not windows.open:
            reasons.append(OutsideWindow(windows.next_opening))
            states.append("outside_window")
        ahead = self._deadline(user, entry, now, None, pending=True)
        time_left = None if ahead is None else max(ahead.remaining_s, 0.0)
        if time_left is not None and time_left < MIN_LAUNCH_S and not reasons:
            # Only a window closing within the second can get here.
            reasons.append(OutsideWindow(windows.next_opening))
            states.append("outside_window")
        if blocked:
            states.append("unavailable")
        return Availability(user, entry_id, states[0] if states else "available", tuple(reasons),
                            time_left if not reasons else 0.0, used_today, remaining_today, until)

    # -- sessions ---------------------------------------------------------------
    def launch(
        self, user: str, entry_id: str, now: Instant, session_id: int,
        blocked: tuple[Reason, ...] = (),
    ) -> SessionStarted | LaunchDenied:
        verdict = self.availability(user, entry_id, now, blocked)
        if verdict.reasons:
            return LaunchDenied(user, entry_id, verdict.reasons)
        if session_id in self._sessions:
            raise ActionRefused(f"session id {session_id} is already in use")
        entry = self.policy.entry(entry_id)
        assert entry is not None
        session = _Session(session_id, user, entry, now.wall, now.mono, now.mono, now.wall)
        self._sessions[session_id] = session
        return SessionStarted(session_id, user, entry_id, now.wall, self._refresh(session, now))

    def adopt(self, snap: SessionSnapshot, now: Instant) -> Deadline | None:
        """Supervise again a session recorded before a restart (same boot)."""
        entry = self.policy.entry(snap.entry)
        if entry is None:
            raise ActionRefused(f"entry {snap.entry!r} is no longer in the policy")
        session = _Session(snap.session_id, snap.user, entry, snap.started_at,
                           snap.started_mono, snap.charged_mono, now.wall, snap.extension_s,
                           fired=set(snap.fired))
        self._sessions[snap.session_id] = session
        return self._refresh(session, now)

    def charge(self, now: Instant) -> list[UsageCharged]:
        """Settle every running session's use up to ``now`` (a checkpoint)."""
        return [self._charge(s, now) for s in list(self._sessions.values())]

    def end_session(self, session_id: int, now: Instant, reason: EndReason) -> SessionEnded:
        session = self._session(session_id)
        final = self._charge(session, now)
        del self._sessions[session_id]
        until = None
        cooldown = session.entry.limits.cooldown
        if cooldown and reason != "launch_failed":
            until = now.wall + timedelta(seconds=cooldown)
            key = (session.user, session.entry.id)
            previous = self.cooldowns.get(key)
            self.cooldowns[key] = until if previous is None else max(previous, until)
        return SessionEnded(session_id, session.user, session.entry.id, reason,
                            session.charged_total, final, until)

    def due(self, now: Instant) -> list[Event]:
        """Warnings to issue and sessions to stop at ``now``."""
        events: list[Event] = []
        for s in self._sessions.values():
            deadline = self._refresh(s, now)
            if deadline is None:
                continue
            if deadline.remaining_s <= _EPSILON:
                if not s.due_reported:
                    s.due_reported = True
                    events.append(SessionDue(s.id, "window_closed"
                                             if deadline.cause == "window" else "expired"))
                continue
            thresholds = {w.before: w for w in self.policy.warnings_for(s.entry)}
            ready = [b for b in thresholds if b not in s.fired
                     and deadline.mono - b <= now.mono + _EPSILON]
            if ready:
                warning = thresholds[min(ready)]
                s.fired.update(ready)
                events.append(WarningIssued(s.id, s.user, s.entry.id, warning.before,
                                            deadline.remaining_s, warning.severity,
                                            warning.message))
        return events

    def next_wakeup(self, now: Instant) -> float | None:
        """The monotonic instant at which ``due`` next has something to say."""
        moments: list[float] = []
        for s in self._sessions.values():
            deadline = self._refresh(s, now)
            if deadline is None:
                continue
            moments.append(deadline.mono)
            moments += [deadline.mono - w.before for w in self.policy.warnings_for(s.entry)
                        if w.before not in s.fired and deadline.mono - w.before > now.mono]
        return min(moments, default=None)

    # -- admin actions ----------------------------------------------------------
    def grant(self, user: str, target: str, seconds: int, now: Instant) -> TimeGranted:
        if self.policy.user(user) is None:
            raise ActionRefused(f"unknown user {user!r}")
        if self.policy.entry(target) is None and self.policy.group(target) is None:
            raise ActionRefused(f"unknown entry or group {target!r}")
        if seconds <= 0:
            raise ActionRefused("a grant must be more than 0 seconds")
        day = self.calendar.quota_day(now.wall)
        self.grants[(user, target, day)] = self.granted(user, target, day) + seconds
        return TimeGranted(user, target, day, seconds)

    def extend(self, session_id: int, seconds: int, now: Instant) -> SessionExtended:
        if seconds <= 0:
            raise ActionRefused("an extension must be more than 0 seconds")
        session = self._session(session_id)
        self._charge(session, now)
        session.extension_s += seconds
        session.due_reported = False
        return SessionExtended(session_id, seconds, self._refresh(session, now))

    def clear_cooldown(self, user: str, entry_id: str) -> bool:
        return self.cooldowns.pop((user, entry_id), None) is not None

    def lock(self, user: str, now: Instant) -> list[SessionEnded]:
        if self.policy.user(user) is None:
            raise ActionRefused(f"unknown user {user!r}")
        self.locked.add(user)
        return [self.end_session(sid, now, "locked") for sid in self.session_ids(user)]

    def unlock(self, user: str) -> bool:
        if user not in self.locked:
            return False
        self.locked.discard(user)
        return True

    def set_policy(self, policy: Policy, now: Instant) -> list[Event]:
        """Swap in a validated policy; running sessions keep going (rule 9)."""
        events: list[Event] = list(self.charge(now))
        self.policy = policy
        self.calendar = QuotaCalendar(self.zone, policy.supervisor.day_starts_at)
        for s in self._sessions.values():
            entry = policy.entry(s.entry.id)
            if entry is None or not policy.entry_allows(entry, s.user):
                s.cap_mono = now.mono + RELOAD_GRACE_S
            else:
                s.entry = entry
            s.floor_mono = None
            deadline = self._deadline(s.user, s.entry, now, s, pending=True)
            if deadline is not None and deadline.remaining_s < RELOAD_GRACE_S:
                s.floor_mono = now.mono + RELOAD_GRACE_S
                s.fired.update(w.before for w in policy.warnings_for(s.entry))
                events.append(WarningIssued(s.id, s.user, s.entry.id, int(RELOAD_GRACE_S),
                                            RELOAD_GRACE_S, "critical",
                                            "The rules changed: 1 minute left, save now"))
            s.due_reported = False
            s.last_deadline = None
            self._refresh(s, now)
        return events

    # -- internals --------------------------------------------------------------
    def _session(self, session_id: int) -> _Session:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise ActionRefused(f"no running session {session_id}") from None

    def _pending(self, s: _Session, now: Instant) -> list[tuple[date, float]]:
        elapsed = now.mono - s.charged_mono
        if elapsed <= 0:
            return []
        return self.calendar.split(self._piece_start(s, now, elapsed), elapsed)

    @staticmethod
    def _piece_start(s: _Session, now: Instant, elapsed: float) -> datetime:
        """Where on the wall clock a piece of use began (rule 2)."""
        step = timedelta(seconds=elapsed)
        return s.charged_wall if s.charged_wall + step <= now.wall else now.wall - step

    def _charge(self, s: _Session, now: Instant) -> UsageCharged:
        elapsed = now.mono - s.charged_mono
        if elapsed <= 0:
            return UsageCharged(s.id, s.user, s.entry.id, ())
        began = self._piece_start(s, now, elapsed)
        limit = self._deadline(s.user, s.entry, Instant(began, s.charged_mono), s, pending=False)
        allowed = elapsed if limit is None else min(elapsed, max(limit.remaining_s, 0.0))
        parts = self.calendar.split(began, allowed)
        for day, seconds in parts:
            key = (s.user, s.entry.id, day)
            self.usage[key] = self.usage.get(key, 0.0) + seconds
        s.charged_mono = now.mono
        s.charged_wall = now.wall
        s.charged_total += allowed
        return UsageCharged(s.id, s.user, s.entry.id, tuple(parts), elapsed - allowed)

    def _refresh(self, s: _Session, now: Instant) -> Deadline | None:
        """The current deadline; re-arms warnings when it moved later (rule 6)."""
        deadline = self._deadline(s.user, s.entry, now, s, pending=True)
        new = deadline.mono if deadline is not None else None
        previous = s.last_deadline
        if previous is not None and (new is None or new > previous + 0.5):
            s.fired = {b for b in s.fired if new is not None and new - b <= now.mono + _EPSILON}
            s.due_reported = False
        s.last_deadline = new
        return deadline

    def _deadline(
        self, user: str, entry: Entry, now: Instant, s: _Session | None, *, pending: bool
    ) -> Deadline | None:
        view = now if pending else None
        extension = s.extension_s if s is not None else 0
        terms: list[tuple[float, DeadlineCause, str | None]] = []
        if entry.limits.max_run is not None:
            elapsed = now.mono - s.started_mono if s is not None else 0.0
            terms.append((entry.limits.max_run + extension - elapsed, "max_run", None))
        runway = self._runway(user, (entry.id,), entry.limits.daily_quota, entry.id, now, 1,
                              extension, view)
        if runway is not None:
            terms.append((runway, "quota", None))
        for group in self.policy.groups_of(entry.id):
            sharing = 1 + sum(1 for o in self._sessions.values()
                              if o is not s and o.user == user and o.entry.id in group.entries)
            runway = self._runway(user, group.entries, group.daily_quota, group.id, now,
                                  sharing, extension, view)
            if runway is not None:
                terms.append((runway, "group_quota", group.id))
        if entry.windows:
            windows = window_state(entry.windows, self.zone, now.wall)
            if not windows.open:
                terms.append((0.0, "window", None))
            elif windows.closes_at is not None:
                terms.append(((windows.closes_at - now.wall).total_seconds(), "window", None))
        if s is not None and s.cap_mono is not None:
            terms.append((s.cap_mono - now.mono, "policy_reload", None))
        if not terms:
            return None
        remaining, cause, group_id = min(terms, key=lambda t: t[0])
        if s is not None and s.floor_mono is not None and now.mono + remaining < s.floor_mono:
            remaining, cause, group_id = s.floor_mono - now.mono, "policy_reload", None
        return Deadline(now.mono + remaining, now.wall + timedelta(seconds=remaining),
                        remaining, cause, group_id)

    def _left(
        self, user: str, members: Iterable[str], schedule: QuotaSchedule | None, target: str,
        day: date, now: Instant | None,
    ) -> float | None:
        """Quota left on ``day`` (None = unlimited)."""
        if schedule is None:
            return None
        quota = schedule.for_weekday(day.weekday())
        if quota is None:
            return None
        return max(quota + self.granted(user, target, day) - self.used(user, members, day, now),
                   0.0)

    def _runway(
        self, user: str, members: Iterable[str], schedule: QuotaSchedule | None, target: str,
        now: Instant, sharing: int, allowance: int, view: Instant | None,
    ) -> float | None:
        """Seconds until this quota runs out if used from ``now`` on, across day boundaries."""
        if schedule is None:
            return None
        members = tuple(members)
        cursor = now.wall
        total = 0.0
        for offset in range(HORIZON_DAYS):
            day = self.calendar.quota_day(cursor)
            end = self.calendar.day_end(day)
            span = (end - cursor).total_seconds()
            left = self._left(user, members, schedule, target, day, view)
            if left is not None:
                if offset == 0:
                    left += allowance
                left /= sharing
                if left < span:
                    return total + left
            total += span
            cursor = end
        return None

    def _resets_at(
        self, user: str, members: Iterable[str], schedule: QuotaSchedule | None, target: str,
        now: Instant,
    ) -> datetime | None:
        if schedule is None:
            return None
        members = tuple(members)
        today = self.calendar.quota_day(now.wall)
        for offset in range(1, HORIZON_DAYS):
            day = today + timedelta(days=offset)
            left = self._left(user, members, schedule, target, day, None)
            if left is None or left >= MIN_LAUNCH_S:
                return self.calendar.day_start(day)
        return None
