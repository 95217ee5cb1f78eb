"""The pure accounting engine: availability, deadlines, warnings, the day split.

Owns every rule of SPEC §3 and the timing rules of §4. Must not open a file, a
socket or a process, and never reads a clock: time is a value passed in.
"""

from shepherd.engine.calendar import QuotaCalendar, WindowState, open_intervals, window_state
from shepherd.engine.clock import (
    ClockJump,
    ClockReading,
    ClockRestored,
    Instant,
    Resumed,
    TrustedClock,
)
from shepherd.engine.engine import ActionRefused, AlreadyExtended, Engine
from shepherd.engine.events import (
    AlreadyRunning,
    Availability,
    Cooldown,
    Deadline,
    Event,
    GrantCap,
    GrantExpired,
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
    SessionPaused,
    SessionResumed,
    SessionSnapshot,
    SessionStarted,
    StoreUnavailable,
    TimeGranted,
    UnknownEntry,
    UsageCharged,
    WarningIssued,
)
from shepherd.engine.grants import TimedGrant
from shepherd.engine.household import Household, RemoteSession
from shepherd.engine.pauses import Pause

__all__ = [
    "ActionRefused",
    "AlreadyExtended",
    "AlreadyRunning",
    "Availability",
    "ClockJump",
    "ClockReading",
    "ClockRestored",
    "Cooldown",
    "Deadline",
    "Engine",
    "Event",
    "GrantCap",
    "GrantExpired",
    "GroupQuotaExhausted",
    "Household",
    "Instant",
    "LaunchDenied",
    "Locked",
    "NotAllowedForUser",
    "OutsideWindow",
    "Pause",
    "QuotaCalendar",
    "QuotaExhausted",
    "Reason",
    "RemoteSession",
    "Resumed",
    "SessionDue",
    "SessionEnded",
    "SessionExtended",
    "SessionPaused",
    "SessionResumed",
    "SessionSnapshot",
    "SessionStarted",
    "StoreUnavailable",
    "TimeGranted",
    "TimedGrant",
    "TrustedClock",
    "UnknownEntry",
    "UsageCharged",
    "WarningIssued",
    "WindowState",
    "open_intervals",
    "window_state",
]
