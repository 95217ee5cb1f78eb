"""A session on an entry a reload replaced (rule 10) and the new policy's entry of the same
id: each counts against its own quota, never the other's (read-back of s6: the engine's
quotas were kept by the target's name, and a reading's memo keyed standings and runways
by it too).

Alex plays "tv" (30 minutes a day) for 29½ minutes; the new policy gives "tv" to Sam
alone, with 2 hours a day. Alex's session goes on, on the old entry, under a cap, and its
quota has 30 seconds left; the new "tv" has 90½ minutes left for Alex (not allowed to
Alex, but its time is still reported) and 2 hours for Sam.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from shepherd.engine import Engine, Instant, SessionStarted
from shepherd.policy import Policy, load_policy_text


def tv_for(user: str, rules: str = "") -> Policy:
    """Alex and Sam, and a "tv" entry for one of them, with ``rules`` (TOML lines)."""
    return load_policy_text(f'''
version = 1
[[users]]
name = "alex"
[[users]]
name = "sam"
[[entries]]
id = "tv"
command = ["true"]
users = ["{user}"]
{rules}
''')


UTC = ZoneInfo("UTC")
START = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
PLAYED_S = 29.5 * 60


def reloaded() -> tuple[Engine, Instant]:
    """Alex's session on the old "tv" after the reload, and the instant."""
    engine = Engine(tv_for("alex", 'limits = { daily_quota = "30m" }'), UTC)
    assert isinstance(engine.launch("alex", "tv", Instant(START, 1000.0), 1), SessionStarted)
    now = Instant(START.replace(minute=29, second=30), 1000.0 + PLAYED_S)
    engine.set_policy(tv_for("sam", 'limits = { daily_quota = "2h" }'), now)
    return engine, now


def test_the_new_entry_counts_against_its_own_quota_not_the_replaced_one_s() -> None:
    engine, now = reloaded()
    sam = engine.availability("sam", "tv", now)
    assert sam.state == "available"
    assert sam.remaining_today_s == 2 * 3600  # the new "tv"'s 2 hours, not the old 30 minutes
    alex = engine.availability("alex", "tv", now)
    assert alex.remaining_today_s == 2 * 3600 - PLAYED_S
    deadline = engine.deadline(1, now)
    assert deadline is not None and deadline.remaining_s == 30
    assert deadline.cause == "quota"  # the old quota's 30 s (the cap, as long, named after)


def test_a_reading_keeps_the_two_entries_standings_apart_whichever_comes_first() -> None:
    engine, now = reloaded()
    alone = engine.availability("alex", "tv", now), engine.deadline(1, now)
    with engine.reading():  # the session's quota first, then the new entry's
        deadline = engine.deadline(1, now)
        availability = engine.availability("alex", "tv", now)
    assert (availability, deadline) == alone
    with engine.reading():  # the new entry's first, then the session's
        availability = engine.availability("alex", "tv", now)
        deadline = engine.deadline(1, now)
    assert (availability, deadline) == alone
