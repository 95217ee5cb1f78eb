"""Decisions and events: small frozen values the engine hands to the shell.

Denial reasons carry their data and render to JSON for the IPC and the audit log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from typing import Any, ClassVar, Literal

from shepherd.engine.grants import NO_RAISES, DayRaises

EndReason = Literal[
    "exited", "stopped_by_child", "stopped_by_admin", "expired", "window_closed",
    "locked", "daemon_shutdown", "recovered_after_crash", "launch_failed", "killed",
    "store_unreadable",  # stopped at a start whose books could not be read at all
]
EntryState = Literal[
    "available", "running", "busy", "cooldown", "quota_exhausted", "outside_window", "locked",
    "not_allowed", "unavailable",
    "not_installed",  # its program is not on this machine (said by the daemon, not the engine)
    "not_runnable",  # its program is here, but the child may not run it (the daemon says)
]
Severity = Literal["info", "warning", "critical"]
Period = Literal["day", "week"]  # which quota: the day's, or the week's
PauseCause = Literal["locked", "idle", "switched_away"]


def to_json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    return value


# -- denial reasons ------------------------------------------------------------

@dataclass(frozen=True)
class Reason:
    code: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        data = {f.name: to_json_value(getattr(self, f.name)) for f in fields(self)}
        return {"code": self.code, **data}


@dataclass(frozen=True)
class UnknownEntry(Reason):
    code: ClassVar[str] = "unknown_entry"
    entry: str
    known: tuple[str, ...] = ()  # the entries the user has, so a typo can be put right
    labels: tuple[str, ...] = ()  # their labels, in the same order


@dataclass(frozen=True)
class NotAllowedForUser(Reason):
    code: ClassVar[str] = "not_allowed_for_user"
    user: str
    entry: str


@dataclass(frozen=True)
class Locked(Reason):
    code: ClassVar[str] = "locked"
    user: str


@dataclass(frozen=True)
class AlreadyRunning(Reason):
    code: ClassVar[str] = "already_running"
    session_ids: tuple[int, ...]
    max_sessions: int
    entry_running: bool = False  # this entry itself runs (else: other sessions fill the slots)


@dataclass(frozen=True)
class OutsideWindow(Reason):
    code: ClassVar[str] = "outside_window"
    next_opening: datetime | None


@dataclass(frozen=True)
class QuotaExhausted(Reason):
    code: ClassVar[str] = "quota_exhausted"
    used_s: float  # in the period
    quota_s: int  # the period's quota plus grants
    resets_at: datetime | None
    period: Period = "day"


@dataclass(frozen=True)
class GroupQuotaExhausted(Reason):
    code: ClassVar[str] = "group_quota_exhausted"
    group: str
    used_s: float
    quota_s: int
    resets_at: datetime | None
    period: Period = "day"


@dataclass(frozen=True)
class Cooldown(Reason):
    code: ClassVar[str] = "cooldown"
    until: datetime


@dataclass(frozen=True)
class TooManyStarts(Reason):
    """The child started ``most`` programs in the last ``window_s`` seconds, the most the
    daemon lets through (each start costs the store a session's records: not a rule of
    the policy, a guard of the disk); the next may start at ``until``."""
    code: ClassVar[str] = "too_many_starts"
    user: str
    most: int
    window_s: int
    until: datetime


@dataclass(frozen=True)
class ProgramUnknown(Reason):
    """A program started outside Shepherd whose program cannot be known: the system's
    dynamic loader (``program``), which had mapped nothing when looked at for a while
    (held stopped at its exec: its parent could name any game after the looks) or whose
    program is named past what is read; or (``long_line``) a program whose command line
    goes on past what ``cmdline`` rules read. It may be any entry's program, so it is
    none (deny when in doubt: made a session of one allowed entry, it could run another's
    game past that game's limits, charged to the first)."""
    code: ClassVar[str] = "program_unknown"
    program: str
    long_line: bool = False


@dataclass(frozen=True)
class StoreUnavailable(Reason):
    code: ClassVar[str] = "store_unavailable"
    detail: str


# -- answers -------------------------------------------------------------------

DeadlineCause = Literal["max_run", "quota", "group_quota", "window", "policy_reload"]


@dataclass(frozen=True)
class Deadline:
    """When a session must end, on both clocks, and which limit sets it."""

    mono: float
    wall: datetime
    remaining_s: float
    cause: DeadlineCause
    group: str | None = None
    period: Period = "day"  # for a quota cause: the day's quota or the week's


@dataclass(frozen=True)
class Availability:
    """What a (user, entry) pair looks like right now, for launch and for status."""

    user: str
    entry: str
    state: EntryState
    reasons: tuple[Reason, ...]
    time_left_s: float | None  # if launched now; None = unlimited
    used_today_s: float
    remaining_today_s: float | None  # entry quota left today; None = unlimited
    cooldown_until: datetime | None

    @property
    def allowed(self) -> bool:
        return not self.reasons


# -- events --------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        return {f.name: to_json_value(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class SessionStarted(Event):
    kind: ClassVar[str] = "session_started"
    session_id: int
    user: str
    entry: str
    started_at: datetime
    deadline: Deadline | None


@dataclass(frozen=True)
class LaunchDenied(Event):
    kind: ClassVar[str] = "launch_denied"
    user: str
    entry: str
    reasons: tuple[Reason, ...]

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user, "entry": self.entry,
                "reasons": [r.to_json() for r in self.reasons]}


@dataclass(frozen=True)
class UsageCharged(Event):
    """Seconds of one session charged to quota days since the last checkpoint."""

    kind: ClassVar[str] = "usage_charged"
    session_id: int
    user: str
    entry: str
    parts: tuple[tuple[date, float], ...]
    forfeited_s: float = 0.0  # time past the deadline, never charged


@dataclass(frozen=True)
class SessionEnded(Event):
    kind: ClassVar[str] = "session_ended"
    session_id: int
    user: str
    entry: str
    reason: EndReason
    charged_s: float
    final_charge: UsageCharged
    cooldown_until: datetime | None
    past_deadline_s: float = 0.0  # how long it ran past its deadline, not charged


@dataclass(frozen=True)
class WarningIssued(Event):
    kind: ClassVar[str] = "warning_issued"
    session_id: int
    user: str
    entry: str
    before_s: int
    remaining_s: float
    severity: Severity
    message: str


@dataclass(frozen=True)
class SessionDue(Event):
    """A session reached its deadline: the shell must stop it with ``reason``."""

    kind: ClassVar[str] = "session_due"
    session_id: int
    reason: EndReason


# A session with less than this left stops now: it is said so, and warned no more
# (a warning due then has nothing left to warn of, unless it was set that short).
STOPS_NOW_S = 1.0


@dataclass(frozen=True)
class GrantCap:
    """What still ends an entry's use today before its own allowance does, once granted:
    a group budget, the hours left in its windows, or (for a running session) whatever
    ends that session first."""

    # grant_end: time given until a moment, longer than is left; own_time: a group's
    # programs' own time (and hours) left today, together
    kind: DeadlineCause | Literal["grant_end", "own_time"]
    usable_s: float  # how much of the entry it still allows today
    group: str | None = None
    until: datetime | None = None  # when it ends the session, or today's hours end
    running: bool = False  # it ends the entry's running session
    period: Period = "day"  # for a quota: the day's or the week's
    # the entry it ends, when a grant on a group ends one of its running programs
    entry: str | None = None
    label: str | None = None
    # of a quota's end of a running session: what is left of the session's extension,
    # which carries it on past the moment the quota runs out (``until`` includes it)
    extension_s: float = 0.0
    # of a grant_end: the entry rests until then, so no more can be used before the
    # moment than is left after the rest (rev15-s25 E)
    rests_until: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {f.name: to_json_value(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class TimeGranted(Event):
    """A grant applied: the change to the day's grants, and what it left."""

    kind: ClassVar[str] = "time_granted"
    user: str
    target: str
    day: date
    seconds: int  # added to the day's grants; negative when time was taken back
    mode: Literal["add", "take", "set"] = "add"
    allowance_s: int | None = None  # quota + grants afterwards; None = no daily limit
    used_s: float = 0.0
    held_at_used: bool = False  # less was asked than already used
    limited_by: tuple[Reason, ...] = ()  # what still keeps the target from being used today
    week_allowance_s: int | None = None  # the week's quota + what grants count for afterwards
    expires_at: datetime | None = None  # time added until then (None: taken back or set)
    week: bool = False  # time added for the rest of the week, on any of its days
    capped_by: tuple[GrantCap, ...] = ()  # what still allows less than the allowance left
    with_day: bool = False  # time added for today (the default): it expires with the day
    # Time given until a moment of the day comes on top of what lasts it: the allowance
    # once the last of it runs out (at ``lasting_from``); None when none counts now.
    lasting_s: int | None = None
    lasting_from: datetime | None = None
    day_ends_at: datetime | None = None  # when the quota day it changes ends
    # The same for a target with only a weekly quota: the week's allowance once the
    # last time given until a moment of today runs out (at ``week_lasting_from``).
    week_lasting_s: int | None = None
    week_lasting_from: datetime | None = None
    # A take-back that what lasts the day held at what was used takes the rest from
    # the unused part of time given until a moment: ``timed_taken_s`` in all, as
    # (grant id, seconds) in ``taken_from`` (review 15-s8 M3).
    timed_taken_s: int = 0
    taken_from: tuple[tuple[int, int], ...] = ()
    # What is left of the time given until each moment of the day still to come
    # (seconds, moment), soonest first: the one that ends first is used first.
    on_top: tuple[tuple[int, datetime], ...] = ()
    # Of ``seconds``, the week's time a set sets aside for the day (positive), or an
    # aside a take-back of the week's time frees (negative): ``seconds`` holds it taken
    # off; the day's own time changes by ``seconds + week_aside_s`` (ledger10). Kept
    # with the change in the store; not part of the answer.
    week_aside_s: int = 0
    # A change of the day's own time: the day's use its own time had not paid for at
    # that moment (time given until a moment and the week's time had: review-1215-s10),
    # so the time it adds never pays for use made before it. Kept with the change in
    # the store; not part of the answer.
    beyond_own_s: int = 0
    # Time given until a moment: the day's use its own time had not paid for when it
    # is given (others did: the week's time, time given until a moment before it), so it
    # pays for none of it (ledger11b). Kept with it in the store; not part of the answer.
    beyond_before_s: float = 0.0
    # On a day with a daily and a weekly quota, the added part of the day's own time as
    # this change leaves it (Engine.kept). Kept with the change in the store (the last
    # change's stands); not part of the answer.
    kept_s: int = 0
    # Of the day's own time, what its words raised and took, as this change leaves it
    # (Engine.raises, grants.py DayRaises); kept with the change in the store (the last
    # change's stands); not part of the answer.
    raises: DayRaises = NO_RAISES

    def to_json(self) -> dict[str, Any]:
        data = {f.name: to_json_value(getattr(self, f.name)) for f in fields(self)
                if f.name not in ("limited_by", "capped_by", "on_top", "week_aside_s",
                                  "beyond_own_s", "beyond_before_s", "kept_s",
                                  "raises")}
        return {**data, "used_s": round(self.used_s, 3),
                "on_top": [{"seconds": part, "until": end.isoformat()}
                           for part, end in self.on_top],
                "limited_by": [r.to_json() for r in self.limited_by],
                "capped_by": [c.to_json() for c in self.capped_by]}


@dataclass(frozen=True)
class GrantExpired(Event):
    """Time added until a moment (or for the week) stopped counting at ``expires_at``;
    ``unused_s`` of it was still left then."""

    kind: ClassVar[str] = "grant_expired"
    grant_id: int
    user: str
    target: str
    day: date
    seconds: int
    expires_at: datetime
    week: bool
    unused_s: float | None  # None: not known (a week's pool, or a target with no limit)
    with_day: bool = False  # time added for today (the default), run out with the day
    taken_s: float = 0.0  # what the day's take-backs and sets took from it (``with_day``)
    paid_s: float | None = None  # what it paid for: seconds - taken - unused (None: unknown)

    def to_json(self) -> dict[str, Any]:
        unused = None if self.unused_s is None else round(self.unused_s, 3)
        paid = None if self.paid_s is None else round(self.paid_s, 3)
        return {**super().to_json(), "unused_s": unused, "taken_s": round(self.taken_s, 3),
                "paid_s": paid}


@dataclass(frozen=True)
class SessionExtended(Event):
    kind: ClassVar[str] = "session_extended"
    session_id: int
    seconds: int
    deadline: Deadline | None


@dataclass(frozen=True)
class SessionPaused(Event):
    """A session stopped being billed: its child's screen is ``cause`` since ``since``."""

    kind: ClassVar[str] = "session_paused"
    session_id: int
    user: str
    entry: str
    cause: PauseCause
    since: datetime


@dataclass(frozen=True)
class SessionResumed(Event):
    """A paused session is billed again; it was paused for ``paused_s``."""

    kind: ClassVar[str] = "session_resumed"
    session_id: int
    user: str
    entry: str
    cause: PauseCause
    paused_s: float


@dataclass(frozen=True)
class SessionSnapshot:
    """A running session as the store's crash snapshot and the status call see it."""

    session_id: int
    user: str
    entry: str
    started_at: datetime
    started_mono: float
    charged_mono: float
    extension_s: int
    fired: tuple[int, ...] = field(default=())
    paused_s: float = 0.0  # time its clock stood still (rule 12), up to charged_mono
    # it ran past its deadline up to charged_mono, not charged (rule 6): after a crash its
    # end still says so (review-14-s23 F1: lost with the daemon, the end read as if the
    # program had never passed its deadline)
    past_deadline_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return to_json_value(asdict(self))  # type: ignore[no-any-return]
