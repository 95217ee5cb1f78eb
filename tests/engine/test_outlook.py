"""Kept outlooks (engine/outlook.py): an entry's availability worked out once and reused
at later instants must be, float for float, what a fresh computation says then.

Random policies, random operations (launches, stops, checkpoints, grants, timed
grants, extensions, locks, cooldowns cleared, reloads, pauses, clock steps, jumps
back, suspends) and, above all, instants on and around the moments an answer
changes: a window opening or closing, a cooldown ending, a session's quota running
out, a timed grant expiring, the quota day and the local date rolling over. At each
instant every (child, entry) answer through the kept outlooks is compared with a
fresh one, and so is the whole ``status`` answer rendered with the lines it kept.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shepherd.daemon import status
from shepherd.engine import Engine, Instant, SessionDue, SessionStarted
from shepherd.engine.calendar import open_intervals
from shepherd.ipc.protocol import SharedResult, encode
from shepherd.policy import Policy, load_policy_text
from tests.engine.conftest import PARIS, local
from tests.engine.test_properties import USERS, ZONES, policies, starts
from tests.engine.test_replaced_entry import tv_for


@dataclass
class Record:
    user: str
    entry: str
    stopping: object | None = None


class Check:
    """One engine on an injected clock, and the comparisons made at each instant."""

    def __init__(self, engine: Engine, wall: datetime, mono: float = 1000.0) -> None:
        self.engine = engine
        self.wall = wall
        self.mono = mono
        self.sessions: dict[int, Record] = {}
        self.shown = status.Shown()
        self.next_id = 1
        self.kept = 0  # answers given by an outlook worked out at an earlier instant
        self.compared = 0

    @property
    def now(self) -> Instant:
        return Instant(self.wall, self.mono)

    def step(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds

    def to(self, wall: datetime) -> None:
        """Both clocks on to ``wall`` (never back: that is ``jump``)."""
        if wall > self.wall:
            self.step((wall - self.wall).total_seconds())

    def moments(self) -> list[datetime]:
        """The instants ahead at which some answer changes, found apart from the outlooks."""
        engine, now = self.engine, self.now
        found = [engine.calendar.day_end(engine.quota_day(now)),
                 engine.calendar.next_local_date(now.wall)]
        found += [until for until in engine.cooldowns.values()]
        found += [g.expires for g in engine.timed.values()]
        for entry in engine.policy.entries:
            for opens, closes in open_intervals(entry.windows, engine.zone, now.wall):
                found += [opens, closes]
        for sid in engine.session_ids():
            deadline = engine.deadline(sid, now)
            if deadline is not None:
                found.append(deadline.wall)
        return sorted(m for m in found if m > now.wall)

    def compare(self) -> None:
        engine, now = self.engine, self.now
        for user in engine.policy.users:
            for entry in engine.policy.entries:
                before = engine._outlooks.get((user.name, entry.id))
                outlook = engine.outlook(user.name, entry.id, now)
                assert outlook is not None
                if outlook is before and outlook.since != now:
                    self.kept += 1
                kept = engine.verdict(outlook, now)
                fresh = engine.availability(user.name, entry.id, now)  # never kept
                assert kept == fresh, (user.name, entry.id, now, outlook.since)
                self.compared += 1
        with engine.reading():
            shown = self.render(self.shown)
        kept_outlooks = engine._outlooks
        engine._outlooks = {}  # a render that starts from nothing
        try:
            with engine.reading():
                fresh_status = self.render(None)
        finally:
            engine._outlooks = kept_outlooks
        assert shown == fresh_status
        # The kept lines' kept bytes too: the answer as the daemon writes it (issue 13).
        assert SharedResult(shown).encoded() == encode(fresh_status)[:-1]

    def render(self, shown: status.Shown | None) -> dict[str, Any]:
        return status.render(self.now, self.engine, self.engine.policy, self.sessions,
                             only=None, blocked=(), user_mode=False, store_ok=True,
                             clock_jump_pending=False, rejected_reload=None, shown=shown)

    # -- what happens ------------------------------------------------------------------
    def launch(self, user: str, entry: str) -> bool:
        started = self.engine.launch(user, entry, self.now, self.next_id)
        if isinstance(started, SessionStarted):
            self.sessions[self.next_id] = Record(user, entry)
            self.next_id += 1
            return True
        return False

    def end(self, sid: int, reason: str = "stopped") -> None:
        self.engine.end_session(sid, self.now, reason)  # type: ignore[arg-type]
        del self.sessions[sid]

    def tick(self) -> None:
        """A checkpoint, then what is due: the sessions past their deadline end."""
        self.engine.charge(self.now)
        for event in self.engine.due(self.now):
            if isinstance(event, SessionDue) and event.session_id in self.sessions:
                self.end(event.session_id, "expired")


KINDS = (["step"] * 4 + ["edge"] * 6 + ["launch"] * 4 + ["tick"] * 3
         + ["stop", "grant", "timed", "extend", "lock", "unlock", "clear", "reload",
            "pause", "resume", "jump", "suspend", "hold"])
operations = st.lists(
    st.tuples(st.sampled_from(KINDS), st.sampled_from(USERS), st.integers(0, 3),
              st.floats(0, 1), st.integers(1, 3600)),
    min_size=10, max_size=50)


def act(check: Check, kind: str, user: str, index: int, fraction: float, seconds: int,
        other: Policy) -> None:
    engine, now = check.engine, check.now
    entries = [e.id for e in engine.policy.entries]
    entry = entries[index % len(entries)]
    if kind == "step":
        check.step(round(fraction * 90, 6) + 0.001)
    elif kind == "edge":  # onto a moment an answer changes, or just before or after it
        moments = check.moments()
        if moments:
            moment = moments[index % min(len(moments), 3)]
            check.to(moment + timedelta(microseconds=(-1, 0, 0, 1, 1000)[seconds % 5]))
    elif kind == "launch":
        check.launch(user, entry)
    elif kind == "tick":
        check.tick()
    elif kind == "stop" and check.sessions:
        check.end(sorted(check.sessions)[index % len(check.sessions)])
    elif kind == "hold" and check.sessions:  # its SIGTERM went at its deadline, if passed
        engine.hold_deadline(sorted(check.sessions)[index % len(check.sessions)], now)
    elif kind in ("grant", "timed"):
        targets = entries + [g.id for g in engine.policy.groups]
        target = targets[index % len(targets)]
        until = now.wall + timedelta(seconds=seconds // 4 + 1) if kind == "timed" else None
        mode = ("add", "take", "set")[seconds % 3] if until is None else "add"
        with suppress(ValueError):  # not one of the child's entries, past the day: fine
            engine.grant(user, target, seconds // 2 + 1, now, mode, until=until)
    elif kind == "extend" and check.sessions:
        with suppress(ValueError):  # no time limit to extend
            engine.extend(sorted(check.sessions)[index % len(check.sessions)], seconds // 3 + 1,
                          now)
    elif kind == "lock":
        for ended in engine.lock(user, now):
            check.sessions.pop(ended.session_id, None)
    elif kind == "unlock":
        engine.unlock(user)
    elif kind == "clear":
        engine.clear_cooldown(user, entry)
    elif kind == "reload":
        policy = other if engine.policy is not other else check.first
        for event in engine.set_policy(policy, now):
            del event  # warnings only: the sessions go on
    elif kind == "pause":
        engine.pause(user, ("locked", "switched_away", "idle")[index % 3], now, now)
    elif kind == "resume":
        engine.resume(user, now)
    elif kind == "jump":  # the trusted wall clock set back (an accepted clock change)
        check.wall -= timedelta(seconds=seconds * fraction)
    elif kind == "suspend":
        check.wall += timedelta(seconds=seconds * 3)


class Run(Check):
    first: Policy


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(policy=policies(), other=policies(), zone=st.sampled_from(ZONES), start=starts,
       ops=operations)
def test_a_kept_answer_is_the_fresh_answer_at_every_instant(
        policy: Policy, other: Policy, zone: ZoneInfo, start: datetime,
        ops: list[tuple[str, str, int, float, int]]) -> None:
    check = Run(Engine(policy, zone), start)
    check.first = policy
    check.compare()
    for kind, user, index, fraction, seconds in ops:
        act(check, kind, user, index, fraction, seconds, other)
        check.compare()
    assert check.compared > 0


# -- each change named, on a household's policy ------------------------------------------
POLICY = """
version = 1
[supervisor]
day_starts_at = "20:00"
[[users]]
name = "alex"
max_sessions = 2
[[users]]
name = "sam"
[[entries]]
id = "minecraft"
command = ["true"]
limits = { daily_quota = "10m", cooldown = "5m" }
windows = [{ days = "daily", start = "16:00", end = "19:30" }]
[[entries]]
id = "tuxracer"
command = ["true"]
limits = { daily_quota = "1h", max_run = "30m" }
windows = [{ days = "daily", start = "16:00", end = "19:00" }]
[[entries]]
id = "homework"
command = ["true"]
[[entries]]
id = "kart"
command = ["true"]
limits = { max_run = "20m" }
windows = [{ days = "daily", start = "18:30", end = "21:00" }]
[[entries]]
id = "radio"
command = ["true"]
windows = [{ days = "daily", start = "00:00", end = "24:00" }]
[[groups]]
id = "games"
entries = ["minecraft", "kart"]
daily_quota = "40m"
"""


def test_each_change_is_seen_and_everything_else_is_kept() -> None:
    policy = load_policy_text(POLICY)
    check = Check(Engine(policy, PARIS), local(25, 15, 58))
    check.compare()
    check.step(30)
    check.compare()
    assert check.kept > 0  # nothing changed: the answers were kept
    kept = check.kept

    check.to(local(25, 16, 0) - timedelta(microseconds=1))  # a window opens
    check.compare()
    check.to(local(25, 16, 0))
    check.compare()
    assert check.engine.availability("alex", "minecraft", check.now).state == "available"

    assert check.launch("alex", "minecraft")  # a quota that runs out while running
    check.compare()
    for _ in range(12):
        check.step(59.9)
        check.tick()
        check.compare()
    assert not check.sessions  # ended by its quota
    assert check.engine.availability("alex", "minecraft", check.now).state == "quota_exhausted"

    check.engine.grant("alex", "minecraft", 120, check.now)  # a grant: time again...
    check.compare()
    assert "cooldown" in {r.to_json()["code"] for r in check.engine.availability(
        "alex", "minecraft", check.now).reasons}
    cooldown = check.engine.cooldowns[("alex", "minecraft")]
    check.to(cooldown - timedelta(microseconds=1))  # ...once the cooldown ends
    check.compare()
    check.to(cooldown)
    check.compare()
    assert check.engine.availability("alex", "minecraft", check.now).state == "available"

    # tuxracer's time left: its max_run (30m), until its window (to 19:00) is nearer.
    check.to(local(25, 18, 29) + timedelta(seconds=59.5))
    check.compare()
    assert check.engine.availability("alex", "tuxracer", check.now).time_left_s == 1800
    check.step(1.0)
    check.compare()
    assert check.engine.availability("alex", "tuxracer", check.now).time_left_s == 1799.5
    check.to(local(25, 18, 59) + timedelta(seconds=59))  # time left bound by a closing window
    check.compare()
    check.step(0.5)
    check.compare()
    check.to(local(25, 19, 0))
    check.compare()
    assert check.engine.availability("alex", "tuxracer", check.now).state == "outside_window"

    check.engine.set_policy(load_policy_text(POLICY.replace('"10m"', '"30m"')), check.now)
    check.compare()  # a reload
    check.engine.lock("sam", check.now)
    check.compare()
    check.engine.unlock("sam")
    check.compare()

    check.to(local(25, 20, 0) - timedelta(microseconds=1))  # the quota day rolls over
    check.compare()
    check.to(local(25, 20, 0))
    check.compare()
    radio = check.engine.availability("alex", "radio", check.now).time_left_s
    check.to(local(26, 0, 0))  # and the local date: the windows looked up move on a day
    check.compare()
    assert check.engine.availability("alex", "radio", check.now).time_left_s != radio
    check.wall -= timedelta(minutes=30)  # a clock set back
    check.compare()
    assert check.kept > kept
    assert check.compared > 100


GROUP = """
version = 1
[[users]]
name = "alex"
max_sessions = 2
[[entries]]
id = "kart"
command = ["true"]
[[entries]]
id = "chess"
command = ["true"]
limits = { max_run = "1h" }
[[groups]]
id = "games"
entries = ["kart", "chess"]
daily_quota = "10m"
"""


def test_a_group_quota_a_running_session_spends_is_followed_for_its_other_entries() -> None:
    check = Check(Engine(load_policy_text(GROUP), PARIS), local(25, 16, 0))
    assert check.launch("alex", "kart")
    check.compare()
    lefts = []
    for _ in range(5):  # chess's time left: the group's, shared with kart as it runs
        check.step(61.25)
        check.compare()
        lefts.append(check.engine.availability("alex", "chess", check.now).time_left_s)
    assert check.kept > 0
    assert lefts == sorted(lefts, reverse=True) and len(set(lefts)) == 5
    deadline = check.engine.deadline(1, check.now)
    assert deadline is not None and deadline.cause == "group_quota"
    check.to(deadline.wall - timedelta(microseconds=1))
    check.compare()
    check.to(deadline.wall)  # the group's time is gone; kart is not stopped yet
    check.compare()
    assert check.engine.availability("alex", "chess", check.now).state == "quota_exhausted"
    check.tick()
    assert not check.sessions
    check.compare()


def test_a_session_whose_entry_a_reload_replaced_keeps_its_own_limits_in_a_render() -> None:
    """A reload that takes an entry from its child leaves the running session on the old
    entry (rule 10), under a cap. The new policy's entry of the same id has other windows
    and quotas: what a render works out for it must not stand in for the session's own
    (found by the property test above: the end was named ``policy_reload`` in a render
    from nothing and ``window`` through the kept lines)."""
    before = tv_for("alex", 'limits = { daily_quota = "30m" }\n'
                    'windows = [{ days = "daily", start = "00:00", end = "00:01" }]')
    after = tv_for("sam")
    utc = ZoneInfo("UTC")
    check = Check(Engine(before, utc), datetime(2026, 3, 9, 0, 0, tzinfo=utc))
    assert check.launch("alex", "tv")
    check.engine.set_policy(after, check.now)
    with check.engine.reading():  # sam's "tv" (no window, no quota) worked out first
        check.engine.availability("sam", "tv", check.now)
        in_render = check.engine.deadline(1, check.now)
    alone = check.engine.deadline(1, check.now)
    assert in_render == alone
    assert alone is not None and alone.cause == "window"  # the first named on a tie
    check.compare()


def test_one_childs_change_leaves_the_other_childs_answers_kept() -> None:
    """A launch, a warning, a stop at the deadline, an end, a grant, a lock, a cooldown
    cleared, a pause: each is one child's change, and the other child's outlooks (and
    the ``status`` lines made from them) are kept, not worked out again (warn16: a
    household's launches and ends made every ``status`` work out all its lines again,
    20-30 ms of the loop's time under a bench's churn). The kept answers stay the fresh
    ones (``compare``)."""
    policy = load_policy_text(POLICY.replace('max_sessions = 2', 'max_sessions = 3')
                              .replace('limits = { max_run = "20m" }',
                                       'limits = { max_run = "20m" }\nwarnings = '
                                       '[{ before = "1m", message = "1 minute" }]'))
    check = Check(Engine(policy, PARIS), local(25, 18, 30))
    engine = check.engine
    entries = [e.id for e in policy.entries]

    def sams() -> dict[str, object]:
        found = {e: engine.outlook("sam", e, check.now) for e in entries}
        assert not any(o.volatile for o in found.values() if o is not None)
        return found

    def alex_changes(change: Any) -> None:
        before_sam, before_alex = sams(), engine.outlook("alex", "radio", check.now)
        change()
        check.compare()
        assert sams() == before_sam and all(
            engine.outlook("sam", e, check.now) is before_sam[e] for e in entries)
        assert engine.outlook("alex", "radio", check.now) is not before_alex

    check.compare()
    alex_changes(lambda: check.launch("alex", "kart"))
    alex_changes(lambda: check.launch("alex", "tuxracer"))
    check.to(local(25, 18, 49))  # a minute before kart's max_run: its warning
    kept = engine.outlook("alex", "radio", check.now)  # a warning changes no outlook
    assert [e.kind for e in engine.due(check.now)] == ["warning_issued"]
    check.compare()
    assert engine.outlook("alex", "radio", check.now) is kept
    check.to(local(25, 18, 50))
    alex_changes(lambda: engine.hold_deadline(1, check.now) or pytest.fail("not held"))
    alex_changes(lambda: check.end(1, "expired"))
    alex_changes(lambda: engine.grant("alex", "tuxracer", 600, check.now))
    alex_changes(lambda: engine.clear_cooldown("alex", "kart"))
    alex_changes(lambda: engine.pause("alex", "locked", check.now, check.now))
    alex_changes(lambda: engine.resume("alex", check.now))
    alex_changes(lambda: engine.extend(2, 60, check.now))
    alex_changes(lambda: [check.sessions.pop(e.session_id) for e in engine.lock("alex",
                                                                                 check.now)])
    alex_changes(lambda: engine.unlock("alex"))
    # A change that may touch any child (a reload) is seen by both.
    before = sams()
    engine.set_policy(load_policy_text(POLICY), check.now)
    check.compare()
    assert all(engine.outlook("sam", e, check.now) is not before[e] for e in entries)
