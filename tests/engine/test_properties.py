"""Property tests: random policies and random sequences of launches, stops, grants,
extensions, clock readings and wall-clock jumps, checked against the rules of SPEC §3
by an oracle written apart from the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shepherd.engine import (
    ActionRefused,
    Engine,
    Instant,
    LaunchDenied,
    SessionDue,
    SessionEnded,
    SessionStarted,
    UsageCharged,
)
from shepherd.policy import DAY_NAMES, Policy

ZONES = [ZoneInfo("UTC"), ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York"),
         ZoneInfo("Australia/Lord_Howe")]
# Midnight, an ordinary hour, late evening, and times inside the hours that New York
# and Lord Howe skip or repeat.
DAY_STARTS = ["00:00", "04:00", "23:30", "01:30", "02:30", "01:45", "02:15"]
USERS = ["alex", "sam"]
EPS = 1e-6

durations = st.integers(min_value=30, max_value=2400)
maybe = st.none() | durations


@st.composite
def quotas(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 3))
    if kind == 0:  # none at all: every quota reason holds at once, often
        return 0
    if kind == 1:
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
                              ("weekly_quota", st.integers(0, 4 * 3600)),
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
        group: dict[str, Any] = {"id": "g", "entries": members}
        if draw(st.integers(0, 3)):
            group["daily_quota"] = draw(quotas())
        if draw(st.booleans()):
            group["weekly_quota"] = draw(st.integers(0, 5 * 3600))
        groups.append(group)
    users = [{"name": name, "max_sessions": draw(st.integers(1, 2))} for name in USERS]
    supervisor = {"day_starts_at": draw(st.sampled_from(DAY_STARTS)),
                  "week_starts_on": draw(st.sampled_from(DAY_NAMES))}
    return Policy.model_validate({"version": 1, "supervisor": supervisor,
                                  "users": users, "entries": entries, "groups": groups})


KINDS = (["launch"] * 5 + ["tick"] * 3 + ["advance"] * 3 + ["stop"] * 2
         + ["grant", "grant_until", "extend", "jump", "suspend", "lock", "unlock",
            "launch_unknown"])
operations = st.lists(
    st.tuples(st.sampled_from(KINDS), st.sampled_from(USERS), st.integers(0, 3),
              st.floats(0, 1), st.integers(1, 3600)),
    min_size=10,
    max_size=60,
)

# Clock changes in 2026 (UTC): New York, Paris, Lord Howe; half the histories start
# in the day and a half before one of them.
CHANGES = [datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC),
           datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC),
           datetime(2026, 4, 4, 15, tzinfo=UTC), datetime(2026, 10, 3, 15, 30, tzinfo=UTC)]
starts = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31),
                      timezones=st.just(UTC)) | st.builds(
    lambda change, hours: change - timedelta(hours=hours),
    st.sampled_from(CHANGES), st.floats(0, 36))


def first_instant(zone: ZoneInfo, day: date, minutes: int) -> datetime:
    """When the local clock first reads ``minutes`` past midnight of ``day``, or later."""
    extra, minutes = divmod(minutes, 24 * 60)
    naive = datetime.combine(day + timedelta(days=extra), time(minutes // 60, minutes % 60))
    readings = [naive.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)]
    exact = [u for u in readings if u.astimezone(zone).replace(tzinfo=None) == naive]
    if exact:
        return min(exact)
    moment = min(readings)  # the clock skips this time: walk to the jump
    while moment.astimezone(zone).replace(tzinfo=None) < naive:
        moment += timedelta(minutes=1)
    return moment


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
    extensions: list[tuple[str, str, int]] = field(default_factory=list)
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
        # Every ending starts the rest, except a lock's (unlocking leaves no rest behind).
        if entry.limits.cooldown and ended.reason != "locked":
            until = self.wall + timedelta(seconds=entry.limits.cooldown)
            key = (user, entry_id)
            self.cooldown_until[key] = max(self.cooldown_until.get(key, until), until)

    # -- an oracle for each denial reason, written apart from the engine -------
    def quota_day(self) -> date:
        """The latest day whose start is not after now."""
        start = self.policy.supervisor.day_starts_at
        local = self.wall.astimezone(self.zone).date()
        days = [local + timedelta(days=k) for k in (-2, -1, 0, 1)]
        return max(d for d in days if first_instant(self.zone, d, start) <= self.wall)

    def window_open(self, entry_id: str) -> bool:
        entry = self.policy.entry(entry_id)
        assert entry is not None
        if not entry.windows:
            return True
        local = self.wall.astimezone(self.zone).date()
        for day in (local - timedelta(days=1), local):
            for w in entry.windows:
                end = w.end if w.end > w.start else w.end + 24 * 60
                if (day.weekday() in w.days
                        and first_instant(self.zone, day, w.start) <= self.wall
                        < first_instant(self.zone, day, end)):
                    return True
        return False

    def used(self, user: str, members: tuple[str, ...], day: date) -> float:
        return sum(self.engine.usage.get((user, m, day), 0.0) for m in members)

    def until_given(self, user: str, target: str, day: date) -> float:
        """Time given ``--until`` a moment of ``day``, in full: the most it can have paid
        for (it pays first, review-1215-s12 F1; what it left unused counts for nothing,
        so counting it in full only ever allows more)."""
        return float(sum(g.seconds for g in self.engine.timed.values()
                         if g.user == user and g.target == target and g.day == day
                         and not g.week and not self.engine.with_day(g)))

    def day_over(self, user: str, members: tuple[str, ...], target: str, schedule: Any,
                 day: date) -> float | None:
        """Use of ``day`` beyond its quota and grants (negative: time left)."""
        quota = schedule.for_weekday(day.weekday()) if schedule is not None else None
        if quota is None:
            return None
        return (self.used(user, members, day) - quota - self.engine.granted(user, target, day)
                - self.until_given(user, target, day))

    def week_over(self, user: str, members: tuple[str, ...], target: str, schedule: Any,
                  weekly: int | None, first: date, day: date) -> float | None:
        """The use of ``day``'s week beyond its quota and what its grants count for, seen
        on ``day``: another day's grant counts for the time used beyond a limit that day,
        the grant of ``day`` in full, time taken back only on its day."""
        if weekly is None:
            return None
        allowed, used = float(weekly), 0.0
        for k in range(7):  # days after ``day`` hold use only when the clock went back
            past = first + timedelta(days=k)
            granted = self.engine.granted(user, target, past)
            used += self.used(user, members, past)
            allowed += self.until_given(user, target, past)  # the most it paid for
            if past == day:
                allowed += granted
            elif granted > 0:
                over = self.day_over(user, members, target, schedule, past)
                beyond = max(over + granted if over is not None else 0.0, used - allowed)
                allowed += min(max(beyond, 0.0), granted)
        return used - allowed

    def until_counts(self, user: str, entry_id: str) -> bool:
        """Time given until a moment, on any day, for the entry or a group of it: what
        is left then depends on what it paid for (also on the week's count, and after a
        clock set back), which this oracle bounds only."""
        targets = {entry_id, *(g.id for g in self.policy.groups_of(entry_id))}
        return any(g.user == user and g.target in targets and not g.week
                   and not self.engine.with_day(g) for g in self.engine.timed.values())

    def week_of(self, day: date) -> date:
        start = DAY_NAMES.index(self.policy.supervisor.week_starts_on)
        return day - timedelta(days=(day.weekday() - start) % 7)

    def quota_left(self, user: str, members: tuple[str, ...], target: str,
                   schedule: Any, weekly: int | None) -> float | None:
        day = self.quota_day()
        overs = [over for over in (self.day_over(user, members, target, schedule, day),
                                   self.week_over(user, members, target, schedule, weekly,
                                                  self.week_of(day), day))
                 if over is not None]
        return -max(overs) if overs else None

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
        left = self.quota_left(user, (entry_id,), entry_id, entry.limits.daily_quota,
                               entry.limits.weekly_quota)
        if entry.limits.max_run == 0 or (left is not None and left < 1):
            reasons.add("quota_exhausted")
        for group in self.policy.groups_of(entry_id):
            left = self.quota_left(user, group.entries, group.id, group.daily_quota,
                                   group.weekly_quota)
            if left is not None and left < 1:
                reasons.add("group_quota_exhausted")
        until = self.cooldown_until.get((user, entry_id))
        if until is not None and until > self.wall:
            reasons.add("cooldown")
        return reasons

    def check_usage_within_quota(self) -> None:
        """Use charged beyond a quota, over all days (or all weeks), never exceeds the
        extensions given to the sessions that count against it (without any: each day
        within its quota plus grants, each week within its quota plus what its grants
        count for)."""
        e = self.engine
        days = sorted({day for (_, _, day) in e.usage})
        quotas = [(entry.id, (entry.id,), entry.limits.daily_quota, entry.limits.weekly_quota)
                  for entry in self.policy.entries]
        quotas += [(group.id, group.entries, group.daily_quota, group.weekly_quota)
                   for group in self.policy.groups]
        for user in USERS:
            for target, members, schedule, weekly in quotas:
                daily_over = 0.0
                weekly_over: dict[date, float] = {}
                today = self.quota_day()
                for day in days:
                    over = self.day_over(user, members, target, schedule, day)
                    daily_over += max(over or 0.0, 0.0)
                    # Seen today (or after its last day, for another week): once a day is
                    # over, its grants count only for what they paid.
                    week = self.week_of(day)
                    over = self.week_over(user, members, target, schedule, weekly, week, today)
                    weekly_over[week] = max(over or 0.0, 0.0)
                given = sum(seconds for (u, entry_id, seconds) in self.extensions
                            if u == user and entry_id in members)
                assert daily_over <= given + EPS, (user, target, daily_over, given)
                week_total = sum(weekly_over.values())
                assert week_total <= given + EPS, (user, target, week_total, given)


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
            if kind == "launch" and world.until_counts(user, entry_id):
                # the quota reasons hang on what the grants until a moment paid for:
                # the oracle bounds that only (check_usage_within_quota holds it)
                truth -= {"quota_exhausted", "group_quota_exhausted"}
                if isinstance(result, SessionStarted):
                    assert truth == set(), truth
                    world.started[world.next_id] = (user, entry_id, world.mono)
                    world.next_id += 1
                else:
                    codes = {r.code for r in result.reasons}
                    assert truth <= codes <= truth | {
                        "quota_exhausted", "group_quota_exhausted", "outside_window"}, (
                        codes, truth)
            elif isinstance(result, SessionStarted):
                # No launch is allowed while any denial reason holds.
                assert truth == set(), truth
                world.started[world.next_id] = (user, entry_id, world.mono)
                world.next_id += 1
            else:
                assert isinstance(result, LaunchDenied)
                codes = [r.code for r in result.reasons]
                # A denial names every reason that holds, and only those.
                if truth:
                    assert sorted(codes) == sorted(truth), (codes, truth)
                else:
                    # Under a second left: a window about to close, or a quota with
                    # a second or two left but shared with a running session.
                    assert len(codes) == 1 and codes[0] in (
                        "outside_window", "quota_exhausted", "group_quota_exhausted"), codes
        elif kind == "stop" and world.started:
            ids = sorted(world.started)
            world.end(ids[index % len(ids)], "stopped_by_child")
        elif kind == "extend" and world.started:
            ids = sorted(world.started)
            session_id = ids[index % len(ids)]
            before = e.snapshot(session_id).extension_s
            try:
                e.extend(session_id, seconds, world.now)
            except ActionRefused:  # extended already, or no time limit: nothing changed
                assert e.snapshot(session_id).extension_s == before
            else:
                user_of, entry_of, _ = world.started[session_id]
                world.extensions.append((user_of, entry_of, seconds))
        elif kind in ("grant", "grant_until"):
            target = ["e0", "e1", "g"][index % 3]
            entry = policy.entry(target)
            if (entry and policy.entry_allows(entry, user)) or policy.group(target):
                if kind == "grant":
                    e.grant(user, target, seconds, world.now)
                else:  # until a moment of today, up to 40 minutes on (review-1215-s12 F1)
                    day_end = e.calendar.day_end(e.quota_day(world.now))
                    until = min(world.wall + timedelta(seconds=1 + fraction * 2400),
                                day_end - timedelta(seconds=1))
                    if until > world.wall:
                        e.grant(user, target, seconds, world.now, until=until)
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
       day_start=st.sampled_from(DAY_STARTS))
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
