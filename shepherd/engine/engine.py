"""The accounting engine: every rule about time, with no I/O.

Rules (SPEC §3 and the timing rules of §4), as this module applies them:

1. Time is passed in, never read. An ``Instant`` pairs the trusted wall clock
   (calendar questions) with a monotonic reading (how long things ran). The
   trusted wall clock is carried forward by ``CLOCK_BOOTTIME`` (clock.py), so a
   suspend moves it on and a change of the system clock does not.
2. A quota day starts at the first instant the local clock reads
   ``day_starts_at`` on its date, or later: the first of a time the clocks repeat,
   the jump over one they skip (calendar.py). It lasts until the next one starts,
   so through any daylight-saving change days neither overlap nor go back, and
   every second belongs to exactly one. A quota week is seven quota days, the
   first on ``week_starts_on``. A new ``day_starts_at`` (a reload, a restart with a
   changed policy) takes effect from the end of the day in progress: moved later,
   that day lasts until the new boundary after its old end; moved earlier, the
   first new day starts at its old end (``QuotaCalendar.moved``). Use stays on the
   day it was spent in, and no day already begun moves.
3. A session's use is the monotonic time between its checkpoints. Each piece is
   placed on the wall clock starting at the previous checkpoint (after a suspend
   the use happened before the machine slept), or ending at this one when the
   wall clock went back, and is cut at every quota-day boundary, so each second
   is charged to the day it was spent in, in positive parts that add up to the
   piece. Moving the wall clock moves where time is filed, never how much: usage
   only ever grows.
4. A launch is allowed only when no limit forbids it; a denial lists every reason
   that holds, and only those: unknown entry, not allowed for the user, user
   locked, already running (the same entry, or ``max_sessions`` reached), outside
   its windows (with the next opening), entry or group quota used up (the day's or
   the week's, whichever leaves less, with when it resets), cooldown (with its
   end). A launch that would have under a second is denied naming the limit that
   binds: a window about to close, or a group quota whose last seconds are shared
   with the user's running sessions.
5. A session's deadline is the earliest of: start + ``max_run`` + extensions; for
   the entry's quota and each of its groups' quotas, the moment that quota runs
   out if used from now on; the end of the current window. What a quota leaves on
   a day is the smaller of what its daily quota and its weekly quota leave, each
   with grants (allowance.py): a launch must fit both. A quota runs out when each
   day's quota left is spent, a group's shared among the user's running sessions
   that spend it, and then what is left of the session's extension (rule 9); quota
   runs are followed across day boundaries, the new day's quota applying from the
   boundary, and a day the session would run through counting against the week
   when the days after it are weighed. Deadlines are recomputed whenever asked, so
   grants, extensions, reloads and new days move them at once.
6. Time past a deadline is never charged: a charge is capped at the deadline as it
   stood when the charged piece began. The sessions of one checkpoint ran side by
   side, so each piece is measured against the state before any of them is
   charged. Usage of a day therefore never exceeds its quota plus grants, nor a
   week's its quota plus what its grants count for, and over all days (and all
   weeks) the use beyond a quota never exceeds the extensions of the sessions that
   count against it (a reload's minute of grace, and time that ran unwatched
   during a crash, aside: rules 10 and 11). The time past the deadline (a program
   that ignores the polite stop, for up to ``stop_grace``) is kept apart and
   reported with the session's end (``past_deadline_s``; in its snapshot too, so a
   session closed or adopted after a crash reports what it ran past it up to its
   last checkpoint).
7. Warnings: each threshold fires once per session at ``deadline - before``.
   When several are due at once (a late launch, a deadline pulled in) only the
   most urgent fires. When the deadline moves later, thresholds that lie in the
   future again re-arm.
8. Ending a session, for any reason, settles its last piece of use and starts the
   (user, entry) cooldown on the wall clock, never ending before a cooldown
   already set — except a launch that failed (a program that never ran earns no
   rest) and a lock (the lock itself refuses launches; once a parent unlocks, no
   rest is left over from it).
9. Admin actions: grants add to, take back from (never below what was used) or
   set a day's allowance (quota plus grants) for an entry or group
   (``grants.py``). Grants count toward the week's allowance too: in full on their
   own day, afterwards for the time they paid for (so an unused grant does not
   stretch the week, nor a used one shorten it; time taken back counts on its own
   day only). Time added may expire ``--until`` a time of its day, or be given for
   the rest of the week, a pool each of its days draws on beyond its own limits
   (``TimedGrant``); time given until a moment pays first, before the day's and
   the week's own time (the time that runs out soonest pays first: allowance.py);
   an expired grant counts toward its day and its week for what it paid for;
   ``due`` reports each expiry once (``GrantExpired``), and deadlines see expiries
   coming (a quota's runway is followed through them).
   An extension is extra time for one session, given once whatever
   quota days it spans: it adds to that session's ``max_run``, and to each quota
   the session counts against as an allowance that only the session's own use
   spends — the part of each day's use beyond its share of what that quota had
   left, a week's quota spent by the piece's days in turn. It is never re-added on
   a new day (windows still hold). A lock ends every session of the user and
   denies launches until unlocked.
10. A policy reload keeps running sessions; one the new policy would end at once
    (or whose entry is gone) gets at least a minute, and a critical warning — but
    never more than the old policy gave it, so no reload moves an end later.
11. Crash recovery (the daemon only carries it out). A session of the crash
    snapshot is adopted when its program is still alive in this boot,
    ``on_restart`` is ``"adopt"``, its entry still exists and allows the user, and
    the user is not locked; otherwise the daemon stops it if alive and the engine
    closes it. The store charges one second ahead at each checkpoint (the lease):
    the engine counts an adopted session exactly, without it. Time a program ran
    with no daemon watching — from the last checkpoint until its adoption, or
    until it was stopped — is charged in full, deadline or not: the child had
    it, and a crash never gives time; save what ran after the moment its deadline's
    SIGTERM was noted while no daemon ran (``recover``'s ``deadline_passed``): that
    is the stop's grace, charged as rule 6 says. When that time is unknown (the program was
    found dead), the charges stand as stored, the lease standing in for it. A
    closed session starts its cooldown from when it ended (rule 8). What an
    adopted session's extension had paid for is not stored: every second over
    its quotas on the days it ran counts as spent (fail closed).
12. Only the time a child is really there is billed, for entries that count
    ``"active"`` time (pauses.py): a session pauses while its child's screen is
    locked or another session has the seat, and after ``idle_after`` of idle,
    from when the idle began (until then the idle is held: used, not charged;
    at most ``idle_after`` of it is ever billed); for an entry whose programs are
    frozen while paused, from where they are frozen (the lock, or the idle's
    ``idle_after``: they ran until then). A paused session's own clock
    stands still, so its deadline moves out by the paused time and its warnings
    re-arm (rule 7); windows and quota days still end it on time. It wakes the
    shell for nothing but those wall-clock moments. Its billed time is its
    running time less its pause intervals.
13. A household (several machines, one store): the other machines' charged use
    and running sessions are values (``household.py``), replaced whenever the
    store changes. Their use counts on every quota as this machine's does, their
    running sessions count toward ``max_sessions`` (the same entry running
    elsewhere is already running), share group quotas, and their use since
    their last checkpoint counts as spent, up to the deadline their machine
    last announced. One their machine said is paused (rule 12) spends nothing
    and shares no quota while paused, but still counts toward ``max_sessions``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from shepherd.engine.allowance import (
    DayGrants,
    GrantsOn,
    PerDay,
    QuotaLimits,
    Standing,
    WeekFigure,
    binding,
    day_standing,
    own_added,
    pool_left,
    pool_unused,
    week_added_used,
    week_beyond_own,
    week_own_left,
    week_own_room,
    week_own_short,
    week_pool_drawn,
    week_standing,
    week_standing_paid,
)
from shepherd.engine.calendar import (
    HORIZON_DAYS,
    QuotaCalendar,
    WindowState,
    open_intervals,
    window_state,
)
from shepherd.engine.clock import Instant
from shepherd.engine.events import (
    STOPS_NOW_S,
    AlreadyRunning,
    Availability,
    Cooldown,
    Deadline,
    DeadlineCause,
    EndReason,
    EntryState,
    Event,
    GrantCap,
    GrantExpired,
    GroupQuotaExhausted,
    LaunchDenied,
    Locked,
    NotAllowedForUser,
    OutsideWindow,
    PauseCause,
    Period,
    QuotaExhausted,
    Reason,
    SessionDue,
    SessionEnded,
    SessionExtended,
    SessionPaused,
    SessionResumed,
    SessionSnapshot,
    SessionStarted,
    TimeGranted,
    UnknownEntry,
    UsageCharged,
    WarningIssued,
)
from shepherd.engine.grants import (
    NO_RAISES,
    DayRaises,
    GrantChange,
    GrantMode,
    GrantRefused,
    TimedGrant,
    grant_change,
    grant_too_long,
)
from shepherd.engine.household import Household
from shepherd.engine.outlook import GroupCheck, Guard, Limit, Outlook, Term
from shepherd.engine.pauses import Away, Pause, PauseClock
from shepherd.policy.model import Entry, Group, Policy

RELOAD_GRACE_S = 60.0
MIN_LAUNCH_S = 1.0
_EPSILON = 1e-6
# A warning given late, by more than this (a session started, or moved, within its
# threshold), brings along the ones due within this many seconds after it: one
# warning, the most urgent, not two a second apart ("1 minute 1 second left", then
# "1 minute left").
WARNINGS_GATHER_S = 5.0


class ActionRefused(ValueError):
    """An admin action that names something that does not exist or makes no sense."""


def unknown_child(policy: Policy, name: str, besides: str = "") -> str:
    """A parent named a child the policy does not have: said with the children it has
    (``stop``, ``grant``, ``lock``, ``usage`` alike; ``besides``: what else is not there)."""
    children = ", ".join(u.name for u in policy.users)
    return (f"there is no child called {name!r} in the policy{besides} "
            f"(the children are: {children})")


class GrantUntilRefused(ActionRefused):
    """A grant's ``until`` that has passed or is after its day's end; ``data`` carries the
    code (``until_passed``, ``until_after_day_end``) and both moments."""

    def __init__(self, message: str, code: str, until: datetime, day_end: datetime) -> None:
        super().__init__(message)
        self.data = {"code": code, "until": until.isoformat(), "day_ends_at": day_end.isoformat()}


class AlreadyExtended(ActionRefused):
    """A second extension of one session: a session is extended once (SPEC §3, whatever
    days it spans); more time after that is a grant. ``data`` carries the code."""

    def __init__(self, message: str, session_id: int, extension_s: int) -> None:
        super().__init__(message)
        self.data = {"code": "already_extended", "session_id": session_id,
                     "extension_s": extension_s}


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
    past_deadline: float = 0.0  # ran past its deadline (the stop's grace): never charged
    fired: set[int] = field(default_factory=set)
    last_deadline: float | None = None
    floor_mono: float | None = None  # reload grace: not before this
    cap_mono: float | None = None  # entry gone after a reload: not after this
    # Stopped at its deadline (its SIGTERM went): that deadline stands, with its cause and
    # period, whatever is given later (a grant must not pay for the stop's grace).
    held: tuple[float, DeadlineCause, str | None, Period] | None = None
    # Taken back while the household's books cannot be read: the deadline its quotas
    # last set (this machine's books alone know neither the others' use nor the
    # household's grants, so they stand in for its quotas until the books are read).
    known_mono: float | None = None
    due_reported: bool = False
    extension_used: dict[str, float] = field(default_factory=dict)  # per quota target
    unwatched_mono: float = 0.0  # use up to here ran with no daemon watching (rule 11)
    # Of that, the stop's grace after its deadline's SIGTERM, sent while no daemon ran
    # (monotonic, from, to): not charged, as without a crash (rule 6; review-14-s19c R4).
    grace_unwatched: tuple[float, float] | None = None
    pauses: PauseClock = field(default_factory=PauseClock)  # rule 12
    runs_on: bool = False  # its pauses could not be enforced: billed as running (rule 12)
    # Its program is being started (``hold``): nothing is settled until it runs, so one
    # that never ran is charged nothing (``release``: from its decision on, as ever).
    starting: bool = False


@dataclass(frozen=True)
class _Quota:
    """The quotas a session counts against: its entry's, or one of its groups'."""

    limits: QuotaLimits
    sharing: int  # running sessions of the user that spend it, this one included
    cause: DeadlineCause
    group: str | None

    @property
    def target(self) -> str:
        return self.limits.target


@dataclass(frozen=True)
class _Piece:
    """Use since a session's last checkpoint, as it will be charged."""

    parts: tuple[tuple[date, float], ...]
    allowed: float
    forfeited: float
    extension_used: dict[str, float]


@dataclass(frozen=True)
class _Runway:
    """How long a quota lasts a session used from now on (``Engine._runway_now``)."""

    term: Term
    period: Period
    guard: Guard | None  # ran out on its first day: while that stays so


def _earliest(limits: Iterable[Limit], now: Instant, floor_mono: float | None) -> Deadline | None:
    """The deadline the terms set at ``now``: the earliest (the first named on a tie),
    never before a reload's ``floor_mono``."""
    terms = [(limit.term.at(now.wall), limit) for limit in limits]
    if not terms:
        return None
    remaining, first = min(terms, key=lambda t: t[0])
    cause, group_id, period = first.cause, first.group, first.period
    if floor_mono is not None and now.mono + remaining < floor_mono:
        remaining, cause, group_id, period = floor_mono - now.mono, "policy_reload", None, "day"
    return Deadline(now.mono + remaining, now.wall + timedelta(seconds=remaining),
                    remaining, cause, group_id, period)


def _calendar(policy: Policy, zone: ZoneInfo) -> QuotaCalendar:
    supervisor = policy.supervisor
    return QuotaCalendar(zone, supervisor.day_starts_at, supervisor.week_start_weekday)


def entry_limits(entry: Entry) -> QuotaLimits:
    return QuotaLimits(entry.id, (entry.id,), entry.limits.daily_quota,
                       entry.limits.weekly_quota)


def group_limits(group: Group) -> QuotaLimits:
    return QuotaLimits(group.id, group.entries, group.daily_quota, group.weekly_quota)


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
        timed_grants: Iterable[TimedGrant] = (),
        expiries_noted: Iterable[int] = (),
        aside: Mapping[tuple[str, str, date], int] | None = None,
        beyond: Mapping[tuple[str, str, date], int] | None = None,
        kept: Mapping[tuple[str, str, date], int] | None = None,
        raises: Mapping[tuple[str, str, date], tuple[int, int, int, int]] | None = None,
    ) -> None:
        self.policy = policy
        self.zone = zone
        self.calendar = _calendar(policy, zone)
        self.usage: dict[tuple[str, str, date], float] = dict(usage or {})
        self.cooldowns: dict[tuple[str, str], datetime] = dict(cooldowns or {})
        self.grants: dict[tuple[str, str, date], int] = dict(grants or {})
        # Of each day's take-backs and sets (``grants``), the week's time a set set
        # aside for the day: ``grants`` holds it taken off (ledger10).
        self.aside: dict[tuple[str, str, date], int] = {k: v for k, v in (aside or {}).items()
                                                        if v}
        # Each day's use its own time had not paid for (time given until a moment and
        # the week's time had) when its own time last changed: never less afterwards (a
        # grant never pays for use made before it was given, review-1215-s10).
        self.beyond: dict[tuple[str, str, date], int] = {
            k: v for k, v in (beyond or {}).items() if v}
        # On a day with a daily and a weekly quota, the added part of its own time as the
        # last change of that time left it (DayGrants.kept): time added for today adds to
        # it; a cut takes the quota minutes the week could not pay first (a set), then
        # the added part, never what of it was used (low17), then the quota's part. The
        # last change's figure stands, lower or higher (review-15-s18b H1: a figure that
        # only rose let a second set count added time past the weekly quota).
        self.kept: dict[tuple[str, str, date], int] = {
            k: v for k, v in (kept or {}).items() if v}
        # Of each day's own time, what its words raised and took (grants.py DayRaises), as
        # the last change left it: a set that lowers the day takes back first what its
        # raises gave, before it sets the week's time aside (review-15-s19d L1), so a set
        # and a set back after it leave the week as it was (a raise that filled what a
        # take-back had taken of the quota's part, then a set back down that set the
        # week's time aside instead, gave the other days that time: docs/dev-notes/s22).
        self.raises: dict[tuple[str, str, date], DayRaises] = {
            k: DayRaises(*v) for k, v in (raises or {}).items() if any(v)}
        self.locked: set[str] = set(locked)
        self.household = Household()
        self.timed: dict[int, TimedGrant] = {g.id: g for g in timed_grants}
        self.expiries_noted: set[int] = set(expiries_noted)  # reported by ``due`` already
        # The use of an expired grant's target and day up to its expiry, kept when use
        # after it was about to be charged before the expiry was noted (review 15-s8 H2).
        self._use_at_expiry: dict[int, float] = {}
        # Crashed sessions of this boot being closed by the restart (``closing``) until
        # their ``end_recovered``: user, entry and the lease still in the usage for them.
        self._closing: dict[int, tuple[str, str, tuple[date, float] | None]] = {}
        self._limits: dict[str, QuotaLimits] = {}  # each target's quotas, for this policy
        self.away: dict[str, Away] = {}  # what each child's screen says (rule 12)
        self._sessions: dict[int, _Session] = {}
        self._memo: dict[tuple[Any, ...], Any] | None = None  # inside ``reading`` only
        # Every change of the state above bumps the version; outlooks (outlook.py) kept
        # per (user, entry) answer while it stands. A checkpoint's charge is no change
        # for them: only what a running session spends reads it, and an outlook works
        # that out afresh (the entry itself running) or again at each instant (a group
        # quota: ``live``). A change of one child's state (its sessions, grants, lock,
        # cooldowns, pauses) is that child's alone (``version_of``): the other
        # children's outlooks stand (warn16: a household's launches and ends made
        # every ``status`` work out all 150 lines again).
        self._version = 0
        self._all_changed = 0  # the version of the last change that may touch any child
        self._user_changed: dict[str, int] = {}  # of the last change of each child's
        self._outlooks: dict[tuple[str, str], Outlook] = {}

    # -- reading state ----------------------------------------------------------
    def session_ids(self, user: str | None = None) -> list[int]:
        return [s.id for s in self._sessions.values() if user is None or s.user == user]

    def snapshot(self, session_id: int) -> SessionSnapshot:
        s = self._session(session_id)
        return SessionSnapshot(s.id, s.user, s.entry.id, s.started_wall, s.started_mono,
                               s.charged_mono, s.extension_s, tuple(sorted(s.fired)),
                               s.pauses.paused_s, s.past_deadline)

    def pause_of(self, session_id: int) -> Pause | None:
        """The pause a session is in, with its cause and since when (None: billed)."""
        return self._session(session_id).pauses.shown()

    def billing(self, session_id: int) -> bool:
        """Is a session being charged now (running, neither paused nor held idle)?"""
        s = self._sessions.get(session_id)
        return s is not None and not s.pauses.paused and s.pauses.held is None

    def quota_day(self, now: Instant) -> date:
        return self.calendar.quota_day(now.wall)

    def set_household(self, household: Household) -> None:
        """The other machines' use and sessions, as the store has them now (rule 13)."""
        self.household = household
        self._changed()

    def set_books(self, *, cooldowns: Mapping[tuple[str, str], datetime],
                  grants: Mapping[tuple[str, str, date], int], timed: Iterable[TimedGrant],
                  expiries_noted: Iterable[int], locked: Iterable[str],
                  aside: Mapping[tuple[str, str, date], int] | None = None,
                  beyond: Mapping[tuple[str, str, date], int] | None = None,
                  kept: Mapping[tuple[str, str, date], int] | None = None,
                  raises: Mapping[tuple[str, str, date], tuple[int, int, int, int]] | None = None
                  ) -> None:
        """The household's cooldowns, grants, noted expiries and locks, as read (rule 13)."""
        self.cooldowns = dict(cooldowns)
        self.grants = dict(grants)
        self.aside = {k: v for k, v in (aside or {}).items() if v}
        self.beyond = {k: v for k, v in (beyond or {}).items() if v}
        self.kept = {k: v for k, v in (kept or {}).items() if v}
        self.raises = {k: DayRaises(*v) for k, v in (raises or {}).items() if any(v)}
        # What a grant paid for, noted here a moment ago, until the store has it too.
        known = {gid: g.paid for gid, g in self.timed.items() if g.paid is not None}
        self.timed = {g.id: g if g.paid is not None or g.id not in known
                      else replace(g, paid=known[g.id]) for g in timed}
        self.expiries_noted |= set(expiries_noted)
        self.locked = set(locked)
        for s in self._sessions.values():  # the books are read: quotas, not a held deadline
            s.known_mono = None
        self._changed()

    @property
    def version(self) -> int:
        """Bumped by every change of the state outlooks are worked out from."""
        return self._version

    def version_of(self, user: str) -> int:
        """Bumped by every change of the state ``user``'s outlooks are worked out from:
        a change of another child's state alone leaves it as it was."""
        return max(self._all_changed, self._user_changed.get(user, 0))

    def _changed(self, user: str | None = None) -> None:
        """The state changed (``user``'s alone, or anyone's): no outlook of theirs
        worked out before answers any more."""
        self._version += 1
        if user is None:
            self._all_changed = self._version
            self._outlooks.clear()
        else:
            self._user_changed[user] = self._version

    def _changed_by(self, events: Iterable[Event]) -> None:
        """The state changed for the children these events are about."""
        users: set[str | None] = set()
        for event in events:
            user = getattr(event, "user", None)
            if user is None:  # a session's event that does not name its child
                sid = getattr(event, "session_id", None)
                s = self._sessions.get(sid) if isinstance(sid, int) else None
                user = s.user if s is not None else None
            users.add(user if isinstance(user, str) else None)
        for user in users:
            self._changed(user)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """A read-only pass (``status`` asks ~150 questions at one instant): each sum of
        use, each quota's runway and each entry's windows are worked out once. Nothing
        may change the engine inside it."""
        self._memo = {}
        try:
            yield
        finally:
            self._memo = None

    def used(self, user: str, entry_ids: Iterable[str], day: date, now: Instant | None) -> float:
        """Seconds used on ``day``, on every machine; with ``now``, including running
        sessions' uncharged time."""
        ids = entry_ids if isinstance(entry_ids, tuple) else tuple(entry_ids)
        key = ("used", user, ids, day, now.mono if now is not None else None)
        if self._memo is not None and key in self._memo:
            return float(self._memo[key])
        total = self._used(user, ids, day, now)
        if self._memo is not None:
            self._memo[key] = total
        return total

    def _used(self, user: str, entry_ids: tuple[str, ...], day: date,
              now: Instant | None) -> float:
        members = set(entry_ids)
        total = sum(self.usage.get((user, e, day), 0.0)
                    + self.household.usage.get((user, e, day), 0.0) for e in members)
        if now is not None:
            for s in self._sessions.values():
                if s.user == user and s.entry.id in members:
                    total += sum(sec for d, sec in self._pending(s, now) if d == day)
            for r in self.household.sessions:  # ended ones too: their last use counts
                unseen = r.unseen_s(now)
                if r.user == user and r.entry in members and unseen > 0:
                    began = now.wall - timedelta(seconds=now.mono - r.seen_mono)
                    total += sum(sec for d, sec in self.calendar.split(began, unseen)
                                 if d == day)
        return total

    def granted(self, user: str, target: str, day: date) -> int:
        """The day's grants that last the day: time added for today, taken back, set."""
        return self._signed(user, target, day) + sum(
            g.seconds for g in self._timed_of(user, target) if g.day == day and self.with_day(g))

    def _signed(self, user: str, target: str, day: date) -> int:
        """The day's grants without an expiry: taken back, set (and added before grants
        for today had one)."""
        return self.grants.get((user, target, day), 0)

    def _aside(self, user: str, target: str, day: date) -> int:
        """The week's time a set of ``day`` set aside (taken off in ``_signed``)."""
        return self.aside.get((user, target, day), 0) if self.aside else 0

    def _beyond(self, user: str, target: str, day: date) -> int:
        """The use of ``day`` the week's time had paid for when the day's own time last
        changed (since review-1215-s12 F1 without what time given until a moment paid:
        that pays first and is counted apart; a row kept before holds it too, which
        only makes the week's time the day drew larger: fails closed)."""
        return self.beyond.get((user, target, day), 0) if self.beyond else 0

    def _kept(self, user: str, target: str, day: date) -> int:
        """The added part of ``day``'s own time as its last change left it
        (``DayGrants.kept``; 0: none, or no change yet: its own time splits by its net)."""
        return self.kept.get((user, target, day), 0) if self.kept else 0

    def _raises(self, user: str, target: str, day: date) -> DayRaises:
        """What ``day``'s words raised and took of its own time (grants.py DayRaises)."""
        return self.raises.get((user, target, day), NO_RAISES) if self.raises else NO_RAISES

    def _beyond_now(self, user: str, limits: QuotaLimits, day: date, now: Instant
                    ) -> float:
        """The use of ``day`` up to ``now`` its own time did not pay for: what time given
        until a moment paid (it pays first, review-1215-s12 F1), and beyond that and the
        day's own time what the week's time paid, never less than the week's time had
        paid when the day's own time last changed (review-1215-s10)."""
        return self._timed_paid_now(user, limits, day, now) + self._week_paid_now(
            user, limits, day, now)

    def _week_paid_now(self, user: str, limits: QuotaLimits, day: date, now: Instant
                       ) -> float:
        """Of the use of ``day`` up to ``now``, what the week's time paid for: beyond
        what time given until a moment paid and the day's own time, never less than
        when the day's own time last changed (what ``_beyond`` records)."""
        quota = limits.daily_quota(day)
        recorded = float(self._beyond(user, limits.target, day))
        timed = self._timed_paid_now(user, limits, day, now)
        if quota is None:
            if limits.weekly is None:
                return 0.0
            over = self._week_beyond_own(user, limits, day, now)
            return max(over - timed, recorded, 0.0)
        own = quota + self.granted(user, limits.target, day) + self._aside(
            user, limits.target, day)
        used = self.used(user, limits.members, day, now)
        drawn = 0.0
        if limits.weekly is not None:
            # the week's grants paid within the day's quota too where the week's quota
            # had run out (review-15-s16 P2)
            drawn = self._walked_now(week_pool_drawn, user, limits, day, now)
        return max(used - timed - own, recorded, drawn, 0.0)

    def _walked_now(self, figure: WeekFigure, user: str, limits: QuotaLimits, day: date,
                    now: Instant) -> float:
        """One of the week's walk's figures for ``day`` (allowance.py: ``week_pool_drawn``,
        ``week_added_used``, ``week_own_short``, ``week_own_room``), with the use and
        grants up to ``now``."""
        def used_on(d: date) -> float:
            return self.used(user, limits.members, d, now)

        return figure(limits, self.calendar.week_days(day), day, used_on,
                      self._grants_on(user, limits.target, now.wall, used_on))

    def _kept_after(self, user: str, limits: QuotaLimits, day: date, now: Instant,
                    own_change: int, unusable: int) -> int:
        """The added part of ``day``'s own time once it changes by ``own_change`` (the
        change to the day's grants and what a set sets aside of the week's time): raised,
        it first gives back to the quota's part what a cut took of it that the week could
        still pay (review-15-s19 N1), and the added part grows by the rest (time added
        after a cut of what the week could not pay is time for the child, review-15-s18b
        M1); lowered, the cut takes first the ``unusable`` quota minutes
        (a set, review-15-s17d F2), then the added part, never below what of it was used
        (low17), then the quota's part (review-15-s18 F3: ``+20m`` on a spent week, then
        ``=12m``, left nothing). 0 where the day has no daily or no weekly quota."""
        if limits.daily_quota(day) is None or limits.weekly is None:
            return 0

        def used_on(d: date) -> float:
            return self.used(user, limits.members, d, now)

        grants = self._grants_on(user, limits.target, now.wall, used_on)(day)
        added = math.floor(own_added(grants) + 1e-6)
        if own_change >= 0:
            # what a cut took of the quota's part that the week could still pay comes
            # back first, as quota (review-15-s19 N1: ``=0m`` then ``=20m`` counted the 20
            # as added time, and the week paid none of it)
            room = math.floor(self._walked_now(week_own_room, user, limits, day, now) + 1e-6)
            return added + own_change - min(own_change, room)
        # (of the added time, what the use so far used stays: the quota's part pays first)
        used = math.floor(self._walked_now(week_added_used, user, limits, day, now) + 1e-6)
        return max(added - max(-own_change - unusable, 0), used, 0)

    def _timed_paid_now(self, user: str, limits: QuotaLimits, day: date, now: Instant
                        ) -> float:
        """What the time given until moments of ``day`` paid for up to ``now``: those
        that ran out, as noted (or as they would be), and of those still counting what
        they have paid so far (``timed_left``)."""
        if not self.timed:
            return 0.0

        def used_on(d: date) -> float:
            return self.used(user, limits.members, d, now)

        ran_out = self._grants_on(user, limits.target, now.wall, used_on)(day)
        counting = sum(g.seconds - left
                       for g, left in self.timed_left(user, limits.target, day, now))
        return ran_out.paid + ran_out.timed + counting

    def _week_beyond_own(self, user: str, limits: QuotaLimits, day: date,
                         now: Instant, used_until: float | None = None) -> float:
        """Without a daily quota, the use of ``day`` up to ``now`` beyond the week's
        allowance with the day's own time (its time added for today, take-backs and
        sets): what its time given until a moment and the week's time paid for."""
        def used_on(d: date) -> float:
            used = self.used(user, limits.members, d, now)
            return min(used, used_until) if d == day and used_until is not None else used

        on = self._grants_on(user, limits.target, now.wall, used_on)

        def grants_on(d: date) -> DayGrants:
            g = on(d)
            if d != day:
                return g
            return DayGrants(float(self.granted(user, limits.target, d)), 0.0, g.pool, 0.0,
                             float(self._aside(user, limits.target, d)), g.drawn)

        return week_beyond_own(limits, self.calendar.week_days(day), day, used_on, grants_on)

    def _week_own_left(self, user: str, limits: QuotaLimits, day: date, now: Instant
                       ) -> float:
        """Without a daily quota, what ``day``'s own time (the week's quota and the day's
        time added for today, take-backs and sets) has left now: what a take-back for
        today may take before the time given until a moment (review-9-s11 L2). Never
        less than nothing, nor what the others paid for counts as its own use."""
        def used_on(d: date) -> float:
            return self.used(user, limits.members, d, now)

        on = self._grants_on(user, limits.target, now.wall, used_on)

        def grants_on(d: date) -> DayGrants:
            g = on(d)
            if d != day:
                return g
            return DayGrants(float(self.granted(user, limits.target, d)), 0.0, g.pool, 0.0,
                             float(self._aside(user, limits.target, d)), g.drawn)

        left = week_own_left(limits, self.calendar.week_days(day), day, used_on, grants_on)
        return max(left + self._beyond_now(user, limits, day, now), 0.0)

    def _timed_of(self, user: str, target: str) -> list[TimedGrant]:
        if not self.timed:
            return []
        return [g for g in self.timed.values() if g.user == user and g.target == target]

    def _grants_on(self, user: str, target: str, at: datetime | None,
                   used_on: PerDay | None = None,
                   excluding: frozenset[int] = frozenset(),
                   noted: dict[int, float] | None = None,
                   most: dict[int, float] | None = None) -> GrantsOn:
        """A target's grants per day as they stand at ``at`` (None: none expired yet);
        ``used_on``: the target's use per day the standing counts (what an expired grant
        not noted yet may have paid for); ``excluding``: grants left out; ``noted``: a
        projection's own notes (``_runway_now``): what each grant that expired in it
        paid for, noted the first time it is seen expired (at its end, where the
        projected use is known), and counted so after it; ``most``: beside each such
        note, the most the grant can have paid for before a daily quota caps it (what
        the week's count may let it pay: ``_note_week_paid``)."""
        timed = self._timed_of(user, target)

        def on(day: date) -> DayGrants:
            full, expired, pool = float(self._signed(user, target, day)), 0.0, 0.0
            paid = 0.0
            grants = sorted((g for g in timed if g.day == day and g.id not in excluding),
                            key=lambda g: (g.expires, abs(g.id)))
            known = noted if noted is not None else {}
            aside = float(self._aside(user, target, day))
            floor = float(self._beyond(user, target, day))
            projected: dict[int, float] = {}  # the soonest ending pays first (grants9a)
            with_day = 0.0  # of ``expired``, time added for the day (it is over)
            timed_paid = 0.0  # of ``expired``, time given until a moment (not noted yet)
            counting = 0.0  # of ``full``, time given until a moment that still counts
            counting_paid = 0.0  # and what it paid for so far
            for g in grants:
                if g.week:
                    pool += g.seconds  # counts for its whole week, never beyond it
                elif at is None or at < g.expires:
                    full += g.seconds
                    if not self.with_day(g):
                        counting += g.seconds
                        if used_on is not None:  # (the sooner ending first: its order)
                            projected[g.id] = self._walked(g, used_on(day),
                                                           {**known, **projected})
                            counting_paid += projected[g.id]
                elif g.paid is not None and not self.with_day(g):
                    paid += g.paid
                elif g.id in known:
                    paid += known[g.id]
                else:
                    # time given until a moment pays before the day's own time and the
                    # week's (it runs out sooner: review-1215-s12 F1): all of the use
                    # since it was given that sooner ones did not pay for, up to its time
                    projected[g.id] = self._paid(g, used_on, {**known, **projected})
                    if self.with_day(g):
                        with_day += projected[g.id]
                    else:
                        timed_paid += projected[g.id]
                    expired += projected[g.id]
                    if noted is not None and not self.with_day(g):
                        noted[g.id] = projected[g.id]
                        if most is not None:
                            most[g.id] = projected[g.id]
            # what the week's time had paid for when the day's own time last changed
            drawn = floor
            return DayGrants(full, expired, pool, paid, aside, drawn,
                             self._taken_from_day(grants, at) if with_day else 0.0,
                             timed_paid, float(self._kept(user, target, day)), counting,
                             counting_paid)
        return on

    def _taken_from_day(self, grants: Sequence[TimedGrant], at: datetime | None) -> float:
        """Of a day's take-backs and sets, what they took of its time added for today
        that has run out by ``at``: those made after each was given took from it, the
        last given first (as ``_expiry_shares`` counts them); the rest of them changed
        the day's own time (issue 15)."""
        taken = later = 0.0
        for g in sorted((g for g in grants if self.with_day(g)), key=lambda g: -abs(g.id)):
            if at is None or at < g.expires:
                continue
            part = min(float(g.seconds), max(-float(g.signed_after) - later, 0.0))
            later += part
            taken += part
        return taken

    def _paid(self, g: TimedGrant, used_on: PerDay | None,
              projected: Mapping[int, float] | None = None) -> float:
        """What an expired grant of a day counts for: what it paid for, as noted when it
        expired (it pays first, before the day's own time and the week's: allowance.py,
        review-1215-s12 F1). Until it is noted (the moment of its expiry, or a projection
        past it), what it paid for: its seconds, and no more than the day's use since it
        was given that the grants paying before it did not pay for (``_walked``).
        Time added for today runs out with its day, so all of its
        day's use came while it counted: its seconds, netted with the day's take-backs
        and sets in the day's total. What is not known (an old store's row) is nothing:
        an expired grant never gives time back."""
        if self.with_day(g):
            return float(g.seconds)
        if g.paid is not None:
            return g.paid
        if g.id in self.expiries_noted or used_on is None or g.used_before is None:
            return 0.0
        used = used_on(g.day)
        kept = self._use_at_expiry.get(g.id)  # no use after its end (review 15-s8 H2)
        used = used if kept is None else min(used, kept)
        return self._walked(g, used, projected or {})

    def _walked(self, g: TimedGrant, used: float, paid: Mapping[int, float]) -> float:
        """What time given until a moment (``g``) paid for of its day's use up to
        ``used`` (the use at its end, or now): a walk of the use in the order it came,
        each piece paid by the grants in force then (given before it, not yet ended), the
        soonest ending first (of those ending together, the first given), while they
        have time left (review-1215-s12 F1, review-15-s15 N3: an estimate of who paid
        before over-paid). Only the grants before ``g`` in that order matter. One whose
        pay is known (noted at its end, or ``paid``: a count's own, in that order) pays
        exactly that, the earliest it could: the walk that noted it stopped there, so its
        end is not needed. One whose pay is not known pays all its time, until the use
        kept at its end or ``used`` (fails closed); one given at a moment not known, from
        ``g``'s (fails closed)."""
        if g.used_before is None:
            return 0.0
        order = (g.expires, abs(g.id))
        parts: list[tuple[tuple[datetime, int], float, float, float, int]] = []
        for h in self._timed_of(g.user, g.target):
            key = (h.expires, abs(h.id))
            if h.day != g.day or h.week or self.with_day(h) or key > order:
                continue
            start = float(h.used_before if h.used_before is not None else g.used_before)
            known = h.paid if h.paid is not None else paid.get(h.id)
            if h.id == g.id:
                parts.append((key, start, used, float(h.seconds), h.id))
            elif known is not None:
                parts.append((key, start, math.inf, known, h.id))
            else:
                parts.append((key, start, self._use_at_expiry.get(h.id, used),
                              float(h.seconds), h.id))
        parts.sort()
        left = {part[4]: part[3] for part in parts}
        points = sorted({x for part in parts for x in part[1:3] if x < used} | {used})
        for a, b in pairwise(points):
            piece = b - a
            for _, start, end, _, hid in parts:
                if piece <= 0:
                    break
                if start <= a and end >= b and left[hid] > 0:
                    part = min(piece, left[hid])
                    left[hid] -= part
                    piece -= part
        return max(float(g.seconds) - left[g.id], 0.0)

    def _expiries(self, user: str, target: str, after: datetime,
                  before: datetime) -> list[datetime]:
        """When a target's grants of a day expire between ``after`` and ``before``."""
        return sorted({g.expires for g in self._timed_of(user, target)
                       if not g.week and after < g.expires < before and not self.with_day(g)
                       and g.seconds > 0})

    def with_day(self, g: TimedGrant) -> bool:
        """Time added for today (the default): it runs out when its day ends."""
        return not g.week and g.expires == self.calendar.day_end(g.day)

    def limits_of(self, target: str) -> QuotaLimits | None:
        """The quotas of an entry or a group (None: no such target)."""
        known = self._limits.get(target)
        if known is not None:
            return known
        entry = self.policy.entry(target)
        group = self.policy.group(target) if entry is None else None
        found = (entry_limits(entry) if entry is not None
                 else group_limits(group) if group is not None else None)
        if found is not None:
            self._limits[target] = found
        return found

    def _entry_limits(self, entry: Entry) -> QuotaLimits:
        if self.policy.entry(entry.id) is not entry:  # one a reload replaced (rule 10): its
            return entry_limits(entry)  # own quotas, never kept under the new entry's id
        found = self._limits.get(entry.id)
        if found is None:
            found = self._limits[entry.id] = entry_limits(entry)
        return found

    def _group_limits(self, group: Group) -> QuotaLimits:
        found = self._limits.get(group.id)
        if found is None:
            found = self._limits[group.id] = group_limits(group)
        return found

    def standing(self, user: str, limits: QuotaLimits, day: date, now: Instant | None,
                 at: datetime | None = None) -> tuple[Standing | None, Standing | None]:
        """Where a target stands on ``day``: (its daily quota, its weekly quota); with
        ``now``, running sessions' uncharged time included; grants as they stand at
        ``at`` (default: at ``now``). None: no such limit."""
        return self._standing(user, limits, day, now, at=at)

    def day_total(self, user: str, limits: QuotaLimits, day: date, now: Instant
                  ) -> tuple[float, tuple[tuple[float, float, datetime], ...]] | None:
        """The day's total as a parent knows it, and beside it the time given until
        moments of ``day`` still to come. The total: the day's quota and its own grants
        (time added for today, take-backs and sets, the week's time it may draw), with
        what time given until a moment that has ended paid; it stays while such time
        pays (review-15-s15 N5: not "of 2m1s", "of 2m24s"... a second at a time). Per
        moment still to come, soonest first: what can still be used of the time given
        until it before then (``_usable_parts``: review-15-s15 N4), what it has paid so
        far, and the moment. None: no daily quota."""
        today, _ = self._standing(user, limits, day, now)
        if today is None:
            return None
        given: dict[datetime, tuple[float, float]] = {}  # per moment: its seconds, left
        for g, left in self.timed_left(user, limits.target, day, now):
            seconds, rest = given.get(g.expires, (0.0, 0.0))
            given[g.expires] = (seconds + g.seconds, rest + left)
        if not given:
            return today.allowance_s, ()
        usable = {end: part for _, part, end
                  in self._usable_parts(user, limits.target, day, now) or ()}
        total = today.allowance_s - sum(seconds for seconds, _ in given.values())
        return total, tuple((min(usable.get(end, rest), rest), seconds - rest, end)
                            for end, (seconds, rest) in sorted(given.items()))

    def on_top(self, user: str, target: str, day: date, now: Instant
               ) -> tuple[tuple[float, datetime], ...]:
        """What is left of the time given until moments of ``day`` still to come, per
        moment, soonest first (``timed_left``); a moment with nothing left is left out."""
        left: dict[datetime, float] = {}
        for g, part in self.timed_left(user, target, day, now):
            left[g.expires] = left.get(g.expires, 0.0) + part
        return tuple((seconds, end) for end, seconds in left.items() if seconds >= 0.5)

    def timed_left(self, user: str, target: str, day: date, now: Instant
                   ) -> list[tuple[TimedGrant, float]]:
        """Each grant given until a moment of ``day`` still to come, soonest ending first
        (of those ending together, the first given first), with what is left of it: the
        one place that says who paid for which minute of them (ledger10). Each pays for
        the use since it was given that the grants ending before it did not pay for
        (review 15-s8 MEDIUM-1), before the day's own time and the week's: time that runs
        out soonest pays first (review-1215-s12 F1), as their expiries will note it; a
        take-back takes from the end of this list."""
        limits = self.limits_of(target)
        timed = sorted((g for g in self._timed_of(user, target)
                        if g.day == day and not g.week and not self.with_day(g)
                        and g.expires > now.wall and g.seconds > 0),
                       key=lambda g: (g.expires, abs(g.id)))
        if limits is None or not timed:
            return []
        used, paid = self.used(user, limits.members, day, now), dict[int, float]()
        for g in timed:  # each pays for the use since it was given, before the day's own
            paid[g.id] = self._walked(g, used, paid)
        return [(g, g.seconds - paid[g.id]) for g in timed]

    def _lasting(self, user: str, limits: QuotaLimits, day: date, now: Instant
                 ) -> tuple[tuple[Standing | None, Standing | None], datetime] | None:
        """(day, week) standings once the last time given until a moment of ``day``
        has run out, and when that is (None: no such time is still to run out)."""
        day_end = self.calendar.day_end(day)
        ends = self._expiries(user, limits.target, now.wall, day_end)
        if not ends:
            return None
        return self._standing(user, limits, day, now,
                              at=day_end - timedelta(microseconds=1)), max(ends)

    def deadline(self, session_id: int, now: Instant) -> Deadline | None:
        return self._refresh(self._session(session_id), now)

    def availability(
        self, user: str, entry_id: str, now: Instant, blocked: tuple[Reason, ...] = ()
    ) -> Availability:
        entry = self.policy.entry(entry_id)
        if entry is None:
            return Availability(user, entry_id, "not_allowed",
                                (*blocked, self.unknown_entry(user, entry_id)), None, 0.0,
                                None, None)
        return self.verdict(self._outlook(user, entry, now, blocked), now)

    def unknown_entry(self, user: str, name: str) -> UnknownEntry:
        """``name`` is no entry of ``user``'s: the refusal, with the entries the child has."""
        mine = [e for e in self.policy.entries if self.policy.entry_allows(e, user)]
        return UnknownEntry(name, tuple(e.id for e in mine), tuple(e.title for e in mine))

    def outlook(self, user: str, entry_id: str, now: Instant,
                blocked: tuple[Reason, ...] = ()) -> Outlook | None:
        """A known entry's availability worked out for ``now`` and, while it ``holds``,
        for the instants after (outlook.py): the one kept from an earlier call when it
        still holds, else a new one (kept when it can hold). ``verdict`` evaluates it.
        None: no such entry (``availability`` says why)."""
        kept = self._outlooks.get((user, entry_id))
        if kept is not None and kept.blocked == blocked and kept.holds(
                now, self.version_of(user)):
            return kept
        entry = self.policy.entry(entry_id)
        if entry is None:
            return None
        made = self._outlook(user, entry, now, blocked)
        if not made.volatile:
            self._outlooks[(user, entry_id)] = made
        return made

    def verdict(self, outlook: Outlook, now: Instant) -> Availability:
        """An outlook's availability at ``now`` (an instant it holds for)."""
        user, day = outlook.user, outlook.day
        reasons, states = list(outlook.head), list(outlook.head_states)
        for check in outlook.groups:
            reason = check.reason
            if check.live:  # a quota the child's running sessions spend: as it is now
                group = self.policy.group(check.group)
                assert group is not None
                left = self.left_today(user, self._group_limits(group), day, now)
                reason = (self._group_reason(user, group, day, now)
                          if left is not None and left < MIN_LAUNCH_S else None)
            if reason is not None:
                reasons.append(reason)
                states.append("quota_exhausted")
        reasons += outlook.tail
        states += outlook.tail_states
        time_left = None
        if outlook.limits is not None and not reasons:  # nothing refuses: time left matters
            ahead = _earliest(self._live_limits(outlook, now), now, None)
            time_left = None if ahead is None else max(ahead.remaining_s, 0.0)
            if ahead is not None and ahead.remaining_s < MIN_LAUNCH_S:
                # A window closing within the second, or a group quota with a second or
                # two left but shared with the user's running sessions: name what binds.
                binding = self.policy.group(ahead.group or "")
                if ahead.cause == "group_quota" and binding is not None:
                    reasons.append(self._group_reason(user, binding, day, now))
                    states.append("quota_exhausted")
                else:
                    reasons.append(OutsideWindow(outlook.next_opening))
                    states.append("outside_window")
        if outlook.blocked:
            states.append("unavailable")
        return Availability(user, outlook.entry, states[0] if states else "available",
                            tuple(reasons), time_left if not reasons else 0.0,
                            outlook.used_today_s, outlook.remaining_today_s,
                            outlook.cooldown_until)

    def calm(self, outlook: Outlook, now: Instant) -> tuple[datetime | None, float | None] | None:
        """Until when (wall, monotonic: each None when unbounded) a ``live`` outlook's
        verdict stays the one at ``now``, for the instants it holds for; None: it may
        change at any moment. So ``status`` keeps a line of an entry whose group quota
        the child's running sessions spend (issue 9's ``status`` goal, issue 13).

        Its group quotas are not refusing and its time left is bound by a fixed term
        (``max_run``, an own quota that runs out today) with each live term a second
        above it; and those are worked out again before they can come nearer than that:
        a live group's quota left falls by at most the child's running sessions' use,
        one second a second each, and the runway it gives at most by the wall clock's
        second plus twice that (across the days of a weekly quota) -- both clocks are
        bounded, so a clock step or a suspend cannot outrun it."""
        user, day = outlook.user, outlook.day
        rate = 1.0 + 2.0 * sum(1 for s in self._sessions.values() if s.user == user)
        slack = math.inf
        for check in outlook.groups:
            if not check.live:
                continue
            group = self.policy.group(check.group)
            assert group is not None
            left = self.left_today(user, self._group_limits(group), day, now)
            if left is not None:
                slack = min(slack, left - MIN_LAUNCH_S - 1.0)  # refusing, or a second off
        wall_calm = outlook.calm_but_live
        if outlook.limits is not None:
            fixed = [limit.term.at(now.wall) for limit in outlook.limits
                     if not limit.live and limit.term.anchor is None]
            live = [self._live_limit(outlook.user, limit, now) for limit in outlook.limits
                    if limit.live]
            for found in live:
                if found is None:  # no quota left to run out (unlimited today)
                    continue
                if not fixed:
                    return None
                slack = min(slack, found.term.at(now.wall) - min(fixed) - 1.0)
        if slack < 0 or (wall_calm is not None and now.wall >= wall_calm):
            return None
        if math.isinf(slack):
            return wall_calm, None
        ahead = slack / rate
        until = now.wall + timedelta(seconds=ahead)
        return (until if wall_calm is None else min(until, wall_calm)), now.mono + ahead

    def _live_limits(self, outlook: Outlook, now: Instant) -> list[Limit]:
        """An outlook's deadline terms at ``now``: a group quota the child's running
        sessions spend runs out as it stands now (each worked out once per read pass)."""
        assert outlook.limits is not None
        found: list[Limit] = []
        for limit in outlook.limits:
            if not limit.live:
                found.append(limit)
                continue
            live = self._live_limit(outlook.user, limit, now)
            if live is not None:
                found.append(live)
        return found

    def _live_limit(self, user: str, limit: Limit, now: Instant) -> Limit | None:
        """A live group quota's term as it stands at ``now`` (None: nothing runs out)."""
        group = self.policy.group(limit.group or "")
        assert group is not None
        quota = _Quota(self._group_limits(group), limit.sharing, "group_quota", group.id)
        runway = self._runway(user, quota, now, 0.0, now)
        if runway is None:
            return None
        return Limit(runway.term, quota.cause, quota.group, runway.period)

    def _outlook(self, user: str, entry: Entry, now: Instant,
                 blocked: tuple[Reason, ...]) -> Outlook:
        entry_id = entry.id
        reasons: list[Reason] = list(blocked)
        states: list[EntryState] = []
        account = self.policy.user(user)
        running = [s.id for s in self._sessions.values() if s.user == user]
        running += [r.session_id for r in self.household.running(user, now)]
        same = [s.id for s in self._sessions.values() if s.user == user
                and s.entry.id == entry_id]
        same += [r.session_id for r in self.household.running(user, now) if r.entry == entry_id]
        if same:
            states.append("running")
        if user in self.locked:
            reasons.append(Locked(user))
            states.append("locked")
        if account is None or not self.policy.entry_allows(entry, user):
            reasons.append(NotAllowedForUser(user, entry_id))
            states.append("not_allowed")
        max_sessions = account.max_sessions if account is not None else 1
        if same:
            reasons.append(AlreadyRunning(tuple(same), max_sessions, True))
        day = self.calendar.quota_day(now.wall)
        changes: list[datetime] = [self.calendar.day_end(day)]
        used_today = self.used(user, (entry_id,), day, now)
        remaining_today = self.left_today(user, self._entry_limits(entry), day, now)
        never = entry.limits.max_run == 0
        if never or (remaining_today is not None and remaining_today < MIN_LAUNCH_S):
            reasons.append(self._quota_reason(user, entry, day, now))
            states.append("quota_exhausted")
        head, head_states = tuple(reasons), tuple(states)
        # A group quota the child's running sessions spend moves with the clock: it is
        # looked at again at each instant; the others are as they are now.
        spending = {s.entry.id for s in self._sessions.values() if s.user == user}
        groups = self.policy.groups_of(entry_id)
        checks: list[GroupCheck] = []
        live_refusal = False
        for group in groups:
            left = self.left_today(user, self._group_limits(group), day, now)
            reason = None
            if left is not None and left < MIN_LAUNCH_S:
                reason = self._group_reason(user, group, day, now)
                reasons.append(reason)
                states.append("quota_exhausted")
            live = not spending.isdisjoint(group.entries)
            live_refusal = live_refusal or (live and reason is not None)
            checks.append(GroupCheck(group.id, live, None if live else reason))
        tail_from, tail_states_from = len(reasons), len(states)
        until = self.cooldowns.get((user, entry_id))
        if until is not None and until > now.wall:
            reasons.append(Cooldown(until))
            states.append("cooldown")
            changes.append(until)
        else:
            until = None
        windows = self._windows(entry, now)
        if not windows.open:
            reasons.append(OutsideWindow(windows.next_opening))
            states.append("outside_window")
        if entry.windows:  # the next opening or closing; the horizon moves at midnight
            changes += [m for m in (windows.closes_at, windows.next_opening) if m is not None]
            changes.append(self.calendar.next_local_date(now.wall))
        if not same and len(running) >= max_sessions:
            # Said after what lasts longer: "busy" only when a stop would let it start.
            reasons.append(AlreadyRunning(tuple(running), max_sessions, False))
            states.append("busy")
        tail = tuple(reasons[tail_from:])
        tail_states = tuple(states[tail_states_from:])
        # Time left matters only when nothing refuses: it is reported as 0 otherwise.
        limits: list[Limit] | None = None
        guards: list[Guard] = []
        if not reasons:
            limits, guards = self._deadline_limits(user, entry, now, None, pending=True)
            moving = {c.group for c in checks if c.live}
            limits = [replace(limit, live=True) if limit.cause == "group_quota"
                      and limit.group in moving else limit for limit in limits]
        # Answers that move with the entry's own use by running sessions (here or
        # elsewhere) or with grants that expire are worked out afresh every time.
        volatile = (bool(same) or live_refusal
                    or any(r.user == user for r in self.household.sessions)
                    or any(g.user == user for g in self.timed.values())
                    or (limits is not None and self._weekly(entry, groups) and any(
                        limit.term.anchor is not None and limit.cause != "window"
                        and not limit.live for limit in limits)))
        return Outlook(user, entry_id, blocked, self.version_of(user), now, min(changes),
                       volatile,
                       day, head, head_states, tuple(checks), tail, tail_states,
                       used_today, remaining_today, until, windows.next_opening,
                       None if limits is None else tuple(limits), tuple(guards))

    def _weekly(self, entry: Entry, groups: Iterable[Group]) -> bool:
        """Does a weekly quota count against ``entry``? A runway through a day then
        weighs that day's use, which the clock moves, against the week."""
        return (self._entry_limits(entry).weekly is not None
                or any(self._group_limits(g).weekly is not None for g in groups))

    def _binding(self, user: str, limits: QuotaLimits, day: date, now: Instant) -> Standing:
        standing = binding(*self._standing(user, limits, day, now))
        assert standing is not None
        return standing

    def _quota_reason(self, user: str, entry: Entry, day: date, now: Instant) -> QuotaExhausted:
        limits = self._entry_limits(entry)
        if entry.limits.max_run == 0 or not limits.limited:
            return QuotaExhausted(self.used(user, (entry.id,), day, now), 0, None)
        standing = self._binding(user, limits, day, now)
        return QuotaExhausted(standing.used_s, round(standing.allowance_s),
                              self._resets_at(user, limits, now), standing.period)

    def _group_reason(self, user: str, group: Group, day: date,
                      now: Instant) -> GroupQuotaExhausted:
        limits = self._group_limits(group)
        standing = self._binding(user, limits, day, now)
        return GroupQuotaExhausted(group.id, standing.used_s, round(standing.allowance_s),
                                   self._resets_at(user, limits, now), standing.period)

    # -- sessions ---------------------------------------------------------------
    def launch(
        self, user: str, entry_id: str, now: Instant, session_id: int,
        blocked: tuple[Reason, ...] = (), ran_s: float = 0.0,
    ) -> SessionStarted | LaunchDenied:
        """``ran_s``: how long its program already ran uncounted (a program started
        outside Shepherd while no daemon watched): the session starts that long ago
        (charged and limited from then), never before the start of today's quota day."""
        verdict = self.availability(user, entry_id, now, blocked)
        if verdict.reasons:
            return LaunchDenied(user, entry_id, verdict.reasons)
        if session_id in self._sessions:
            raise ActionRefused(f"session id {session_id} is already in use")
        entry = self.policy.entry(entry_id)
        assert entry is not None
        today = (now.wall - self.calendar.day_start(self.quota_day(now))).total_seconds()
        ran = min(max(ran_s, 0.0), max(today, 0.0))
        wall, mono = now.wall - timedelta(seconds=ran), now.mono - ran
        session = _Session(session_id, user, entry, wall, mono, mono, wall)
        self._sessions[session_id] = session
        self._changed(user)
        self._apply_away(session, now)  # started while its child is away: paused
        return SessionStarted(session_id, user, entry_id, wall, self._refresh(session, now))

    def recover(
        self, snap: SessionSnapshot, now: Instant, *, alive: bool,
        lease: tuple[date, float] | None = None, deadline_passed: float | None = None,
    ) -> bool:
        """Take back a session the crash snapshot holds, if the rules say so (rule 11).

        ``alive``: its program still runs in this boot. ``lease``: the (day, seconds)
        the store charged ahead at the last checkpoint, already in ``usage``.
        ``deadline_passed``: when (monotonic) its deadline passed while no daemon ran, as
        the alarm that sent its SIGTERM noted: the stop's grace after it (``stop_grace``,
        from the books' deadline if that is later) is not charged (rule 6); what ran on
        beyond it, unwatched, is (review-14-s19c R4: a restart within the grace charged
        the grace beyond the quota). True:
        adopted, supervised again from now. False: the daemon must stop it if it is
        alive, then close it with ``end_recovered``.
        """
        if snap.session_id in self._sessions:
            raise ActionRefused(f"session id {snap.session_id} is already in use")
        entry = self.policy.entry(snap.entry)
        if (not alive or self.policy.supervisor.on_restart != "adopt" or entry is None
                or not self.policy.entry_allows(entry, snap.user) or snap.user in self.locked):
            return False
        self._changed()
        self._drop_lease(snap, lease)
        if self._closing.pop(snap.session_id, None) is not None:
            # (adopted: its run from its last checkpoint counts as it runs from here; the
            # use kept up to a moment while it stood for its lease left that run out, so
            # its part before the moment goes in now, as ``end_recovered`` adds it:
            # rev15-s25b C-b, the grant paid 7.5 s for 12.6 s run)
            self._add_run_to_kept(snap, now)
        session = _Session(snap.session_id, snap.user, entry, snap.started_at,
                           snap.started_mono, snap.charged_mono, now.wall, snap.extension_s,
                           fired=set(snap.fired), unwatched_mono=now.mono,
                           pauses=PauseClock(paused_s=snap.paused_s),
                           past_deadline=snap.past_deadline_s)
        if deadline_passed is not None:
            session.grace_unwatched = (
                deadline_passed, deadline_passed + float(self.policy.supervisor.stop_grace))
        if snap.extension_s:
            session.extension_used = self._extension_spent(session, now)
        self._sessions[snap.session_id] = session
        self._apply_away(session, now)
        self._refresh(session, now)
        return True

    def hold_to(self, session_id: int, mono: float) -> None:
        """A session taken back while the books cannot be read (a household cut off):
        its quotas' deadline is ``mono``, the one last known for it (neither earlier,
        from books that miss the household's grants, nor later: fail closed). Its
        windows and ``max_run`` still apply as the policy says."""
        s = self._session(session_id)
        s.known_mono = mono if s.known_mono is None else min(mono, s.known_mono)
        self._changed()

    def end_recovered(
        self, snap: SessionSnapshot, now: Instant, *, stopped_at: Instant | None = None,
        lease: tuple[date, float] | None = None,
        reason: EndReason = "recovered_after_crash",
    ) -> SessionEnded:
        """Close a crashed session that was not adopted (rule 11).

        Without ``stopped_at`` nobody knows when it ended: its charges stand as the store
        holds them, the lease standing in for the time since the last checkpoint, and
        nothing is charged here. With ``stopped_at`` (its program was alive and was
        stopped then, in this boot) the whole time since the last checkpoint is charged
        in full and replaces the lease: the store must settle the lease. Either way its
        cooldown starts, never ending before one already set.
        """
        self._changed()
        end = now if stopped_at is None else stopped_at
        parts: tuple[tuple[date, float], ...] = ()
        self._closing.pop(snap.session_id, None)
        if stopped_at is not None:
            self._drop_lease(snap, lease)
            ran = max(stopped_at.mono - snap.charged_mono, 0.0)
            began = stopped_at.wall - timedelta(seconds=ran)
            # (it ran all that time: from its last checkpoint until it was stopped or seen
            # gone, which may be after ``now``, the restart's stop taking its grace: what
            # came before an expiry was used before it, rev15s24b N1)
            self._keep_use_at_expiries(snap.user, snap.entry,
                                       stopped_at if stopped_at.wall > now.wall else now,
                                       ran=(began, ran))
            parts = tuple(self.calendar.split(began, ran))
            for day, seconds in parts:
                key = (snap.user, snap.entry, day)
                self.usage[key] = self.usage.get(key, 0.0) + seconds
        entry = self.policy.entry(snap.entry)
        until = self._start_cooldown(snap.user, snap.entry,
                                     entry.limits.cooldown if entry else None, end)
        charged = max(snap.charged_mono - snap.started_mono, 0.0) + sum(s for _, s in parts)
        return SessionEnded(snap.session_id, snap.user, snap.entry, reason, charged,
                            UsageCharged(snap.session_id, snap.user, snap.entry, parts), until,
                            snap.past_deadline_s)

    def charge(self, now: Instant) -> list[UsageCharged]:
        """Settle every running session's use up to ``now`` (a checkpoint).

        Every piece is measured against the state before any of them is charged: the
        sessions ran side by side, so none is capped by another's use of the same time.
        """
        sessions = list(self._sessions.values())
        pieces = [self._piece(s, now) for s in sessions]
        return [self._settle(s, now, piece) for s, piece in zip(sessions, pieces, strict=True)]

    def hold(self, session_id: int) -> None:
        """Its program is being started: settle none of its use until ``release`` (a
        checkpoint or a reload meanwhile charges it nothing), so a launch that fails
        and ends at its start costs nothing."""
        self._session(session_id).starting = True

    def release(self, session_id: int) -> None:
        """Its program runs: its use since the decision is charged as ever."""
        s = self._sessions.get(session_id)
        if s is not None:
            s.starting = False

    def end_session(self, session_id: int, now: Instant, reason: EndReason) -> SessionEnded:
        session = self._session(session_id)
        self._changed(session.user)
        if reason != "launch_failed":  # ended some other way while starting: it ran
            session.starting = False
        session.pauses.held = None  # an idle that never became a pause is billed as it ran
        final = self._charge(session, now)
        del self._sessions[session_id]
        until = None
        if reason not in ("launch_failed", "locked"):
            until = self._start_cooldown(session.user, session.entry.id,
                                         session.entry.limits.cooldown, now)
        return SessionEnded(session_id, session.user, session.entry.id, reason,
                            session.charged_total, final, until, session.past_deadline)

    def hold_deadline(self, session_id: int, now: Instant) -> bool:
        """The session is being stopped at its deadline (it passed: its SIGTERM went): that
        deadline holds from now on, so time given later (a grant) neither moves it nor
        pays for the stop's grace (the charge stays capped as without it). True when its
        deadline had passed (and is now held)."""
        s = self._sessions.get(session_id)
        if s is None:
            return False
        if s.held is not None:
            return True
        deadline = self._deadline(s.user, s.entry, now, s, pending=True)
        if deadline is None or deadline.remaining_s > _EPSILON:
            return False
        # (a passed deadline reads as "now": the use up to it is what the next charge
        # would allow, measured from the last one)
        piece = self._piece(s, now)
        at = min(deadline.mono, s.charged_mono + (piece.allowed if piece is not None else 0.0))
        s.held = (at, deadline.cause, deadline.group, deadline.period)
        self._changed(s.user)
        return True

    def due(self, now: Instant) -> list[Event]:
        """Idle pauses that begin, warnings to issue and sessions to stop at ``now``."""
        events: list[Event] = list(self._idle_pauses(now))
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
            if ready and deadline.mono - min(ready) < now.mono - WARNINGS_GATHER_S:
                # given late (a launch with 61 s left): one due seconds later comes with it
                ready += [b for b in thresholds if b not in s.fired and b not in ready
                          and deadline.mono - b <= now.mono + WARNINGS_GATHER_S]
            if ready:
                warning = thresholds[min(ready)]
                s.fired.update(ready)
                if deadline.remaining_s < min(STOPS_NOW_S, warning.before / 2):
                    continue  # it stops now: "0 seconds left, save now" helps nobody
                events.append(WarningIssued(s.id, s.user, s.entry.id, warning.before,
                                            deadline.remaining_s, warning.severity,
                                            warning.message))
        events = self._expired(now) + events
        # A warning given or a stop called for changes no outlook (``fired`` and
        # ``due_reported`` are the session's own, read by ``due`` and ``next_wakeup``
        # alone): only an idle pause or an expired grant does.
        self._changed_by(e for e in events if not isinstance(e, WarningIssued | SessionDue))
        return events

    def _expired(self, now: Instant) -> list[Event]:
        """Timed grants that stopped counting by ``now``, each reported once, with what
        of it was still unused then and what it paid for (kept with it: what it counts
        for from then on). Grants of a target expiring at the same moment are used in
        the order they were given, so the last given are the ones left unused; a day's
        take-backs and sets took from its time added for today, the last given first."""
        events: list[Event] = []
        due = sorted((g for g in self.timed.values()
                      if g.id not in self.expiries_noted and g.expires <= now.wall
                      and not self._awaits_closing(g)),
                     key=lambda g: (g.expires, g.id))
        batches: dict[tuple[datetime, str, str, date, bool], list[TimedGrant]] = {}
        for g in due:
            batches.setdefault((g.expires, g.user, g.target, g.day, g.week), []).append(g)
        for batch in batches.values():
            for g, unused, taken in self._expiry_shares(batch, now):
                paid = None if unused is None else max(g.seconds - taken - unused, 0.0)
                self.expiries_noted.add(g.id)
                self._use_at_expiry.pop(g.id, None)
                self.timed[g.id] = replace(g, paid=paid)
                events.append(GrantExpired(g.id, g.user, g.target, g.day, g.seconds,
                                           g.expires, g.week, unused, self.with_day(g),
                                           taken, paid))
        return events

    def _expiry_shares(self, batch: list[TimedGrant], now: Instant
                       ) -> list[tuple[TimedGrant, float | None, float]]:
        """Each grant of ``batch`` (one target's, expiring together) with what of it went
        unused (None: unknown) and what its day's take-backs and sets took from it."""
        first = batch[0]
        limits = self.limits_of(first.target)
        if first.week:
            return [(g, self._pool_unused(g, limits, now)
                     if limits is not None and limits.limited else None, 0.0) for g in batch]
        batch = sorted(batch, key=lambda g: abs(g.id))  # in the order given
        net: dict[int, float] = {}
        taken: dict[int, float] = {}
        raised: dict[int, float] = {}  # the day's own time a set added after each
        later = 0.0  # taken from the grants given after (review 12-s8 M5: in order)
        after_next = 0.0  # the net of the take-backs and sets made after the next one
        for g in reversed(batch):
            # all of the day's time added for today: the take-backs and sets made after
            # each was given took from it, the last given first; a net rise between it
            # and the next given is own time given then, paying after it (s10 L1)
            after = -float(g.signed_after) if self.with_day(g) else 0.0
            taken[g.id] = min(float(g.seconds), max(after - later, 0.0))
            later += taken[g.id]
            net[g.id] = g.seconds - taken[g.id]
            raised[g.id] = (max(float(g.signed_after) - after_next, 0.0)
                            if self.with_day(g) else 0.0)
            after_next = float(g.signed_after) if self.with_day(g) else after_next
        beyond = None if limits is None else self._beyond_own(
            first, limits, now, frozenset(g.id for g in batch),
            sum(taken.values()) - sum(raised.values()))
        if beyond is None:
            return [(g, None, taken[g.id]) for g in batch]
        assert limits is not None
        used = self._used_until_expiry(first, limits, now)
        shares: list[tuple[TimedGrant, float | None, float]] = []
        paid_here: dict[int, float] = {}  # what those given before in the batch paid
        for g in batch:  # used in the order given: the last given are the ones left
            if self.with_day(g):  # it pays for no use before it was given (review-1215-s10)
                since = used if g.used_before is None else max(used - g.used_before, 0.0)
            else:  # it paid first for the use since it was given (review-1215-s12 F1)
                since = self._walked(g, used, paid_here)
                beyond = math.inf
            paid = min(net[g.id], since, beyond)
            paid_here[g.id] = paid
            beyond -= paid + min(raised[g.id], beyond - paid)  # then what a set added
            shares.append((g, net[g.id] - paid, taken[g.id]))
        return shares

    def _beyond_own(self, first: TimedGrant, limits: QuotaLimits, now: Instant,
                    batch: frozenset[int], taken: float) -> float | None:
        """The use of ``first``'s day beyond what the target allowed without the grants
        of ``batch`` and without the week's time (None: no limit): what they paid for,
        at most. Asked only of time added for today (with the day): the day's quota
        and these pay, after time given until a moment (it ends sooner: review-1215-s12
        F1), the week's time last (it lasts); of their day's take-backs and sets,
        ``taken`` was taken from them, so the rest stays its own."""
        until_expiry = self._used_until_expiry(first, limits, now)
        batch = batch | {g.id for g in self._timed_of(first.user, first.target)
                         if g.day == first.day and not g.week and not self.with_day(g)
                         and g.expires > first.expires}

        def used_on(d: date) -> float:
            used = self.used(first.user, limits.members, d, now)
            return min(used, until_expiry) if d == first.day else used

        on = self._grants_on(first.user, first.target, first.expires, used_on, batch)

        def grants_on(d: date) -> DayGrants:
            g = on(d)
            return replace(g, full=g.full + (taken if d == first.day else 0.0), pool=0.0)

        day = day_standing(limits, first.day, used_on, grants_on)
        week = None
        if limits.weekly is not None:
            week = week_standing(limits, self.calendar.week_days(first.day), first.day,
                                 used_on, grants_on)
        over = [s.used_s - s.allowance_s for s in (day, week) if s is not None]
        if day is not None:  # never less than the week's time had paid (s10)
            over.append(min(self._beyond(first.user, first.target, first.day),
                            until_expiry))
        return max(0.0, *over) if over else None

    def _used_until_expiry(self, g: TimedGrant, limits: QuotaLimits, now: Instant) -> float:
        """The use of ``g``'s target on its day up to its expiry, never after: what was
        kept when later use was charged before the expiry was noted, or the use charged
        and running up to then (fails closed: use not known to be before is not)."""
        kept = self._use_at_expiry.get(g.id)
        if kept is not None:
            return kept
        late = max((now.wall - g.expires).total_seconds(), 0.0)
        return self._used(g.user, limits.members, g.day, now.at_mono(now.mono - late))

    def _keep_use_at_expiries(self, user: str, entry: str, now: Instant,
                              ran: tuple[datetime, float] | None = None) -> None:
        """Before use up to ``now`` of ``entry`` is charged: the use up to each expiry
        passed and not yet noted, so the grant pays for none of what comes after.
        ``ran``: that use ran from a moment for so many seconds, up to ``now`` (a crashed
        session's time from its last checkpoint to its stop, in this boot, not yet in
        the usage): what of it came before an expiry counts as use up to it, added to what
        was kept already for that expiry (another crashed session's, closed before it)
        (review-15-s24 F1: a grant given until 12:17 and used while the daemon was down
        paid none of that use, the child's own time did; rev15s24b N1, N2)."""
        for g in self._timed_of_entry(user, entry):
            if g.week or g.id in self.expiries_noted:
                continue
            kept = g.id in self._use_at_expiry
            if (kept and ran is None) or (not kept and g.expires > now.wall):
                continue  # (not passed: what runs up to it is in the usage when noted)
            limits = self.limits_of(g.target)
            if limits is None:
                continue
            before = 0.0
            if ran is not None:
                began, seconds = ran
                upto = min(max((g.expires - began).total_seconds(), 0.0), seconds)
                before = sum(sec for d, sec in self.calendar.split(began, upto)
                             if d == g.day)
            self._use_at_expiry[g.id] = (self._use_at_expiry[g.id] if kept
                                         else self._used_until_expiry(g, limits, now)
                                         - self._closing_leases(g, limits)) + before

    def _add_run_to_kept(self, snap: SessionSnapshot, now: Instant) -> None:
        """An adopted crashed session's run from its last checkpoint: its part before each
        moment whose use is kept goes into that use. It runs still, so it ran through
        each such moment (a use is kept only once its moment passed), whatever the
        ``now`` of the restart that adopts it (taken before the adopts, which may wait)."""
        began = now.wall - timedelta(seconds=max(now.mono - snap.charged_mono, 0.0))
        for g in self._timed_of_entry(snap.user, snap.entry):
            if g.week or g.id in self.expiries_noted or g.id not in self._use_at_expiry:
                continue
            upto = max((g.expires - began).total_seconds(), 0.0)
            self._use_at_expiry[g.id] += sum(sec for d, sec in self.calendar.split(began, upto)
                                             if d == g.day)

    def closing(self, snap: SessionSnapshot, lease: tuple[date, float] | None) -> None:
        """A crashed session of this boot, not adopted, that the restart is stopping: until
        its ``end_recovered`` its run since the last checkpoint is not in the usage, only
        its lease (the second charged ahead) is. Meanwhile no grant it counts against is
        noted as expired (``due`` would pay it for the lease, not for the run: rev15s24c
        F1), and use kept up to a moment by another session's charge leaves the lease out
        (``end_recovered`` adds the run's part before the moment: F1-b)."""
        self._closing[snap.session_id] = (snap.user, snap.entry, lease)

    def _awaits_closing(self, g: TimedGrant) -> bool:
        """Is ``g``'s expiry to wait for a closing session's run (``closing``)?"""
        if not self._closing:
            return False
        limits = self.limits_of(g.target)
        return limits is not None and any(
            user == g.user and entry in limits.members
            for user, entry, _ in self._closing.values())

    def _closing_leases(self, g: TimedGrant, limits: QuotaLimits) -> float:
        """The leases of closing sessions still in ``g``'s target's use on its day."""
        return sum(lease[1] for user, entry, lease in self._closing.values()
                   if lease is not None and user == g.user and entry in limits.members
                   and lease[0] == g.day)

    def _timed_of_entry(self, user: str, entry: str) -> list[TimedGrant]:
        return [g for g in self.timed.values() if g.user == user and (
            (limits := self.limits_of(g.target)) is not None and entry in limits.members)]

    def _pool_unused(self, g: TimedGrant, limits: QuotaLimits, now: Instant) -> float:
        """What of week grant ``g`` went unused: the week's grants are used in the order
        they were given, so the last given are the ones left."""
        week = self.calendar.week_days(g.day)
        def used_on(d: date) -> float:
            return self.used(g.user, limits.members, d, now)

        left = pool_unused(limits, week, used_on,
                           self._grants_on(g.user, g.target, g.expires, used_on))
        pools = sorted((p for p in self._timed_of(g.user, g.target)
                        if p.week and p.day in week), key=lambda p: (p.day, abs(p.id)))
        used = sum(p.seconds for p in pools) - left
        for p in pools:
            part = min(float(p.seconds), max(used, 0.0))
            used -= part
            if p.id == g.id:
                return p.seconds - part
        return 0.0

    def next_wakeup(self, now: Instant) -> float | None:
        """The monotonic instant at which ``due`` next has something to say."""
        moments: list[float] = [
            now.mono + max((g.expires - now.wall).total_seconds(), 0.0)
            for g in self.timed.values()
            if g.id not in self.expiries_noted and not self._awaits_closing(g)]
        for s in self._sessions.values():
            hold = self._idle_hold(s)
            if hold is not None:
                moments.append(hold.since.mono + self.policy.supervisor.idle_after)
            deadline = self._refresh(s, now)
            if deadline is None or s.due_reported:  # being stopped: nothing more to say
                continue
            unfired = [w.before for w in self.policy.warnings_for(s.entry)
                       if w.before not in s.fired]
            # A paused session's deadline moves with the clock; only wall-clock limits
            # come nearer, so those are the moments to look again (rule 12).
            if not s.pauses.paused:
                moments.append(deadline.mono)
                # one already due (a launch with a minute left) is due now, not never
                moments += [max(deadline.mono - b, now.mono) for b in unfired]
                continue
            if deadline.remaining_s <= _EPSILON:  # a window that closed during a suspend
                moments.append(deadline.mono)
            for end in self._wall_limits(s, now):
                moments += [m for m in (end, *(end - b for b in unfired)) if m > now.mono]
        return min(moments, default=None)

    # -- admin actions ----------------------------------------------------------
    def grant(self, user: str, target: str, seconds: int, now: Instant,
              mode: GrantMode = "add", until: datetime | None = None,
              week: bool = False) -> TimeGranted:
        """Add, take back or set today's allowance of an entry or group (``grants.py``);
        time added may last ``until`` a moment of today, or the ``week``."""
        return self.apply_grant(self.plan_grant(user, target, seconds, now, mode, until, week),
                                now)

    def plan_grant(self, user: str, target: str, seconds: int, now: Instant,
                   mode: GrantMode = "add", until: datetime | None = None,
                   week: bool = False) -> TimeGranted:
        """What ``grant`` would change, changing nothing (to be recorded before it applies)."""
        if self.policy.user(user) is None:
            raise ActionRefused(unknown_child(self.policy, user))
        entry, group = self.policy.entry(target), self.policy.group(target)
        if entry is None and group is None:
            raise ActionRefused(self._no_such_target(user, target))
        if entry is not None and not self.policy.entry_allows(entry, user):
            raise ActionRefused(f"{entry.title} is not one of {user}'s entries")
        if mode == "add" and seconds <= 0:
            raise ActionRefused("a grant must be more than 0 seconds")
        day = self.calendar.quota_day(now.wall)
        expires = self._grant_expiry(day, mode, until, week, now)
        too_long = grant_too_long(seconds, mode, week)
        if too_long is not None:
            raise ActionRefused(too_long)
        limits = self.limits_of(target)
        assert limits is not None
        quota = limits.daily_quota(day)
        used = self.used(user, limits.members, day, now)
        if mode == "take" and week:
            pools = self._take_from_week(user, limits, day, now, seconds)
            taken = sum(t for _, t in pools)
            freed = self._aside_freed(user, target, day, taken)
            return TimeGranted(user, target, day, freed, mode, None, used,
                               taken < seconds, week=True,
                               day_ends_at=self.calendar.day_end(day),
                               timed_taken_s=taken, taken_from=pools,
                               week_aside_s=-freed, kept_s=self._kept(user, target, day),
                               raises=self._raises(user, target, day).week_taken(taken))
        # Taking back and setting change what lasts the day: time given until a moment
        # of it comes on top until then, and is never what a parent's total rests on.
        today, _ = self._standing(user, limits, day, now)
        last_moment = self.calendar.day_end(day) - timedelta(microseconds=1)
        lasting, _ = self._standing(user, limits, day, now, at=last_moment)
        on_top, lasting_from, held_at = 0, None, used
        if today is not None and lasting is not None and quota is not None:
            on_top = round(today.allowance_s - lasting.allowance_s)
            ends = self._expiries(user, target, now.wall, self.calendar.day_end(day))
            lasting_from = max(ends, default=None)
        aside_s = unusable = 0
        raises = self._raises(user, target, day)
        week_only = quota is None and limits.weekly is not None
        if mode == "set" and week_only:
            named = entry.title if entry is not None else f"The {target} budget"
            raise ActionRefused(f"{named} has only a weekly quota, so there is no day's total "
                                "to set: add time for today (+D) or take some back (-D) "
                                "instead")
        try:
            if mode == "take" and week_only:
                # for today, as on a target with a daily quota (review-9-s11 L2): what its
                # own time has left (the week's quota, time added for today), then time
                # given until a moment; never the week's grants, never time used
                own_left = math.floor(self._week_own_left(user, limits, day, now) + 1e-6)
                taken = min(seconds, own_left)
                change = GrantChange(-taken, None, taken < seconds)
                on_top = round(sum(left for left, _ in self.on_top(user, target, day, now)))
            elif mode == "add" or today is None or lasting is None or quota is None:
                # (time added: on the day's own time, what a set set aside of the week's
                # included, review-15-s19b W1: after ``=10m`` set 15 aside, ``+3m`` said
                # "0s in all today" with 13 minutes left)
                granted = self.granted(user, target, day) + (
                    self._aside(user, target, day) if mode == "add" else 0)
                change = grant_change(mode, seconds, quota, granted, held_at)
                if mode == "add" and change.allowance_s is not None and quota is not None:
                    # in all today: the week's time the day may draw too (review-1215-s10
                    # M1), also beside time given until a moment (review-1215-s11 LOW-1),
                    # and beside time given for the week before (review-15-s19b W3: a
                    # second ``--until week`` said 23m in all with 33 left)
                    access = round(self._week_access(user, limits, day, now))
                    # and what time given until a moment paid for, by its end: it pays
                    # first (review-1215-s12 F1), so what it paid for lasts the day
                    ran_out = self._grants_on(user, target, last_moment, lambda d: self.used(
                        user, limits.members, d, now))(day)
                    change = replace(change, allowance_s=change.allowance_s + access
                                     + round(ran_out.paid + ran_out.timed))
            else:
                change, aside_s, unusable, raises = self._own_change(
                    user, limits, day, now, mode, seconds, round(lasting.allowance_s))
        except GrantRefused as exc:
            raise ActionRefused(f"{target!r}: {exc}") from None
        held = change.held_at_used
        with_day = not week and expires == self.calendar.day_end(day)  # a plain grant
        if mode == "add" and with_day:
            raises = raises.added(seconds)
        elif mode == "add" and week:
            raises = raises.week_given(seconds)
        beyond_s, before_s = 0, 0.0
        kept_s = self._kept(user, target, day)
        if (mode != "add" or with_day) and limits.limited:  # the day's own time changes
            beyond_s = math.floor(self._week_paid_now(user, limits, day, now) + 1e-6)
            kept_s = self._kept_after(user, limits, day, now, change.delta_s + aside_s,
                                      unusable)
        elif expires is not None and not week and limits.limited:  # until a moment
            before_s = self._beyond_now(user, limits, day, now)  # others paid (ledger11b)
        taken_from: tuple[tuple[int, int], ...] = ()
        rest = seconds + min(change.delta_s, 0)
        if mode == "take" and rest > 0 and on_top > 0 and (lasting is not None or week_only):
            # what lasts is held at what was used: the rest comes out of what the time
            # given until a moment has left (never what it paid for), review 15-s8 M3
            taken_from = self._take_from_timed(user, target, day, now, rest)
            timed_taken = sum(t for _, t in taken_from)
            on_top -= timed_taken
            held = held and timed_taken < rest
        allowance = change.allowance_s
        if allowance is not None and expires is not None and not week and not with_day:
            # time given until a moment of the day: on top, until then
            allowance -= seconds
            on_top += seconds
            lasting_from = max(expires, lasting_from or expires)
        whole = None if allowance is None else allowance + on_top
        parts = {end: left for left, end in self.on_top(user, target, day, now)}
        for gid, part in taken_from:  # what is left of each after the take (12-s9 M3)
            end = self.timed[gid].expires
            parts[end] = parts.get(end, 0.0) - part
        parts = {end: left for end, left in parts.items() if left >= 0.5}
        if expires is not None and not week and not with_day and mode == "add":
            parts[expires] = parts.get(expires, 0.0) + seconds
        return TimeGranted(user, target, day, change.delta_s, mode, whole, used,
                           held, expires_at=expires, week=week,
                           with_day=with_day,
                           lasting_s=allowance if on_top and whole is not None else None,
                           lasting_from=lasting_from if on_top else None,
                           day_ends_at=self.calendar.day_end(day),
                           timed_taken_s=sum(t for _, t in taken_from), taken_from=taken_from,
                           on_top=tuple((round(parts[end]), end) for end in sorted(parts))
                           if on_top and whole is not None else (), week_aside_s=aside_s,
                           beyond_own_s=beyond_s, beyond_before_s=before_s,
                           kept_s=kept_s, raises=raises)

    def _own_change(self, user: str, limits: QuotaLimits, day: date, now: Instant,
                    mode: GrantMode, seconds: int, lasting: int
                    ) -> tuple[GrantChange, int, int, DayRaises]:
        """A take-back or set for today (ledger10), as the day's ledger has it: time
        given until a moment pays first (it ends sooner: review-1215-s12 F1), then its
        own time (quota, time added for today, its take-backs and sets), then the
        week's time. ``lasting``: what lasts the day
        now (its own time and what it may draw on the week's). A take-back takes only
        of the day's own time, never below what it paid for (the rest comes out of the
        time given until a moment, ``_take_from_timed``): never the week's. A set makes
        what lasts ``seconds``, never below the use it and the week's time paid for.
        Lowered, it takes first the quota minutes the week's quota had not left the day
        (it could never use them), then what the day's raises gave not used yet
        (``DayRaises.raised``: review-15-s20 F3b), then sets aside what the day may draw on the
        week's time (the other days' then), then lowers its quota's part. Raised, it
        gives back first what a set set aside, then adds. The change to the day's grants,
        of it the week's time set aside (``week_aside_s``), what of the cut the day could
        never have used (``_kept_after``), and the day's raises as the change leaves them."""
        target = limits.target
        quota = limits.daily_quota(day)
        assert quota is not None
        used = self.used(user, limits.members, day, now)
        own = quota + self.granted(user, target, day) + self._aside(user, target, day)
        raises = self._raises(user, target, day)
        last_moment = self.calendar.day_end(day) - timedelta(microseconds=1)
        ran_out = self._grants_on(user, target, last_moment, lambda d: self.used(
            user, limits.members, d, now))(day)
        timed_paid = ran_out.expired + ran_out.paid  # the time given until a moment paid
        # its own time and what it may draw (what lasts counts what the time given until
        # a moment paid by its end, noted or not: it pays first, review-1215-s12 F1)
        base = lasting - round(ran_out.paid + ran_out.timed)
        access = base - own  # what the day may still draw on the week's time
        # what the day's own time paid for: its use less what the time given until a
        # moment and the week's time paid (review-1215-s10 HIGH-2)
        beyond = self._beyond_now(user, limits, day, now)
        floor = math.ceil(used - beyond - 1e-6)
        if mode == "take":
            taken = min(seconds, max(own - floor, 0))
            return (GrantChange(-taken, lasting - taken, taken < seconds), 0, 0,
                    raises.taken(taken))
        # the day's whole allowance is ``seconds``: what the time given until a moment
        # has paid for so far is in it (it was used today), so the day's own time is the
        # rest, never below the use it must pay for; what such time pays from now on
        # comes on top until its end (review-15-s15 N2: the set gave more than it set)
        paid_now = math.ceil(timed_paid - 1e-6)
        wanted = max(seconds - paid_now, math.ceil(used - timed_paid - 1e-6), 0)
        held = wanted > seconds - paid_now
        if wanted >= base:
            # raised: first what a set set aside of the week's time comes back to the day
            # (review-15-s19b N2: ``=20m`` set 15 aside, ``=35m`` added 15 of its own and
            # the 15 stayed the other days': the week played 60 of 30 and 15), then it
            # adds (what a cut took of the quota's part that the week could still pay
            # comes back as quota: ``_kept_after``). It gives back what a set set aside
            # before what a cut took of the day's own, whichever came last: so ``=0m``
            # then ``=20m`` leaves Sunday its 20 and not the 15 the ``=0m`` set aside
            # (review-15-s19c R1, decided: it keeps time back, never gives it). Giving
            # the cut's own back first needs to know which cut took what, and each way
            # tried gave time: the quota's part first (review-15-s19d G1: ``-20m``,
            # ``=0m``, ``=15m`` played 50 for 35), the cuts' layers (review-15-s21 H2:
            # ``=20m``, ``+1m``, ``=35m`` played 70 for 56; review-15-h2 N1), a figure of
            # what the sets cut (a set and its inverse after other words gave up to 18
            # minutes: docs/dev-notes/s22).
            raised = wanted - base
            back = self._aside_given_back(user, limits, day, now, raised)
            return (GrantChange(raised, lasting + raised, held), -back, 0,
                    raises.set_up(raised - back))
        # the cut takes first the day's own time the week's quota had not left for it (the
        # day could never use it: review-15-s17d F2, with Monday's 20 of a 20m day and a
        # 30m week played, ``=24m`` on Thursday's 25 left 14), then what the day's raises
        # gave not used yet (review-15-s19d L1, ``+15m --until week``, ``=40m``, ``=35m``
        # set 5 of the week's aside and Sunday had them too; and where a raise filled
        # what a cut took of the quota's part: ``-15m``, ``+15m --until week``, ``=35m``,
        # ``=20m`` set the week's 15 aside, Sunday 35 for 20), then sets aside what the
        # day may draw on the week's time (only what it has not drawn yet: what it drew
        # stays drawn), then lowers its quota's part
        cut = base - wanted
        unusable = 0
        if limits.weekly is not None:
            short = self._walked_now(week_own_short, user, limits, day, now)
            unusable = min(cut, math.floor(short + 1e-6))
        # (a day whose rows were written before the raises were kept has none: its cut
        # sets the week's time aside first, as before)
        given = max(min(raises.raised, own - floor), 0)
        first = min(cut - unusable, given)
        drawn = math.floor(max(beyond - timed_paid, 0.0) + 1e-6)  # the week's time it drew
        aside = min(cut - unusable - first, max(access - drawn, 0))
        return (GrantChange(-cut, lasting - cut, held), aside, unusable,
                raises.set_down(first))

    def _week_access(self, user: str, limits: QuotaLimits, day: date, now: Instant) -> float:
        """What ``day`` may still draw on the week's time: what it has left for the day,
        less what a set of the day set aside (nothing without time given for the week)."""
        if not any(g.week for g in self._timed_of(user, limits.target)):
            return 0.0

        def used_on(d: date) -> float:
            return self.used(user, limits.members, d, now)

        left = pool_left(limits, self.calendar.week_days(day), day, used_on,
                         self._grants_on(user, limits.target, now.wall, used_on))
        return max(left - self._aside(user, limits.target, day), 0.0)

    def _aside_given_back(self, user: str, limits: QuotaLimits, day: date, now: Instant,
                          raised: int) -> int:
        """Of a set's raise of ``day``'s own time by ``raised``, what comes back out of
        what a set set aside of the week's time (it is the day's to draw again): all of it
        up to the aside, where the week's grants still hold what was set aside (else none:
        giving back what they no longer hold would give the day nothing for it). Time
        added for today gives none back: it is the day's, and ``-X`` after ``+X`` leaves
        the day as it was (review-15-s19c R2)."""
        aside = self._aside(user, limits.target, day)
        if aside <= 0 or raised <= 0:
            return 0

        def used_on(d: date) -> float:
            return self.used(user, limits.members, d, now)

        left = pool_left(limits, self.calendar.week_days(day), day, used_on,
                         self._grants_on(user, limits.target, now.wall, used_on))
        return min(raised, aside) if left + 1e-6 >= aside else 0

    def _aside_freed(self, user: str, target: str, day: date, taken: int) -> int:
        """What today's aside no longer holds once ``taken`` of the week's time is taken
        back: a take-back of the week's time takes what was given for the week since
        today's last set first (``DayRaises.week``: today's to draw, so the take-back
        takes it from today, as it was given), then what a set of today set aside (for the
        other days: today could not use it), so today keeps what the set left it to draw
        (review-15-s17c F1: ``=24m`` on a 20m day with 15 minutes of the week given, then
        ``-5m --until week``, left today 20, not 24)."""
        since_set = self._raises(user, target, day).week
        return min(self._aside(user, target, day), max(taken - since_set, 0))

    def _take_from_timed(self, user: str, target: str, day: date, now: Instant, seconds: int
                         ) -> tuple[tuple[int, int], ...]:
        """Up to ``seconds`` out of what is left of the time given until a moment of
        ``day`` still counting (``timed_left``: never what it paid for), from the grant
        that ends last first (of those ending together, the last given first)."""
        taken: list[tuple[int, int]] = []
        for g, left in reversed(self.timed_left(user, target, day, now)):
            part = min(seconds, math.floor(left + 1e-6))
            if part > 0:
                taken.append((g.id, part))
                seconds -= part
        return tuple(taken)

    def _take_from_week(self, user: str, limits: QuotaLimits, day: date, now: Instant,
                        seconds: int) -> tuple[tuple[int, int], ...]:
        """Up to ``seconds`` out of what the week's grants have left (the week's use
        draws on them in the order they were given, so the last given are taken first)."""
        week = self.calendar.week_days(day)
        pools = sorted((p for p in self._timed_of(user, limits.target)
                        if p.week and p.day in week and p.id not in self.expiries_noted
                        and p.seconds > 0), key=lambda p: (p.day, abs(p.id)), reverse=True)
        taken: list[tuple[int, int]] = []
        for p in pools:
            unused = self._pool_unused(p, limits, now) if limits.limited else p.seconds
            part = min(seconds, math.floor(unused + 1e-6))
            if part > 0:
                taken.append((p.id, part))
                seconds -= part
        return tuple(taken)

    def _no_such_target(self, user: str, target: str) -> str:
        """A typo put right: the entries (as the child knows them) and groups there are."""
        def named(e: Entry) -> str:
            return e.title if e.title.casefold() == e.id.casefold() else f"{e.title} ({e.id})"

        def listed(names: list[str]) -> str:
            return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"

        entries = [named(e) for e in self.policy.entries if self.policy.entry_allows(e, user)]
        groups = [g.id for g in self.policy.groups]
        said = f"there is no entry or group called {target!r}"
        if entries:
            said += f"; {user}'s entries are {listed(entries)}"
        if groups:
            said += f"{',' if entries else ';'} and the groups are {listed(groups)}"
        return said

    def _grant_expiry(self, day: date, mode: GrantMode, until: datetime | None, week: bool,
                      now: Instant) -> datetime | None:
        """When time added stops counting: ``until`` (today), the week's end, or the day's
        end (``today``, the default: it is reported when it runs out, as the others are).
        Taking back and setting are for today only, and have no expiry (None)."""
        if until is None and not week:
            return self.calendar.day_end(day) if mode == "add" else None
        if mode == "take" and week and until is None:
            return None  # out of the week's time given for it (review 12-s8 M6)
        if mode != "add":
            raise ActionRefused("only time added can last until a time or for the week; "
                                "setting the total is for today, and taking time back is "
                                "for today or, with --until week, from the week's grants")
        if until is not None and week:
            raise ActionRefused("a grant lasts until a time today or for the week, not both")
        if week:
            return self.calendar.week_end(day)
        assert until is not None
        day_end = self.calendar.day_end(day)
        if until <= now.wall:
            raise GrantUntilRefused(
                f"{self._clock(until, now)} has already passed: a grant must last until a "
                "time still to come today", "until_passed", until, day_end)
        if until > day_end:  # a parent's "05:00" at 03:50, of a day that ends at 04:00
            # (review-15-s15 N7): said as the clock reads, never as "already passed"
            raise GrantUntilRefused(
                f"{self._clock(until, now)} is after this day ends at "
                f"{self._clock(day_end, now)}: a grant for today lasts at most until then "
                "(to last longer, give it for the week: --until week)", "until_after_day_end",
                until, day_end)
        return until

    def _clock(self, moment: datetime, now: Instant) -> str:
        """A moment as a parent's clock reads it: "05:00", or "05:00 on Friday" on a date
        other than today's (or the day after, where today's night ends)."""
        local, today = moment.astimezone(self.zone), now.wall.astimezone(self.zone).date()
        if local.date() in (today, today + timedelta(days=1)):
            return f"{local:%H:%M}"
        return f"{local:%H:%M} on {local:%A} {local.day} {local:%B}"

    def preview_grant(self, user: str, target: str, seconds: int, now: Instant,
                      mode: GrantMode = "add", until: datetime | None = None,
                      week: bool = False) -> TimeGranted:
        """What ``grant`` would answer, changing nothing (a question asked first)."""
        planned = self.plan_grant(user, target, seconds, now, mode, until, week)
        with self._granted_for_now(planned):
            return self.apply_grant(planned, now)

    def grant_deadlines(self, planned: TimeGranted, now: Instant) -> dict[int, Deadline | None]:
        """The deadline each of the child's running sessions would have once ``planned``
        is applied; nothing changes. The daemon hands the ones it moves later to the
        guard thread and the alarm before the grant is made (review-9-s10 M2), as it
        does an extension's (``extension_preview``)."""
        with self._granted_for_now(planned):
            self.apply_grant(planned, now)
            return {s.id: self._deadline(s.user, s.entry, now, s, pending=True)
                    for s in self._sessions.values() if s.user == planned.user}

    @contextmanager
    def _granted_for_now(self, planned: TimeGranted) -> Iterator[None]:
        """What ``apply_grant`` changes, put back as it was on leaving."""
        key = (planned.user, planned.target, planned.day)
        before, timed = self.grants.get(key), dict(self.timed)
        aside, beyond, kept = dict(self.aside), dict(self.beyond), dict(self.kept)
        raises = dict(self.raises)
        try:
            yield
        finally:
            if before is None:
                self.grants.pop(key, None)
            else:
                self.grants[key] = before
            self.aside, self.beyond, self.kept = aside, beyond, kept
            self.raises = raises
            self.timed.clear()
            self.timed.update(timed)
            self._changed()

    def apply_grant(self, planned: TimeGranted, now: Instant,
                    grant_id: int | None = None) -> TimeGranted:
        """Apply a planned grant (a timed one under ``grant_id``, the store's, when given);
        the answer says what still limits the target today (or allows less than its
        allowance), and the week's allowance afterwards where a weekly quota applies."""
        key = (planned.user, planned.target, planned.day)
        if planned.beyond_own_s > self._beyond(*key):
            self.beyond[key] = planned.beyond_own_s
        if planned.seconds:  # the added part as this change leaves it (review-15-s18b H1)
            if planned.kept_s:
                self.kept[key] = planned.kept_s
            else:
                self.kept.pop(key, None)
        # (a set that changes nothing is still the day's last set: DayRaises.week,
        # review-15-s23 N1; a take-back of the week's time changes the day's figures)
        if planned.seconds or planned.mode == "set" or (planned.week
                                                        and planned.mode == "take"):
            if any(planned.raises):
                self.raises[key] = planned.raises
            else:
                self.raises.pop(key, None)
        for gid, part in planned.taken_from:  # out of time given until a moment
            g = self.timed.pop(gid)
            if g.seconds > part:  # all of it taken back: gone (the store drops it too)
                self.timed[gid] = replace(g, seconds=g.seconds - part)
        if planned.expires_at is None:
            self.grants[key] = self._signed(*key) + planned.seconds
            if planned.week_aside_s:
                self.aside[key] = self._aside(*key) + planned.week_aside_s
            own = planned.seconds + planned.week_aside_s  # the day's own time it changed
            for gid, g in list(self.timed.items()):  # what it may take from time given
                if (g.user, g.target, g.day) == key and own:  # as the store counts it
                    self.timed[gid] = replace(g, signed_after=g.signed_after + own)
        elif planned.seconds > 0:
            if grant_id is None:
                grant_id = min([0, *self.timed]) - 1  # store ids are positive
            self.timed[grant_id] = TimedGrant(grant_id, planned.user, planned.target,
                                              planned.day, planned.seconds,
                                              planned.expires_at, planned.week,
                                              used_before=planned.used_s,
                                              beyond_before=planned.beyond_before_s)
        self._changed(planned.user)
        quota_limits = self.limits_of(planned.target)
        assert quota_limits is not None
        _, week = self._standing(planned.user, quota_limits, planned.day, now)
        week_allowance = None if week is None else round(week.allowance_s)
        if planned.allowance_s is None and week_allowance is not None:
            planned = self._week_lasting(planned, quota_limits, week_allowance, now)
        if self.policy.entry(planned.target) is None:
            caps = (*self._week_cap(planned.user, quota_limits, planned.day, now),
                    *self._stopping_now(planned.user, quota_limits.members, now,
                                        lowered=planned.seconds < 0),
                    *self._group_hours_cap(planned.user, quota_limits, planned.day, now))
            locked = (Locked(planned.user),) if planned.user in self.locked else ()
            planned = self._as_status_says(planned, quota_limits, now)
            return replace(planned, week_allowance_s=week_allowance,
                           capped_by=(*self._grant_end_cap(planned, now), *caps),
                           limited_by=locked)
        limits = self._still_limiting(planned.user, planned.target, now)
        # a lock is lifted by a parent, not by the day: what caps the time still counts after
        lasting = [r for r in limits if not isinstance(r, Locked)]
        caps = () if lasting else self._still_capping(planned.user, planned.target, now,
                                                      lowered=planned.seconds < 0)
        planned = self._as_status_says(planned, quota_limits, now)
        return replace(planned, limited_by=limits,
                       capped_by=(*self._grant_end_cap(planned, now), *caps),
                       week_allowance_s=week_allowance)

    def _as_status_says(self, planned: TimeGranted, limits: QuotaLimits,
                        now: Instant) -> TimeGranted:
        """With time given until a moment of the day still to come, the answer's figures
        as ``status`` says them once the grant is made (``day_total``): the day's total
        (``lasting_s``), the same while such time pays, and per moment what can still
        be used of it before then (``on_top``): one total everywhere (review-15-s15 N4,
        N5). A moment none of which can still be used is left out (the cap says why). Time
        added only: a take-back's and a set's figures stay what lasts the day as the set
        holds it, what time given until a moment paid so far in it (``_own_change``)."""
        timed = planned.expires_at is not None and not planned.week and not planned.with_day
        # (a moment's part is every grant until it: alone only when it is this one's,
        # else "4 minutes more until 10:05" with one minute to go, review-15-s16 P1/P5)
        alone = (timed and len(planned.on_top) == 1
                 and round(planned.on_top[0][0]) == planned.seconds)
        if (planned.lasting_s is None or not planned.on_top or planned.mode != "add"
                or alone):
            # a take-back's or a set's figures are what lasts the day as the set holds
            # it (``_own_change``); one timed grant alone says "in all today until then"
            return planned
        found = self.day_total(planned.user, limits, planned.day, now)
        if found is None:
            return planned
        total, parts = found
        usable = tuple((round(part), end) for part, _, end in parts if round(part) >= 1)
        if not usable:
            return planned
        return replace(planned, lasting_s=round(total), on_top=usable)

    def _grant_end_cap(self, planned: TimeGranted, now: Instant) -> tuple[GrantCap, ...]:
        """Time given until a moment nearer than its length: only so much of it can be
        used before it runs out (review 12-s8 M2)."""
        if (planned.mode != "add" or planned.expires_at is None or planned.week
                or planned.with_day):
            return ()
        usable = self._usable_before(planned.user, planned.target, planned.day,
                                     planned.expires_at, now, planned.seconds)
        # What can be used in whole seconds, rounded down (on the child's side of a
        # promise): less than a second short is the fraction of the second the grant came
        # in (or a sum's rounding), no time a parent gave (review-15-s15 N6)
        usable = math.floor(usable + 1e-6)
        limits = self.limits_of(planned.target)  # without a daily quota: the week's first
        members = limits.members if limits is not None else (planned.target,)
        rests = [self.cooldowns.get((planned.user, m)) for m in members]
        rest = None
        if (rests and all(r is not None and r > now.wall for r in rests)
                and not any(s.user == planned.user and s.entry.id in members
                            for s in self._sessions.values())):
            # an entry (or every program of a group) resting now: none of it before the
            # rest's end (rev15-s25 E: "only 4 minutes of it can be used before 17:05"
            # while it rested until 17:30); a group's programs may run side by side
            rest = min(r for r in rests if r is not None)
            usable = min(usable, sum(
                max(math.floor((planned.expires_at - r).total_seconds()), 0)
                for r in rests if r is not None))
        if usable >= planned.seconds - 1:
            return ()
        weekly = limits is not None and limits.daily_quota(planned.day) is None
        group = planned.target if limits is not None and self.policy.group(
            planned.target) is not None else None
        return (GrantCap("grant_end", max(usable, 0.0), group=group if rest else None,
                         until=planned.expires_at, period="week" if weekly else "day",
                         rests_until=rest),)

    def _usable_before(self, user: str, target: str, day: date, expires: datetime,
                       now: Instant, given: float) -> float:
        """What of the time just ``given`` until ``expires`` can be used before then, used
        without a break from now (``_usable_parts``). Time given earlier until the same
        moment pays first (the first given first): the new grant has what they leave of
        what can be used until then (review-15-s16 P1: it was said to have all of it)."""
        parts = self._usable_parts(user, target, day, now)
        if parts is None:
            return (expires - now.wall).total_seconds()
        left = sum(left for left, _, end in parts if end == expires)
        usable = sum(usable for _, usable, end in parts if end == expires)
        return min(max(usable - (left - given), 0.0), given)

    def _usable_parts(self, user: str, target: str, day: date, now: Instant
                      ) -> list[tuple[float, float, datetime]] | None:
        """Of the time given until moments of ``day`` still to come, per moment, soonest
        first: what is left of it, what of that can be used before the moment, used
        without a break from now, and the moment (None: none is left). What cannot be
        used is what ``_today_walk`` finds gone unused at the moment (review 12-s9 M1,
        review-1215-s11 MEDIUM-1: the week's quota counts as the day's does)."""
        limits = self.limits_of(target)
        walked = None if limits is None else self._today_walk(user, limits, day, now)
        on_top = self.on_top(user, target, day, now)
        if walked is None or not on_top:
            return None
        gone = walked[1]
        return [(left, max(left - gone.get(end, 0.0), 0.0), end) for left, end in on_top]

    def _today_walk(self, user: str, limits: QuotaLimits, day: date, now: Instant,
                    period: Period | None = None
                    ) -> tuple[float, dict[datetime, float]] | None:
        """The target used without a break from now to the end of ``day``, as a launch's
        runway counts it (``_runway_now``: the same standings, the same projection past
        each grant's end): what is left of it today, and what of the time given until
        each moment of it still to come goes unused at that moment (the time given until
        a moment is used first, the soonest ending first, then the day's own time and
        the week's quota, then the week's time: review-1215-s10 L2, review-1215-s12 F1).
        One walk answers for the launch's deadline and every figure shown.
        ``period``: the day's or the week's standing alone (default: the one that
        binds). None: no such time is still to come today, or nothing limits it."""
        if not self.timed or day != self.calendar.quota_day(now.wall):
            return None
        key = ("today", user, limits, day, now.mono, now.wall, period)
        if self._memo is not None and key in self._memo:
            found: tuple[float, dict[datetime, float]] | None = self._memo[key]
            return found
        walked = self._today_walk_now(user, limits, day, now, period)
        if self._memo is not None:
            self._memo[key] = walked
        return walked

    def _today_walk_now(self, user: str, limits: QuotaLimits, day: date, now: Instant,
                        period: Period | None) -> tuple[float, dict[datetime, float]] | None:
        day_end = self.calendar.day_end(day)
        ends = self._expiries(user, limits.target, now.wall, day_end)
        if not ends:
            return None
        cursor, spent, before = now.wall, 0.0, None
        ahead: dict[date, float] = {}
        noted: dict[int, float] = {}  # what the grants ending on the way paid for
        gone: dict[datetime, float] = {}
        for end in [*ends, day_end]:
            on_day, on_week = self._standing(user, limits, day, now, ahead, cursor,
                                             noted=noted)
            standing = (binding(on_day, on_week) if period is None
                        else on_day if period == "day" else on_week)
            if standing is None:
                return None
            left = standing.left_s
            if before is not None:  # what the moment just passed took with it
                gone[cursor] = max(before - left, 0.0)
            span = (end - cursor).total_seconds()
            if left < span or end == day_end:
                return spent + left, gone
            spent += span
            ahead[day] = spent
            before, cursor = left - span, end
        return None  # not reached: the day's end is the last moment

    def left_today(self, user: str, limits: QuotaLimits, day: date, now: Instant
                    ) -> float | None:
        """What is left of a target today (None = unlimited): ``_left``, with of the
        time given until a moment only what can be used before it runs out
        (review-1215-s10 L2, review-1215-s11 MEDIUM-1: ``_today_walk``, the launch's
        own count, so the figures shown say what a launch gets)."""
        walked = self._today_walk(user, limits, day, now)
        if walked is not None:
            return walked[0]
        return self._left(user, limits, day, now)

    def week_left_today(self, user: str, limits: QuotaLimits, day: date, now: Instant
                        ) -> float | None:
        """What the week's quota (and the time given) still allow today, of time given
        until a moment only what can be used before then (None: no weekly quota)."""
        _, on_week = self._standing(user, limits, day, now)
        if on_week is None:
            return None
        walked = self._today_walk(user, limits, day, now, "week")
        return on_week.left_s if walked is None else walked[0]

    def grant_ending(self, user: str, entry_id: str, wall: datetime) -> datetime | None:
        """The end of time given until a moment (for the entry or a group of it) at
        ``wall``, to the second: what a session that stops for a quota then stops for."""
        targets = {entry_id, *(g.id for g in self.policy.groups_of(entry_id))}
        for g in self.timed.values():
            if (g.user == user and g.target in targets and not g.week
                    and not self.with_day(g) and abs((g.expires - wall).total_seconds()) < 1):
                return g.expires
        return None

    def _still_limiting(self, user: str, entry_id: str, now: Instant) -> tuple[Reason, ...]:
        """What keeps an entry from being used for the rest of today, whatever its grants."""
        end_of_day = self.calendar.day_end(self.calendar.quota_day(now.wall))
        reasons: list[Reason] = []
        for reason in self.availability(user, entry_id, now).reasons:
            if isinstance(reason, OutsideWindow):
                if reason.next_opening is None or reason.next_opening >= end_of_day:
                    reasons.append(reason)
            elif isinstance(reason, GroupQuotaExhausted | Locked | NotAllowedForUser):
                reasons.append(reason)
            elif isinstance(reason, QuotaExhausted) and reason.period == "week":
                reasons.append(reason)  # the week's quota: today's grant did not cover it
        return tuple(reasons)

    def _still_capping(self, user: str, entry_id: str, now: Instant,
                       lowered: bool = False) -> tuple[GrantCap, ...]:
        """What allows less of an entry today than its own allowance left: for a running
        session, whatever ends it first (its own quota too, when the allowance was
        ``lowered``: the session's new end); otherwise its week's quota, its group
        budgets and the hours left in its windows today."""
        entry = self.policy.entry(entry_id)
        if entry is None:
            return ()
        day = self.calendar.quota_day(now.wall)
        limits = self._entry_limits(entry)
        on_day, _ = self._standing(user, limits, day, now)
        own = on_day.left_s if on_day is not None else None
        if own is None:
            return ()  # no daily limit: the grant changes nothing (or the week says it)
        running = next((s for s in self._sessions.values()
                        if s.user == user and s.entry.id == entry_id), None)
        if running is not None:
            ends = self._deadline(user, entry, now, running, pending=True)
            if ends is None:
                return ()
            stops_now = ends.remaining_s < STOPS_NOW_S  # say so, whatever ends it
            own_end = ends.cause == "quota" and ends.period == "day"
            if not stops_now and not (lowered and own_end) and (
                    own_end or ends.remaining_s >= own):
                return ()
            return (GrantCap(ends.cause, max(ends.remaining_s, 0.0), ends.group, ends.wall, True,
                             ends.period, extension_s=self._extension_left(running, ends)),)
        caps: list[GrantCap] = []
        week_left = self.week_left_today(user, limits, day, now)  # usable only (MEDIUM-1)
        if week_left is not None and week_left < own:
            caps.append(GrantCap("quota", week_left, period="week"))
        for group in self.policy.groups_of(entry_id):
            g_day, g_week = self._standing(user, self._group_limits(group), day, now)
            tightest = binding(g_day, g_week)
            if tightest is not None and tightest.left_s < own:
                caps.append(GrantCap("group_quota", tightest.left_s, group.id,
                                     period=tightest.period))
        caps.extend(self._hours_cap([entry], None, own, day, now))
        return tuple(caps)

    def _hours_cap(self, entries: Iterable[Entry], group: str | None, own: float, day: date,
                   now: Instant) -> tuple[GrantCap, ...]:
        """The hours left today in the windows of ``entries`` (an entry's own, or a
        group's members' together) when they allow less than ``own``: a ``window`` cap
        until the last of them closes (``group``: named for the group's grant). An entry
        without windows has every hour: no cap (review-1215-s12 F3)."""
        end_of_day = self.calendar.day_end(day)
        spans: list[tuple[datetime, datetime]] = []
        for entry in entries:
            if not entry.windows:
                return ()
            for opens, closes in open_intervals(entry.windows, self.zone, now.wall, 2):
                start, stop = max(opens, now.wall), min(closes, end_of_day)
                if stop > start:
                    spans.append((start, stop))
        hours, last, reached = 0.0, None, now.wall
        for start, stop in sorted(spans):  # their union: an hour two of them share counts once
            if stop > reached:
                hours += (stop - max(start, reached)).total_seconds()
                reached = last = stop
        if hours >= own:
            return ()
        return (GrantCap("window", hours, group, last),)

    def _week_lasting(self, planned: TimeGranted, limits: QuotaLimits, week_allowance: int,
                      now: Instant) -> TimeGranted:
        """A target with only a weekly quota: what of the week's allowance lasts the day,
        when time given until a moment of it comes on top until then (as ``plan_grant``
        says of a day's allowance)."""
        found = self._lasting(planned.user, limits, planned.day, now)
        week = None if found is None else found[0][1]
        if found is None or week is None or round(week.allowance_s) >= week_allowance:
            return planned
        return replace(planned, week_lasting_s=round(week.allowance_s),
                       week_lasting_from=found[1], on_top=tuple(
                           (round(left), end) for left, end
                           in self.on_top(planned.user, limits.target, planned.day, now)))

    def _stopping_now(self, user: str, members: Iterable[str], now: Instant,
                      lowered: bool = False) -> tuple[GrantCap, ...]:
        """The running sessions of ``members`` (a group's entries) that a change to the
        group leaves no time: each stops now, and the parent is told which; when the
        change ``lowered`` the budget, those it still ends later, with their new end."""
        caps: list[GrantCap] = []
        wanted = set(members)
        for s in self._sessions.values():
            if s.user != user or s.entry.id not in wanted:
                continue
            ends = self._deadline(user, s.entry, now, s, pending=True)
            if ends is not None and ends.remaining_s < STOPS_NOW_S:
                caps.append(GrantCap(ends.cause, 0.0, ends.group, ends.wall, True, ends.period,
                                     entry=s.entry.id, label=s.entry.title))
            elif ends is not None and lowered and ends.cause == "group_quota":
                caps.append(GrantCap(ends.cause, ends.remaining_s, ends.group, ends.wall, True,
                                     ends.period, entry=s.entry.id, label=s.entry.title,
                                     extension_s=self._extension_left(s, ends)))
        return tuple(caps)

    @staticmethod
    def _extension_left(s: _Session, ends: Deadline) -> float:
        """What is left of ``s``'s extension when a quota ends it (``ends``): it carries
        the session on past the quota's end (review-12-s13 L7: "now stops at 00:25: the
        games budget runs out then", where the budget ran out at 00:23)."""
        if not s.extension_s or ends.cause not in ("quota", "group_quota"):
            return 0.0
        target = ends.group if ends.cause == "group_quota" and ends.group else s.entry.id
        return max(float(s.extension_s) - s.extension_used.get(target, 0.0), 0.0)

    def _group_hours_cap(self, user: str, limits: QuotaLimits, day: date,
                         now: Instant) -> tuple[GrantCap, ...]:
        """The hours its programs have left today allowing less than a group's budget,
        after a grant on the group (none while one of them runs: what ends it is said)."""
        on_day, on_week = self._standing(user, limits, day, now)
        tightest = binding(on_day, on_week)
        if tightest is None or any(s.user == user and s.entry.id in limits.members
                                   for s in self._sessions.values()):
            return ()
        members = [e for e in map(self.policy.entry, limits.members) if e is not None]
        hours = self._hours_cap(members, limits.target, tightest.left_s, day, now)
        own = self._members_left(user, members, day, now)
        if own is None or own[0] >= min([tightest.left_s, *(c.usable_s for c in hours)]):
            return hours
        return (GrantCap("own_time", own[0], limits.target, own[1]),)

    def _members_left(self, user: str, members: Iterable[Entry], day: date, now: Instant
                      ) -> tuple[float, datetime | None] | None:
        """What a group's programs can still use today by their own limits, together:
        each one's own time left (its day's and week's quotas, its grants), no more than
        its hours left, summed (they may run side by side, each spending the budget); and
        when the last hours that bind one of them end (None: no hours bind). None: one of
        them has neither a quota nor hours, so nothing but the group limits it
        (review-12-s13 M2)."""
        total, last = 0.0, None
        for entry in members:
            own = self.left_today(user, self._entry_limits(entry), day, now)
            hours = self._hours_cap((entry,), None, math.inf if own is None else own,
                                    day, now)
            if own is None and not hours:
                return None
            if hours:
                own = hours[0].usable_s
                ends = hours[0].until
                last = ends if last is None or (ends is not None and ends > last) else last
            assert own is not None
            total += max(own, 0.0)
        return total, last

    def _week_cap(self, user: str, limits: QuotaLimits, day: date,
                  now: Instant) -> tuple[GrantCap, ...]:
        """A group's week allowing less than its day, after a grant on the group."""
        on_day, _ = self._standing(user, limits, day, now)
        week_left = self.week_left_today(user, limits, day, now)  # usable only (MEDIUM-1)
        if on_day is None or week_left is None or week_left >= on_day.left_s:
            return ()
        return (GrantCap("group_quota", week_left, limits.target, period="week"),)

    def check_extend(self, session_id: int, now: Instant) -> None:
        """Refuse to extend a session already extended (once per session), or one with
        no time limit: it would change nothing."""
        session = self._session(session_id)
        if session.extension_s > 0:
            raise AlreadyExtended(f"The {session.entry.title} session was already extended "
                                  "once; give time with grant instead", session_id,
                                  session.extension_s)
        if self._deadline(session.user, session.entry, now, session, pending=True) is None:
            raise ActionRefused(f"{session.entry.title} has no time limit, so there is "
                                "nothing to extend")

    def extension_preview(self, session_id: int, seconds: int, now: Instant) -> Deadline | None:
        """The deadline ``extend`` would give, and the limit that would set it; nothing
        changes (the question that asks a parent says it before they say yes)."""
        if seconds <= 0:
            raise ActionRefused("an extension must be more than 0 seconds")
        self.check_extend(session_id, now)
        session = self._session(session_id)
        trial = replace(session, extension_s=session.extension_s + seconds)
        return self._deadline(session.user, session.entry, now, trial, pending=True)

    def extend(self, session_id: int, seconds: int, now: Instant) -> SessionExtended:
        if seconds <= 0:
            raise ActionRefused("an extension must be more than 0 seconds")
        self.check_extend(session_id, now)
        session = self._session(session_id)
        session.extension_s += seconds
        session.due_reported = False
        self._changed(session.user)
        return SessionExtended(session_id, seconds, self._refresh(session, now))

    def clear_cooldown(self, user: str, entry_id: str) -> bool:
        self._changed(user)
        return self.cooldowns.pop((user, entry_id), None) is not None

    def lock(self, user: str, now: Instant) -> list[SessionEnded]:
        if self.policy.user(user) is None:
            raise ActionRefused(unknown_child(self.policy, user))
        self.mark_locked(user)
        return [self.end_session(sid, now, "locked") for sid in self.session_ids(user)]

    def mark_locked(self, user: str) -> None:
        """The user is locked: no launch (their sessions are the caller's to end)."""
        self.locked.add(user)
        self._changed(user)

    def unlock(self, user: str) -> bool:
        if user not in self.locked:
            return False
        self.locked.discard(user)
        self._changed(user)
        return True

    def _moved(self, calendar: QuotaCalendar, now: Instant) -> QuotaCalendar:
        """``calendar`` with this policy's day boundary, from the end of the day in
        progress (calendar.py): a reload never moves a day already begun (rule 2)."""
        supervisor = self.policy.supervisor
        return calendar.moved(supervisor.day_starts_at, now.wall,
                              supervisor.week_start_weekday)

    def resume_calendar(self, stored: QuotaCalendar, now: Instant) -> datetime | None:
        """Carry on from the calendar the store kept (a restart): its days stand, and a
        policy whose boundary differs (changed while the daemon was down) takes effect
        as a reload's would. Returns when a new boundary not yet in effect does."""
        self.calendar = self._moved(replace(stored, zone=self.zone), now)
        self._changed()
        return self.calendar.switch_after(now.wall)

    def set_policy(self, policy: Policy, now: Instant) -> list[Event]:
        """Swap in a validated policy; running sessions keep going (rule 10)."""
        events: list[Event] = list(self.charge(now))
        # The grace is a minute at most, and never past what the old rules gave: so a
        # reload (of the same policy, or again and again) never moves an end later.
        before = {s.id: self._deadline(s.user, s.entry, now, s, pending=True)
                  for s in self._sessions.values()}
        self.policy = policy
        self.calendar = self._moved(self.calendar, now)
        self._limits.clear()
        self._changed()
        for s in self._sessions.values():
            old = before[s.id]
            grace = now.mono + RELOAD_GRACE_S
            limit = grace if old is None else min(grace, old.mono)
            entry = policy.entry(s.entry.id)
            if entry is None or not policy.entry_allows(entry, s.user):
                s.cap_mono = limit if s.cap_mono is None else min(limit, s.cap_mono)
            else:
                s.entry = entry
            s.floor_mono = None
            deadline = self._deadline(s.user, s.entry, now, s, pending=True)
            if deadline is not None and deadline.mono < limit:
                s.floor_mono = limit
                if limit == grace:  # the new rules end it sooner than the old: say so
                    s.fired.update(w.before for w in policy.warnings_for(s.entry))
                    events.append(WarningIssued(s.id, s.user, s.entry.id,
                                                int(RELOAD_GRACE_S), RELOAD_GRACE_S,
                                                "critical",
                                                "The rules changed: 1 minute left, save now"))
            s.due_reported = False
            s.last_deadline = None
            change = self._apply_away(s, now)  # the entry may count otherwise now
            if change is not None:
                events.append(change)
            self._refresh(s, now)
        return events

    # -- the child's presence (rule 12) -------------------------------------------
    def pause(self, user: str, cause: PauseCause, since: Instant,
              now: Instant) -> list[Event]:
        """The child's screen is ``cause`` since ``since`` (idle: since the idle began).

        Settles every session up to ``now`` first (the charges are among the events),
        then pauses the child's sessions that count active time, or holds them while
        an idle is shorter than ``idle_after``.
        """
        if self.policy.user(user) is None:
            raise ActionRefused(unknown_child(self.policy, user))
        events: list[Event] = list(self.charge(now))
        self.away[user] = Away(cause, since)
        self._changed(user)
        for s in self._sessions.values():
            if s.user == user:
                change = self._apply_away(s, now)
                if change is not None:
                    events.append(change)
        return events

    def resume(self, user: str, now: Instant) -> list[Event]:
        """The child is back: settle every session up to ``now``, then bill the child's."""
        events: list[Event] = list(self.charge(now))
        self.away.pop(user, None)
        self._changed(user)
        for s in self._sessions.values():
            if s.user == user:
                change = self._apply_away(s, now)
                if change is not None:
                    events.append(change)
        return events

    def unpausable(self, session_id: int, now: Instant,
                   since: float | None = None) -> list[Event]:
        """The session's pauses cannot be enforced: its programs ran on (since ``since``,
        monotonic; None: since its pause began) although it was paused (rule 12).

        Fails closed: the pause ends where its programs ran again and that time is
        billed at once (what checkpoints had settled as paused is given back), and the
        session counts running time from now on, as if its entry said
        ``count = "running"``. Events: the charges, the resume (if it was paused)."""
        s = self._session(session_id)
        s.runs_on = True
        self._changed(s.user)  # its pause ends: answers kept for it are stale
        events: list[Event] = list(self.charge(now))  # settled up to now: the pause too
        clock = s.pauses
        clock.held = None
        if clock.start is None:
            return events
        back = clock.start if since is None else min(max(since, clock.start), now.mono)
        clock.paused_s -= now.mono - back  # settled as paused, given back: billed below
        s.charged_mono = back
        s.charged_wall = now.at_mono(back).wall
        cause = clock.cause or "locked"
        events.append(SessionResumed(s.id, s.user, s.entry.id, cause, clock.resume(back)))
        events.append(self._charge(s, now))
        return events

    # -- internals --------------------------------------------------------------
    def _session(self, session_id: int) -> _Session:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise ActionRefused(f"no running session {session_id}") from None

    def _pending(self, s: _Session, now: Instant) -> list[tuple[date, float]]:
        """A running session's use since its last charge, per day."""
        if s.held is not None or s.grace_unwatched is not None:
            # being stopped past its deadline: what its charge will be, no more (the
            # stop's grace is charged to nobody, so no grant pays for it: rev15s24c F2)
            piece = self._piece(s, now)
            return list(piece.parts) if piece is not None else []
        end = s.pauses.used_end(s.charged_mono, now.mono)  # held idle counts, a pause not
        elapsed = end - s.charged_mono
        if elapsed <= 0:
            return []
        return self.calendar.split(self._piece_start(s, now.at_mono(end), elapsed), elapsed)

    @staticmethod
    def _piece_start(s: _Session, now: Instant, elapsed: float) -> datetime:
        """Where on the wall clock a piece of use began (rule 3)."""
        step = timedelta(seconds=elapsed)
        return s.charged_wall if s.charged_wall + step <= now.wall else now.wall - step

    def _charge(self, s: _Session, now: Instant) -> UsageCharged:
        return self._settle(s, now, self._piece(s, now))

    def _piece(self, s: _Session, now: Instant) -> _Piece | None:
        """How much of the use since the last checkpoint is charged, and to which days."""
        if s.starting:  # not settled before its program runs (hold)
            return None
        end = s.pauses.charge_end(s.charged_mono, now.mono)
        elapsed = end - s.charged_mono
        if elapsed <= 0:
            return None
        began = self._piece_start(s, now.at_mono(end), elapsed)
        unwatched = min(elapsed, max(s.unwatched_mono - s.charged_mono, 0.0))
        allowed = elapsed
        if elapsed > unwatched or s.grace_unwatched is not None:
            limit = self._deadline(s.user, s.entry, Instant(began, s.charged_mono), s,
                                   pending=False)
            if limit is not None:  # unwatched time is charged in full and eats the runway
                graced = 0.0  # (save the grace of a SIGTERM the alarm sent meanwhile)
                if s.grace_unwatched is not None:
                    since, until = s.grace_unwatched
                    since = max(since, s.charged_mono + limit.remaining_s)  # (the books')
                    graced = max(0.0, min(until, s.charged_mono + unwatched)
                                 - max(since, s.charged_mono))
                watched = min(elapsed - unwatched,
                              max(limit.remaining_s - (unwatched - graced), 0.0))
                allowed = unwatched - graced + watched
        parts = tuple(self.calendar.split(began, allowed))
        used = self._extension_use(s, parts, began) if s.extension_s else {}
        return _Piece(parts, allowed, elapsed - allowed, used)

    def _settle(self, s: _Session, now: Instant, piece: _Piece | None) -> UsageCharged:
        if s.starting:  # held where it was decided until its program runs
            return UsageCharged(s.id, s.user, s.entry.id, ())
        if piece is not None:  # while the piece is still pending: its part before an
            # expiry is the expiring grant's to pay for (ledger10: it was lost when the
            # checkpoint had already moved past it, and the week's time paid instead)
            self._keep_use_at_expiries(s.user, s.entry.id, now)
        settled = s.pauses.settle(s.charged_mono, now.mono)  # a pause is skipped, held kept
        if settled != s.charged_mono:
            s.charged_wall = now.at_mono(settled).wall
            s.charged_mono = settled
        if piece is None:
            return UsageCharged(s.id, s.user, s.entry.id, ())
        for day, seconds in piece.parts:
            key = (s.user, s.entry.id, day)
            self.usage[key] = self.usage.get(key, 0.0) + seconds
        for target, seconds in piece.extension_used.items():
            s.extension_used[target] = s.extension_used.get(target, 0.0) + seconds
        s.charged_total += piece.allowed
        s.past_deadline += piece.forfeited
        return UsageCharged(s.id, s.user, s.entry.id, piece.parts, piece.forfeited)

    def _start_cooldown(
        self, user: str, entry_id: str, cooldown: int | None, now: Instant
    ) -> datetime | None:
        """Start a (user, entry) cooldown at ``now``; one that ends later already stands."""
        return _rest_after(self.cooldowns, (user, entry_id), cooldown, now.wall)

    def cooldowns_if_ended(self, now: Instant) -> dict[tuple[str, str], datetime]:
        """The rests as they would stand if every running session ended at ``now``
        (``end_session``'s rule: each starts its entry's cooldown then). Changes nothing."""
        cooldowns = dict(self.cooldowns)
        for s in self._sessions.values():
            _rest_after(cooldowns, (s.user, s.entry.id), s.entry.limits.cooldown, now.wall)
        return cooldowns

    def drop_lease(self, snap: SessionSnapshot, lease: tuple[date, float] | None) -> None:
        """A crashed session about to be closed in this boot: the second the store charged
        ahead for it goes from the usage now, before any of them is closed (closed one
        after the other, the first would count the others' seconds as use up to an
        expiry: rev15s24b N2); its ``end_recovered`` is then given no lease."""
        self._changed()
        self._drop_lease(snap, lease)
        if snap.session_id in self._closing:  # (its lease is out of the usage now)
            self._closing[snap.session_id] = (snap.user, snap.entry, None)

    def _drop_lease(self, snap: SessionSnapshot, lease: tuple[date, float] | None) -> None:
        """The engine counts a recovered session exactly: the second charged ahead goes."""
        if lease is None or lease[1] <= 0:
            return
        key = (snap.user, snap.entry, lease[0])
        if key in self.usage:
            self.usage[key] = max(self.usage[key] - lease[1], 0.0)

    def _quotas(self, user: str, entry: Entry, s: _Session | None,
                now: Instant | None = None) -> list[_Quota]:
        """The quotas a session of ``entry`` counts against; with ``now``, shared with
        the user's sessions running on other machines too (rule 13)."""
        if self._memo is None:
            return self._quotas_now(user, entry, s, now)
        # ``entry`` by identity: a session's entry can be one a reload replaced (rule 10),
        # and its id then names another entry of the new policy, with other limits.
        key = ("quotas", user, id(entry), s.id if s is not None else None,
               now.mono if now is not None else None)
        if key not in self._memo:
            self._memo[key] = self._quotas_now(user, entry, s, now)
        found: list[_Quota] = self._memo[key]
        return found

    def _quotas_now(self, user: str, entry: Entry, s: _Session | None,
                    now: Instant | None) -> list[_Quota]:
        quotas: list[_Quota] = []
        remote = self.household.running(user, now) if now is not None else []
        own = self._entry_limits(entry)
        if own.limited:
            elsewhere = sum(1 for r in remote if r.entry == entry.id and not r.paused)
            quotas.append(_Quota(own, 1 + elsewhere, "quota", None))
        for group in self.policy.groups_of(entry.id):
            limits = self._group_limits(group)
            if not limits.limited:
                continue
            sharing = 1 + sum(1 for o in self._sessions.values()  # a paused one spends none
                              if o is not s and o.user == user and o.entry.id in group.entries
                              and not o.pauses.paused)
            sharing += sum(1 for r in remote if r.entry in group.entries and not r.paused)
            quotas.append(_Quota(limits, sharing, "group_quota", group.id))
        return quotas

    def _extension_use(
        self, s: _Session, parts: Iterable[tuple[date, float]], at: datetime
    ) -> dict[str, float]:
        """Extension spent by charging ``parts``: per quota, the part of each day's piece
        beyond this session's share of what that quota had left (rule 9), the earlier
        days of the piece counted as used (a week's quota is spent by its days in turn,
        as the deadline's runway spends it)."""
        spent: dict[str, float] = {}
        parts = tuple(parts)
        for quota in self._quotas(s.user, s.entry, s):
            ahead: dict[date, float] = {}
            for day, seconds in parts:
                left = self._left(s.user, quota.limits, day, None, ahead, at)
                ahead[day] = ahead.get(day, 0.0) + seconds * quota.sharing
                if left is None:
                    continue
                over = max(seconds - left / quota.sharing, 0.0)
                if over > 0:
                    spent[quota.target] = spent.get(quota.target, 0.0) + over
        return spent

    def _extension_spent(self, s: _Session, now: Instant) -> dict[str, float]:
        """After a restart, what the session's extension had paid for is unknown: count
        every second over each quota on the days it ran, up to the extension (fail closed)."""
        first = self.calendar.quota_day(s.started_wall)
        last = self.calendar.quota_day(now.wall)
        spent: dict[str, float] = {}
        for quota in self._quotas(s.user, s.entry, s):
            daily = 0.0
            weekly: dict[date, float] = {}  # a week's use beyond it, as of its last day run
            day = first
            while day <= last:
                on_day, on_week = self._standing(s.user, quota.limits, day, None,
                                                 at=now.wall)
                daily += on_day.over_s if on_day is not None else 0.0
                if on_week is not None:
                    weekly[self.calendar.week_start(day)] = on_week.over_s
                day += timedelta(days=1)
            spent[quota.target] = min(max(daily, sum(weekly.values())), float(s.extension_s),
                                      max(s.charged_mono - s.started_mono, 0.0))
        return spent

    def _apply_away(self, s: _Session, now: Instant) -> SessionPaused | SessionResumed | None:
        """Bring a session in line with what its child's screen says (rule 12). Sessions
        must be settled up to ``now`` first, except a new one (nothing to settle)."""
        away = (self.away.get(s.user) if self.policy.counts_active(s.entry) and not s.runs_on
                else None)
        clock = s.pauses
        if away is None or (away.cause == "idle" and clock.paused
                            and not self._idle_long(away, now)):
            clock.held = None
            if not clock.paused:
                return None
            cause = clock.cause or "locked"
            lasted = clock.resume(now.mono)
            if away is not None:  # back from a lock to an idle screen: held from now
                clock.held = max(now.mono, s.charged_mono)
            return SessionResumed(s.id, s.user, s.entry.id, cause, lasted)
        if clock.paused:
            clock.cause = away.cause  # still away, for another reason now
            return None
        if away.cause == "idle" and not self._idle_long(away, now):
            if clock.held is None:
                clock.held = max(away.since.mono, s.charged_mono)
            return None
        start = clock.held if clock.held is not None else max(away.since.mono, s.charged_mono)
        return self._paused(s, self._pause_start(s, start, now), away.cause, now)

    def _pause_start(self, s: _Session, start: float, now: Instant) -> float:
        """Where a pause begins: where the child went away; for an entry whose programs are
        frozen while paused, now: the daemon freezes them on this decision, and until then
        they ran, so that time is billed. Not the moment the idle "should" have frozen
        (its start plus ``idle_after``): an idle's start can move back while it is held
        (two screens, the older idle shown after a lock), which refunded play."""
        if not self.policy.freezes(s.entry) or s.runs_on:
            return start
        return max(start, now.mono)

    def _paused(self, s: _Session, start: float, cause: PauseCause,
                now: Instant) -> SessionPaused:
        s.pauses.pause(max(start, s.charged_mono), cause, now)
        assert s.pauses.since is not None
        return SessionPaused(s.id, s.user, s.entry.id, cause, s.pauses.since)

    def _idle_long(self, away: Away, now: Instant) -> bool:
        return now.mono - away.since.mono >= self.policy.supervisor.idle_after - _EPSILON

    def _idle_hold(self, s: _Session) -> Away | None:
        """The idle a session is held for, if any (not a pause yet)."""
        away = self.away.get(s.user)
        if s.pauses.held is None or away is None or away.cause != "idle":
            return None
        return away

    def _idle_pauses(self, now: Instant) -> list[SessionPaused]:
        """Held idles that have now lasted ``idle_after``: paused from when they began."""
        paused = []
        for s in self._sessions.values():
            hold = self._idle_hold(s)
            if hold is not None and s.pauses.held is not None and self._idle_long(hold, now):
                paused.append(self._paused(s, self._pause_start(s, s.pauses.held, now),
                                           "idle", now))
        return paused

    def _wall_limits(self, s: _Session, now: Instant) -> list[float]:
        """Monotonic moments at which a paused session's deadline can come nearer: its
        window closing, the next quota day if it counts against a quota (the new day's may be
        spent), a grant of one of its quotas expiring, a reload's cap or floor. Between them
        its own clock stands still."""
        moments = []
        if self._quotas(s.user, s.entry, s):
            day_end = self.calendar.day_end(self.calendar.quota_day(now.wall))
            moments.append(now.mono + (day_end - now.wall).total_seconds())
        if s.entry.windows:
            windows = window_state(s.entry.windows, self.zone, now.wall)
            if windows.open and windows.closes_at is not None:
                moments.append(now.mono + (windows.closes_at - now.wall).total_seconds())
        for quota in self._quotas(s.user, s.entry, s):  # a grant that expires (rule 9)
            moments += [now.mono + (x - now.wall).total_seconds() for x in self._expiries(
                s.user, quota.target, now.wall, self.calendar.week_end(
                    self.calendar.quota_day(now.wall)))]
        moments += [m for m in (s.cap_mono, s.floor_mono, s.known_mono) if m is not None]
        moments += [s.held[0]] if s.held is not None else []
        return moments

    def _refresh(self, s: _Session, now: Instant) -> Deadline | None:
        """The current deadline; re-arms warnings when it moved later (rule 7)."""
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
        limits, _ = self._deadline_limits(user, entry, now, s, pending=pending)
        return _earliest(limits, now, s.floor_mono if s is not None else None)

    def _deadline_limits(
        self, user: str, entry: Entry, now: Instant, s: _Session | None, *, pending: bool
    ) -> tuple[list[Limit], list[Guard]]:
        """The terms of a deadline (rule 5), each a ``Term`` of the wall clock, and the
        guards under which a later instant takes the same branches (outlook.py)."""
        view = now if pending else None
        extension = s.extension_s if s is not None else 0
        terms: list[Limit] = []
        guards: list[Guard] = []
        if entry.limits.max_run is not None:
            elapsed = 0.0
            if s is not None:  # its own clock: running time less its pauses (rule 12)
                elapsed = (now.mono - s.started_mono - s.pauses.paused_s
                           - s.pauses.unsettled_pause(s.charged_mono, now.mono))
            terms.append(Limit(Term(entry.limits.max_run + extension - elapsed), "max_run",
                               None, "day"))
        unspent: dict[str, float] = {}
        if s is not None and extension:
            unspent = (self._extension_use(s, self._pending(s, now), now.wall) if pending
                       else {})
        quotas = self._quotas(user, entry, s, now)
        if s is not None and s.known_mono is not None:
            first = quotas[0] if quotas else None
            terms.append(Limit(Term(s.known_mono - now.mono),
                               first.cause if first else "quota",
                               first.group if first else None, "day"))
            quotas = []
        for quota in quotas:
            left = 0.0
            if s is not None and extension:
                left = max(extension - s.extension_used.get(quota.target, 0.0)
                           - unspent.get(quota.target, 0.0), 0.0)
            runway = self._runway(user, quota, now, left, view)
            if runway is not None:
                terms.append(Limit(runway.term, quota.cause, quota.group, runway.period,
                                   sharing=quota.sharing))
                if runway.guard is not None:
                    guards.append(runway.guard)
        if entry.windows:
            windows = self._windows(entry, now)
            if not windows.open:
                terms.append(Limit(Term(0.0), "window", None, "day"))
            elif windows.closes_at is not None:
                terms.append(Limit(Term(0.0, windows.closes_at), "window", None, "day"))
        if s is not None and s.cap_mono is not None:
            terms.append(Limit(Term(s.cap_mono - now.mono), "policy_reload", None, "day"))
        if s is not None and s.held is not None:
            at, cause, group, period = s.held
            terms.append(Limit(Term(at - now.mono), cause, group, period))
        return terms, guards

    def _standing(
        self, user: str, limits: QuotaLimits, day: date, view: Instant | None,
        ahead: Mapping[date, float] | None = None, at: datetime | None = None,
        noted: dict[int, float] | None = None,
    ) -> tuple[Standing | None, Standing | None]:
        """(day, week) standings of a target on ``day``; ``ahead``: projected use per day,
        on top of what is charged (and, with ``view``, what running sessions used);
        grants as they stand at ``at`` (default: ``view``'s moment); ``noted``: a run's
        projection past grants' ends (``_grants_on``, ``day_standing``'s ``ahead``)."""
        if at is None and view is not None:
            at = view.wall
        if self._memo is None or ahead or noted is not None:
            return self._standing_now(user, limits, day, view, ahead, at, noted)
        # ``limits`` itself, not its target's name: an entry a reload replaced (rule 10)
        # and the new policy's entry of the same id have each their own.
        key = ("standing", user, limits, day, view.mono if view is not None else None, at)
        if key not in self._memo:
            self._memo[key] = self._standing_now(user, limits, day, view, None, at)
        found: tuple[Standing | None, Standing | None] = self._memo[key]
        return found

    def _standing_now(
        self, user: str, limits: QuotaLimits, day: date, view: Instant | None,
        ahead: Mapping[date, float] | None, at: datetime | None,
        noted: dict[int, float] | None = None,
    ) -> tuple[Standing | None, Standing | None]:
        if limits.weekly is None and not self.timed:  # the common case: a day's quota alone
            quota = limits.daily_quota(day)
            if quota is None:
                return None, None
            used = self.used(user, limits.members, day, view) + (ahead or {}).get(day, 0.0)
            allowance = float(quota + self._signed(user, limits.target, day)
                              + self._aside(user, limits.target, day))
            return Standing("day", used, allowance), None

        def used_on(d: date) -> float:
            extra = ahead.get(d, 0.0) if ahead else 0.0
            return self.used(user, limits.members, d, view) + extra

        if at is None and view is not None:
            at = view.wall
        most: dict[int, float] = {}
        grants_on = self._grants_on(user, limits.target, at, used_on, noted=noted, most=most)
        pooled = any(g.week for g in self._timed_of(user, limits.target))
        week = self.calendar.week_days(day) if pooled or limits.weekly is not None else []
        on_week = None
        if limits.weekly is not None:
            # the week's count first: a projection's notes of the grants that ran out on
            # the way are what it lets them pay, which the day's count then reads
            before = frozenset(noted) if noted is not None else frozenset()
            on_week, paid = week_standing_paid(limits, week, day, used_on, grants_on)
            if noted is not None:
                self._note_week_paid(noted, before, paid, most,
                                     limits.daily_quota(day) is not None)
        on_day = day_standing(limits, day, used_on, grants_on, week if pooled else (),
                              noted is not None)
        return on_day, on_week

    def _note_week_paid(self, noted: dict[int, float], before: frozenset[int],
                        paid: float, most: Mapping[int, float], daily: bool) -> None:
        """A projection past the ends of grants of a target with a weekly quota
        (``_runway_now``, ``_today_walk``): what they paid for is noted as the week's
        count has it (``week_standing_paid``: after the week's quota and the day's own
        time), the soonest ending first, not all the use since they were given
        (ledger11b's left-over, review-1215-s11 MEDIUM-1): else the next step would count
        them in full. ``daily``: with a daily quota too, never less than what they paid
        beyond it (the larger of the two, as their expiry notes it: ``_beyond_own``;
        ledger13)."""
        for gid in sorted((gid for gid in noted if gid not in before),
                          key=lambda gid: (self.timed[gid].expires, abs(gid))):
            share = min(most.get(gid, noted[gid]), paid)
            paid -= share
            noted[gid] = max(noted[gid], share) if daily else share

    def _left(
        self, user: str, limits: QuotaLimits, day: date, view: Instant | None,
        ahead: Mapping[date, float] | None = None, at: datetime | None = None,
    ) -> float | None:
        """Quota left on ``day``, the smaller of the day's and the week's (None = unlimited)."""
        standing = binding(*self._standing(user, limits, day, view, ahead, at))
        return None if standing is None else standing.left_s

    def _windows(self, entry: Entry, now: Instant) -> WindowState:
        if self._memo is None:
            return window_state(entry.windows, self.zone, now.wall)
        key = ("windows", id(entry), now.wall)  # by identity, as in ``_quotas``
        if key not in self._memo:
            self._memo[key] = window_state(entry.windows, self.zone, now.wall)
        found: WindowState = self._memo[key]
        return found

    def _runway(
        self, user: str, quota: _Quota, now: Instant, extension: float, view: Instant | None,
    ) -> _Runway | None:
        if self._memo is None:
            return self._runway_now(user, quota, now, extension, view)
        key = ("runway", user, quota.limits, quota.sharing, now.mono, extension,
               view is None)  # by the limits themselves, as in ``_standing``
        if key not in self._memo:
            self._memo[key] = self._runway_now(user, quota, now, extension, view)
        found: _Runway | None = self._memo[key]
        return found

    def _runway_now(
        self, user: str, quota: _Quota, now: Instant, extension: float, view: Instant | None,
    ) -> _Runway | None:
        """Seconds until ``quota`` runs out for a session used from ``now`` on, across day
        boundaries: each day's quota left (shared with the user's other sessions that
        spend it) first, then what is left of the session's extension (rule 5). A day
        the session would run through is counted as used when the days after it are
        weighed, so a week's quota is spent by the days before.

        The seconds come as a ``Term`` of the wall clock (outlook.py): the first day's
        span runs down with it, the later days' and the shares are sums fixed here."""
        cursor = now.wall
        first: datetime | None = None  # the end of the first day, once run through
        spans: list[float] = []
        ahead: dict[date, float] = {}
        noted: dict[int, float] = {}  # what the grants ending on the way paid for
        expiries = self._expiries(user, quota.limits.target, cursor, datetime.max.replace(
            tzinfo=cursor.tzinfo)) if self.timed else []
        for _ in range(HORIZON_DAYS + len(expiries)):
            day = self.calendar.quota_day(cursor)
            end = self.calendar.day_end(day)
            if expiries:
                end = min([end, *(x for x in expiries if x > cursor)])
            span = (end - cursor).total_seconds()
            standing = binding(*self._standing(user, quota.limits, day, view, ahead, cursor,
                                                 noted=noted))
            if standing is not None:
                share = standing.left_s / quota.sharing
                if share + extension < span:
                    if first is None:  # total + share + extension, total 0.0 (rule 5)
                        return _Runway(Term(0.0, None, (share, extension)), standing.period,
                                       Guard(end, share + extension))
                    return _Runway(Term(0.0, first, (*spans, share, extension)),
                                   standing.period, None)
                extension -= max(span - share, 0.0)
            ahead[day] = ahead.get(day, 0.0) + span * quota.sharing
            if first is None:
                first = end
            else:
                spans.append(span)
            cursor = end
        return None

    def _resets_at(self, user: str, limits: QuotaLimits, now: Instant) -> datetime | None:
        """The start of the first day after today on which the target allows a launch."""
        today = self.calendar.quota_day(now.wall)
        for offset in range(1, HORIZON_DAYS):
            day = today + timedelta(days=offset)
            left = self._left(user, limits, day, None, at=now.wall)
            if left is None or left >= MIN_LAUNCH_S:
                return self.calendar.day_start(day)
        return None


def _rest_after(cooldowns: dict[tuple[str, str], datetime], key: tuple[str, str],
                cooldown: int | None, ended: datetime) -> datetime | None:
    """A (user, entry) rest of ``cooldown`` seconds from ``ended`` into ``cooldowns``; one
    that ends later already stands. None (and nothing changed) without a cooldown."""
    if not cooldown:
        return None
    until = ended + timedelta(seconds=cooldown)
    previous = cooldowns.get(key)
    cooldowns[key] = until if previous is None else max(previous, until)
    return cooldowns[key]
