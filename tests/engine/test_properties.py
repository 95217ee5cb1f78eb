"""Property tests: random policies and random sequences of launches, stops, grants,
clock readings and wall-clock jumps, checked against the rules of SPEC §3."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shepherd.engine import (
    Engine,
    Instant,
    LaunchDenied,
    SessionDue,
    SessionEnded,
    SessionStarted,
    UsageCharged,
)
from shepherd.policy import DAY_NAMES, Policy

ZONES = [ZoneInfo("UTC"), ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")]
USERS = ["alex", "sam"]
EPS = 1e-6

durations = st.integers(min_value=30, max_value=2400)
maybe = st.none() | durations


@st.composite
def quotas(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        return draw(st.integers(min_value=0, max_value=3600))
    table: dict[str, int] = {"weekdays": draw(durations), "weekends": draw(durations)}
    if draw(st.booleans()):
        table[draw(st.sampled_from(DAY_NAMES))] = draw(st.integers(0, 3600))
    return table


@st.composite
def windows(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(st.integers(0, 23 * 60 + 59))
    end = draw(st.integers(1, 24 * 60).filter(lambda m: m != start))
    days = draw(st.sampled_from(["daily", "weekdays", "weekends"])
                | st.lists(st.sampled_from(DAY_NAMES), min_size=1, max_size=7, unique=True))
    return {"days": days, "start": f"{start // 60:02d}:{start % 60:02d}",
            "end": f"{end // 60:02d}:{end % 60:02d}"}


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    entry_count = draw(st.integers(1, 4))
    entries = []
    for index in range(entry_count):
        limits: dict[str, Any] = {}
        for key, strategy in (("max_run", durations), ("daily_quota", quotas()),
                              ("cooldown", st.integers(0, 3600))):
            if draw(st.booleans()):
                limits[key] = draw(strategy)
        entry: dict[str, Any] = {"id": f"e{index}", "command": ["true"], "limits": limits}
        if draw(st.booleans()):
            entry["windows"] = draw(st.lists(windows(), min_size=1, max_size=2))
        if draw(st.integers(0, 3)) == 0:
            entry["users"] = [draw(st.sampled_from(USERS))]
        entries.append(entry)
    groups = []
    if entry_count > 1 and draw(st.booleans()):
        members = draw(st.lists(st.sampled_from([e["id"] for e in entries]), min_size=1,
                                unique=True))
        groups.append({"id": "g", "entries": members, "daily_quota": draw(quotas())})
    users = [{"name": name, "max_sessions": draw(st.integers(1, 2))} for name in USERS]
    day_start = draw(st.sampled_from(["00:00", "04:00", "23:30"]))
    return Policy.model_validate({"version": 1, "supervisor": {"day_starts_at": day_start},
                                  "users": users, "entries": entries, "groups": groups})


KINDS = (["launch"] * 5 + ["tick"] * 3 + ["advance"] * 3 + ["stop"] * 2
         + ["grant", "jump", "suspend", "lock", "unlock", "launch_unknown"])
operations = st.lists(
    st.tuples(st.sampled_from(KINDS), st.sampled_from(USERS), st.integers(0, 3),
              st.floats(0, 1), st.integers(1, 3600)),
    min_size=10,
    max_size=60,
)

starts = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31),
                      timezones=st.just(UTC))


@dataclass
class World:
    """What the test itself remembers, to check the engine against."""

    engine: Engine
    policy: Policy
    zone: ZoneInfo
    wall: datetime
    mono: float = 1000.0
    started: dict[int, tuple[str, str, float]] = field(default_factory=dict)
    forfeited: dict[int, float] = field(default_factory=dict)
    cooldown_until: dict[tuple[str, str], datetime] = field(default_factory=dict)
    locked: set[str] = field(default_factory=set)
    next_id: int = 1

    @property
    def now(self) -> Instant:
        return Instant(self.wall, self.mono)

    def note_charge(self, charge: UsageCharged) -> None:
        self.forfeited[charge.session_id] = (
            self.forfeited.get(charge.session_id, 0.0) + charge.forfeited_s)

    def end(self, session_id: int, reason: str) -> None:
        ended = self.engine.end_session(session_id, self.now, reason)  # type: ignore[arg-type]
        self.settled(ended)

    def settled(self, ended: SessionEnded) -> None:
        self.note_charge(ended.final_charge)
        user, entry_id, start = self.started.pop(ended.session_id)
        # The parts of a session add up to its elapsed monotonic time.
        elapsed = self.mono - start
        total = ended.charged_s + self.forfeited.pop(ended.session_id, 0.0)
        assert abs(total - elapsed) < 1e-3, (total, elapsed)
        entry = self.policy.entry(entry_id)
        assert entry is not None
        if entry.limits.cooldown:
            until = self.wall + timedelta(seconds=entry.limits.cooldown)
            key = (user, entry_id)
            self.cooldown_until[key] = max(self.cooldown_until.get(key, until), until)

    # -- an oracle for each denial reason, written apart from the engine -------
    def quota_day(self) -> date:
        local = self.wall.astimezone(self.zone).replace(tzinfo=None)
        start = self.policy.supervisor.day_starts_at
        return (local - timedelta(minutes=start)).date()

    def window_open(self, entry_id: str) -> bool:
        entry = self.policy.entry(entry_id)
        assert entry is not None
        if not entry.windows:
            return True
        local = self.wall.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        today, yesterday = local.weekday(), (local.weekday() - 1) % 7
        for w in entry.windows:
            if w.end > w.start:
                if today in w.days and w.start <= minute < w.end:
                    return True
            elif (today in w.days and minute >= w.start) or (yesterday in w.days
                                                              and minute < w.end):
                return True
        return False

    def quota_left(self, user: str, members: tuple[str, ...], target: str,
                   schedule: Any) -> float | None:
        if schedule is None:
            return None
        day = self.quota_day()
        quota = schedule.for_weekday(day.weekday())
        if quota is None:
            return None
        used = sum(self.engine.usage.get((user, m, day), 0.0) for m in members)
        return quota + self.engine.grants.get((user, target, day), 0) - used

    def true_reasons(self, user: str, entry_id: str) -> set[str]:
        entry = self.policy.entry(entry_id)
        if entry is None:
            return {"unknown_entry"}
        reasons = set()
        if user in self.locked:
            reasons.add("locked")
        if entry.users is not None and user not in entry.users:
            reasons.add("not_allowed_for_user")
        mine = [e for (u, e, _) in self.started.values() if u == user]
        account = self.policy.user(user)
        assert account is not None
        if entry_id in mine or len(mine) >= account.max_sessions:
            reasons.add("already_running")
        if not self.window_open(entry_id):
            reasons.add("outside_window")
        left = self.quota_left(user, (entry_id,), entry_id, entry.limits.daily_quota)
        if entry.limits.max_run == 0 or (left is not None and left < 1):
            reasons.add("quota_exhausted")
        for group in self.policy.groups_of(entry_id):
            left = self.quota_left(user, group.entries, group.id, group.daily_quota)
            if left is not None and left < 1:
                reasons.add("group_quota_exhausted")
        until = self.cooldown_until.get((user, entry_id))
        if until is not None and until > self.wall:
            reasons.add("cooldown")
        return reasons

    def check_usage_within_quota(self) -> None:
        """Usage charged to a quota day never exceeds that day's quota plus grants."""
        e = self.engine
        days = {day for (_, _, day) in e.usage}
        for user in USERS:
            for day in days:
                for entry in self.policy.entries:
                    schedule = entry.limits.daily_quota
                    if schedule is None or schedule.for_weekday(day.weekday()) is None:
                        continue
                    quota = schedule.for_weekday(day.weekday())
                    assert quota is not None
                    used = e.usage.get((user, entry.id, day), 0.0)
                    assert used <= quota + e.grants.get((user, entry.id, day), 0) + EPS
                for group in self.policy.groups:
                    gq = group.daily_quota
                    if gq is None or gq.for_weekday(day.weekday()) is None:
                        continue
                    quota = gq.for_weekday(day.weekday())
                    assert quota is not None
                    used = sum(e.usage.get((user, m, day), 0.0) for m in group.entries)
                    assert used <= quota + e.grants.get((user, group.id, day), 0) + EPS


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=policies(), zone=st.sampled_from(ZONES), start=starts, ops=operations)
def test_random_histories_keep_every_accounting_rule(
    policy: Policy, zone: ZoneInfo, start: datetime, ops: list[tuple[Any, ...]]
) -> None:
    world = World(Engine(policy, zone), policy, zone, start)
    e = world.engine
    previous_usage: dict[tuple[str, str, date], float] = {}
    for op in ops:
        kind = op[0]
        _, user, index, fraction, seconds = op
        if kind in ("launch", "launch_unknown"):
            entry_id = f"e{index % len(policy.entries)}" if kind == "launch" else "nope"
            for charge in e.charge(world.now):
                world.note_charge(charge)
            truth = world.true_reasons(user, entry_id)
            verdict = e.availability(user, entry_id, world.now)
            # A state never says "available" beside a reason that refuses the launch.
            assert (verdict.state == "available") == (not verdict.reasons), verdict
            result = e.launch(user, entry_id, world.now, world.next_id)
            if isinstance(result, SessionStarted):
                # No launch is allowed while any denial reason holds.
                assert truth == set(), truth
                world.started[world.next_id] = (user, entry_id, world.mono)
                world.next_id += 1
            else:
                assert isinstance(result, LaunchDenied)
                codes = {r.code for r in result.reasons}
                # Every denial names at least one reason, and each one holds.
                if truth:
                    assert codes and codes <= truth, (codes, truth)
                else:  # only a window that closes within the second denies here
                    assert codes == {"outside_window"}, codes
        elif kind == "stop" and world.started:
            ids = sorted(world.started)
            world.end(ids[index % len(ids)], "stopped_by_child")
        elif kind == "grant":
            target = ["e0", "e1", "g"][index % 3]
            if policy.entry(target) or policy.group(target):
                e.grant(user, target, seconds, world.now)
        elif kind in ("advance", "tick"):
            step = fraction * (2 if kind == "tick" else 2400)
            world.wall += timedelta(seconds=step)
            world.mono += step
            if kind == "tick":
                for charge in e.charge(world.now):
                    world.note_charge(charge)
                for event in e.due(world.now):
                    if isinstance(event, SessionDue):
                        world.end(event.session_id, event.reason)
        elif kind == "jump":  # the wall clock is set, forward or back, by minutes or days
            world.wall += timedelta(seconds=(fraction - 0.5) * 6 * 86400)
        elif kind == "suspend":
            world.wall += timedelta(seconds=fraction * 20 * 3600)
        elif kind == "lock":
            for ended in e.lock(user, world.now):
                world.settled(ended)
            world.locked.add(user)
        elif kind == "unlock":
            e.unlock(user)
            world.locked.discard(user)
        # Moving the wall clock never lowers recorded usage.
        for key, value in previous_usage.items():
            assert e.usage.get(key, 0.0) >= value - EPS
        previous_usage = dict(e.usage)
        world.check_usage_within_quota()
    for session_id in sorted(world.started):
        world.end(session_id, "daemon_shutdown")
    world.check_usage_within_quota()


@settings(max_examples=200, deadline=None)
@given(zone=st.sampled_from(ZONES), start=starts,
       pieces=st.lists(st.floats(0, 30 * 3600), min_size=1, max_size=10),
       day_start=st.sampled_from(["00:00", "04:00", "23:30"]))
def test_parts_of_a_split_session_add_up_to_its_elapsed_time(
    zone: ZoneInfo, start: datetime, pieces: list[float], day_start: str
) -> None:
    policy = Policy.model_validate({
        "version": 1, "supervisor": {"day_starts_at": day_start},
        "users": [{"name": "alex"}], "entries": [{"id": "x", "command": ["x"]}]})
    e = Engine(policy, zone)
    wall, mono = start, 0.0
    e.launch("alex", "x", Instant(wall, mono), 1)
    parts: list[tuple[date, float]] = []
    for piece in pieces:
        wall += timedelta(seconds=piece)
        mono += piece
        parts += e.charge(Instant(wall, mono))[0].parts
    ended = e.end_session(1, Instant(wall, mono), "exited")
    assert abs(sum(s for _, s in parts) - mono) < 1e-3
    assert abs(ended.charged_s - mono) < 1e-3
    assert abs(sum(e.usage.values()) - mono) < 1e-3
    assert [d for d, _ in parts] == sorted(d for d, _ in parts)
