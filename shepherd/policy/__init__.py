"""The policy: TOML -> validated, immutable objects; every error with its path and line.

Owns the policy format of SPEC §2 and the one duration parser. Must not know
about the clock, the store or processes.
"""

from shepherd.policy.check import (
    CheckResult,
    PolicyError,
    Problem,
    check_policy_file,
    check_policy_text,
    load_policy,
    load_policy_text,
)
from shepherd.policy.durations import DurationError, format_duration, parse_duration
from shepherd.policy.model import (
    DAY_NAMES,
    Detect,
    Entry,
    Group,
    Household,
    Limits,
    Policy,
    QuotaSchedule,
    Supervisor,
    TimeWarning,
    User,
    Window,
)

__all__ = [
    "DAY_NAMES",
    "CheckResult",
    "Detect",
    "DurationError",
    "Entry",
    "Group",
    "Household",
    "Limits",
    "Policy",
    "PolicyError",
    "Problem",
    "QuotaSchedule",
    "Supervisor",
    "TimeWarning",
    "User",
    "Window",
    "check_policy_file",
    "check_policy_text",
    "format_duration",
    "load_policy",
    "load_policy_text",
    "parse_duration",
]
