"""One test per accounting rule of SPEC §3 and timing rule of §4."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from shepherd.engine import (
    ActionRefused,
    AlreadyRunning,
    ClockJump,
    ClockReading,
    ClockRestored,
    Cooldown,
    GroupQuotaExhausted,
    LaunchDenied,
    Locked,
    NotAllowedForUser,
    OutsideWindow,
    QuotaExhausted,
    Resumed,
    SessionDue,
    SessionStarted,
    StoreUnavailable,
    TrustedClock,
    UnknownEntry,
    WarningIssued,
)
from tests.engine.conftest import (
    PARIS,
    FakeClock,
    alex_at_once,
    engine,
    local,
    policy,
)
from tests.policies import two_in_a_group

GAME = """
[[entries]]
id = "game"
command = ["game"]
limits = { max_run = "45m", daily_quota = "1h", cooldown = "30m" }
"""


def started(result: object) -> SessionStarted:
    assert isinstance(result, SessionStarted), result
    return result


def denied(result: object) -> LaunchDenied:
    assert isinstance(result, LaunchDenied), result
    return result


# -- clocks ---------------------------------------------------------------------

def test_session_time_is_monotonic_so_changing_the_wall_clock_neither_refunds_nor_adds() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    started(e.launch("alex", "game", clock.now, 1))
    clock.advance(600)
    clock.set_wall(clock.wall - timedelta(minutes=30))  # set back: no refund
    clock.advance(60)
    clock.set_wall(clock.wall + timedelta(minutes=90))  # set forward: nothing added
    ended = e.end_session(1, clock.advance(60), "stopped_by_child")
    assert ended.charged_s == pytest.approx(720)
    assert e.used("alex", ["game"], date(2026, 11, 25), None) == pytest.approx(720)


def test_wall_clock_jump_is_reported_and_not_followed_unless_synchronised() -> None:
    start = local(25, 16)
    clock = TrustedClock(ClockReading(start, mono=100, boot=100))
    jumped = ClockReading(start + timedelta(days=1, seconds=60), mono=160, boot=160)
    events = clock.observe(jumped)
    assert len(events) == 1 and isinstance(events[0], ClockJump)
    assert not events[0].followed
    assert events[0].skew_s == pytest.approx(86_400)
    assert clock.instant(jumped).wall == start + timedelta(seconds=60)
    # The same jump is reported once, not every minute.
    later = ClockReading(start + timedelta(days=1, seconds=120), mono=220, boot=220)
    assert clock.observe(later) == []
    assert clock.instant(later).wall == start + timedelta(seconds=120)


def test_wall_clock_jump_is_followed_when_network_synchronised() -> None:
    start = local(25, 16)
    clock = TrustedClock(ClockReading(start, mono=100, boot=100))
    synced = ClockReading(start + timedelta(hours=2), mono=130, boot=130, synchronized=True)
    events = clock.observe(synced)
    assert isinstance(events[0], ClockJump) and events[0].followed
    assert clock.instant(synced).wall == start + timedelta(hours=2)


def test_admin_accepting_the_clock_makes_it_trusted() -> None:
    start = local(25, 16)
    clock = TrustedClock(ClockReading(start, mono=100, boot=100))
    reading = ClockReading(start + timedelta(hours=5), mono=110, boot=110)
    clock.observe(reading)
    clock.accept(reading)
    assert clock.instant(reading).wall == start + timedelta(hours=5)


def test_wall_clock_earlier_than_last_trusted_reading_is_not_trusted_at_start() -> None:
    last = local(25, 16)
    clock = TrustedClock(ClockReading(last - timedelta(days=3), mono=5, boot=5), last)
    assert isinstance(clock.start_events[0], ClockJump)
    assert clock.instant(ClockReading(last - timedelta(days=3), mono=65, boot=65)).wall == (
        last + timedelta(seconds=60))


def test_a_clock_set_forward_before_start_yields_to_the_household_servers() -> None:
    """A child who moves a laptop's clock a day forward before it boots (where no
    clock check saw it move) does not open tomorrow's quota: the household server's
    clock is a witness, and the system clock waits for an admin."""
    real = local(25, 16)
    moved = ClockReading(real + timedelta(days=1), mono=5, boot=5)
    clock = TrustedClock(moved)
    jump = clock.witness(moved, real, "the household's server")
    assert isinstance(jump, ClockJump) and not jump.followed
    assert jump.skew_s == pytest.approx(86_400) and "household's server" in jump.why
    later = ClockReading(real + timedelta(days=1, seconds=60), mono=65, boot=65)
    assert clock.instant(later).wall == real + timedelta(seconds=60)
    assert clock.observe(later) == []  # reported once, by the witness
    # A witness that agrees (within the minute) changes nothing.
    assert clock.witness(later, real + timedelta(seconds=90), "the household's server") is None
    assert clock.instant(later).wall == real + timedelta(seconds=60)


def test_the_servers_clock_also_corrects_a_trusted_clock_the_system_clock_agrees_with_it(
        ) -> None:
    real = local(25, 16)
    reading = ClockReading(real, mono=5, boot=5)
    clock = TrustedClock(ClockReading(real + timedelta(days=1), mono=5, boot=5))
    jump = clock.witness(reading, real, "the household's server")
    assert isinstance(jump, ClockJump) and jump.followed
    assert clock.instant(reading).wall == real


def test_a_network_synchronised_clock_needs_no_witness() -> None:
    real = local(25, 16)
    synced = ClockReading(real, mono=5, boot=5, synchronized=True)
    clock = TrustedClock(synced)
    assert clock.witness(synced, real - timedelta(hours=3), "the household's server") is None
    assert clock.instant(synced).wall == real


def test_a_suspend_moves_the_trusted_wall_clock_forward() -> None:
    # CLOCK_BOOTTIME runs through a suspend, CLOCK_MONOTONIC does not: the trusted
    # wall clock follows boot time, so a night asleep is not a clock jump.
    start = local(25, 22)
    clock = TrustedClock(ClockReading(start, mono=100, boot=100))
    woke = ClockReading(start + timedelta(hours=9, seconds=60), mono=160, boot=100 + 9 * 3600 + 60)
    assert clock.observe(woke) == [Resumed(slept_s=9 * 3600)]
    assert clock.instant(woke).wall == start + timedelta(hours=9, seconds=60)
    assert clock.instant(woke).mono == 160


def test_moving_the_date_forward_does_not_open_tomorrows_quota() -> None:
    e = engine(GAME)
    start = local(25, 16)
    clock = TrustedClock(ClockReading(start, mono=0, boot=0))
    e.launch("alex", "game", clock.instant(ClockReading(start, 0, 0)), 1)
    e.end_session(1, clock.instant(ClockReading(start, 2700, 2700)), "exited")
    e.grant("alex", "game", 1, clock.instant(ClockReading(start, 2700, 2700)))  # noise
    e.clear_cooldown("alex", "game")
    # The child sets the date to tomorrow; the trusted clock does not follow.
    moved = ClockReading(start + timedelta(days=1), 2760, 2760)
    clock.observe(moved)
    verdict = e.availability("alex", "game", clock.instant(moved))
    assert verdict.remaining_today_s == pytest.approx(901)
    e.launch("alex", "game", clock.instant(moved), 2)
    e.end_session(2, clock.instant(ClockReading(moved.wall, 3700, 3700)), "exited")
    e.clear_cooldown("alex", "game")
    assert any(isinstance(r, QuotaExhausted) for r in e.availability(
        "alex", "game", clock.instant(ClockReading(moved.wall, 3701, 3701))).reasons)


def test_moving_the_date_back_does_not_reopen_a_cooldown() -> None:
    e = engine(GAME)
    start = local(25, 16)
    clock = TrustedClock(ClockReading(start, mono=0, boot=0))
    e.launch("alex", "game", clock.instant(ClockReading(start, 0, 0)), 1)
    e.end_session(1, clock.instant(ClockReading(start, 60, 60)), "exited")
    back = ClockReading(start - timedelta(hours=2), 120, 120)
    clock.observe(back)
    reasons = e.availability("alex", "game", clock.instant(back)).reasons
    assert [type(r) for r in reasons] == [Cooldown]


def test_suspend_is_noticed_and_a_window_that_closed_during_it_ends_the_session() -> None:
    e = engine("""
[[entries]]
id = "tv"
command = ["tv"]
windows = [ { days = "daily", start = "17:00", end = "19:00" } ]
""")
    clock = FakeClock(local(25, 18, 30))
    started(e.launch("alex", "tv", clock.now, 1))
    clock.advance(60)
    clock.suspend(3600)  # lid closed at 18:31, opened at 19:31
    assert e.due(clock.now) == [SessionDue(1, "window_closed")]
    ended = e.end_session(1, clock.now, "window_closed")
    assert ended.charged_s == pytest.approx(60)  # asleep time is not use
    trusted = TrustedClock(ClockReading(local(25, 18), mono=10, boot=10))
    assert trusted.observe(ClockReading(local(25, 19), mono=20, boot=3610)) == [
        Resumed(slept_s=3590)]


# -- quota days -------------------------------------------------------------------

def test_session_crossing_day_start_is_split_between_days() -> None:
    e = engine('[[entries]]\nid = "music"\ncommand = ["m"]\n')
    clock = FakeClock(local(26, 3, 30))  # day starts at 04:00
    e.launch("alex", "music", clock.now, 1)
    ended = e.end_session(1, clock.advance(3600), "exited")
    assert ended.final_charge.parts == ((date(2026, 11, 25), 1800.0), (date(2026, 11, 26), 1800.0))
    assert e.used("alex", ["music"], date(2026, 11, 25), None) == 1800
    assert e.used("alex", ["music"], date(2026, 11, 26), None) == 1800


def test_new_days_quota_applies_from_the_boundary() -> None:
    e = engine('[[entries]]\nid = "late"\ncommand = ["x"]\n'
               'limits = { daily_quota = { weekdays = "1h", thu = "20m" } }\n')
    clock = FakeClock(local(26, 3, 30))  # Wednesday's quota day, ends 04:00 Thursday
    deadline = started(e.launch("alex", "late", clock.now, 1)).deadline
    assert deadline is not None
    # 30 minutes left of Wednesday, then Thursday's 20 minutes.
    assert deadline.remaining_s == pytest.approx(50 * 60)
    assert deadline.wall == local(26, 4, 20)


def test_quota_day_starts_at_day_starts_at_local_time() -> None:
    e = engine(GAME)
    assert e.quota_day(FakeClock(local(26, 3, 59)).now) == date(2026, 11, 25)
    assert e.quota_day(FakeClock(local(26, 4, 0)).now) == date(2026, 11, 26)


def test_zero_means_none_allowed_and_absent_means_unlimited() -> None:
    e = engine("""
[[entries]]
id = "never"
command = ["x"]
limits = { daily_quota = 0 }
[[entries]]
id = "norun"
command = ["x"]
limits = { max_run = 0 }
[[entries]]
id = "free"
command = ["x"]
""")
    now = FakeClock(local(25, 16)).now
    assert [r.code for r in e.availability("alex", "never", now).reasons] == ["quota_exhausted"]
    assert [r.code for r in e.availability("alex", "norun", now).reasons] == ["quota_exhausted"]
    free = e.availability("alex", "free", now)
    assert free.allowed and free.time_left_s is None and free.remaining_today_s is None


def test_quota_varies_by_day_and_the_specific_day_wins() -> None:
    p = policy('[[entries]]\nid = "x"\ncommand = ["x"]\n'
               'limits = { daily_quota = { weekdays = "1h", weekends = "2h", fri = "90m" } }\n')
    quota = p.entries[0].limits.daily_quota
    assert quota is not None
    assert [quota.for_weekday(d) for d in range(7)] == [3600] * 4 + [5400, 7200, 7200]


# -- launch decisions -------------------------------------------------------------

def test_denial_lists_every_reason_that_applies_with_its_data() -> None:
    e = engine("""
[[entries]]
id = "game"
command = ["game"]
users = ["alex"]
limits = { daily_quota = "30m", cooldown = "1h" }
windows = [ { days = "weekdays", start = "15:00", end = "17:00" } ]
""")
    clock = FakeClock(local(25, 16))
    e.launch("alex", "game", clock.now, 1)
    e.end_session(1, clock.advance(1800), "expired")
    e.lock("alex", clock.now)
    now = clock.set_wall(local(25, 17, 15))
    reasons = denied(e.launch("alex", "game", now, 2)).reasons
    assert {r.code for r in reasons} == {"locked", "outside_window", "quota_exhausted", "cooldown"}
    by_code = {r.code: r for r in reasons}
    assert by_code["outside_window"] == OutsideWindow(local(26, 15))
    assert by_code["quota_exhausted"] == QuotaExhausted(1800.0, 1800, local(26, 4))
    assert by_code["cooldown"] == Cooldown(local(25, 17, 30))
    assert by_code["locked"] == Locked("alex")
    assert by_code["quota_exhausted"].to_json() == {
        "code": "quota_exhausted", "used_s": 1800.0, "quota_s": 1800,
        "resets_at": "2026-11-26T03:00:00+00:00", "period": "day"}


def test_unknown_entry_is_denied() -> None:
    e = engine(GAME)
    assert denied(e.launch("alex", "nope", FakeClock(local(25, 16)).now, 1)).reasons == (
        UnknownEntry("nope", ("game",), ("game",)),)


def test_unknown_entry_names_only_the_entries_this_child_has() -> None:
    e = engine(GAME + '[[entries]]\nid = "sams"\ncommand = ["x"]\nusers = ["sam"]\n')
    now = FakeClock(local(25, 16)).now
    assert denied(e.launch("alex", "nope", now, 1)).reasons == (
        UnknownEntry("nope", ("game",), ("game",)),)
    assert denied(e.launch("sam", "nope", now, 1)).reasons == (
        UnknownEntry("nope", ("game", "sams"), ("game", "sams")),)


def test_entry_not_listed_for_the_user_is_denied() -> None:
    e = engine('[[entries]]\nid = "x"\ncommand = ["x"]\nusers = ["sam"]\n')
    assert denied(e.launch("alex", "x", FakeClock(local(25, 16)).now, 1)).reasons == (
        NotAllowedForUser("alex", "x"),)


def test_store_unavailable_is_passed_through_as_a_reason() -> None:
    e = engine(GAME)
    reason = StoreUnavailable("disk full")
    result = denied(e.launch("alex", "game", FakeClock(local(25, 16)).now, 1, (reason,)))
    assert result.reasons == (reason,)
    assert e.availability("alex", "game", FakeClock(local(25, 16)).now, (reason,)).state == (
        "unavailable")


def test_one_running_session_per_user_unless_max_sessions_is_raised() -> None:
    entries = '[[entries]]\nid = "a"\ncommand = ["a"]\n[[entries]]\nid = "b"\ncommand = ["b"]\n'
    e = engine(entries)
    now = FakeClock(local(25, 16)).now
    started(e.launch("alex", "a", now, 1))
    assert denied(e.launch("alex", "b", now, 2)).reasons == (AlreadyRunning((1,), 1),)
    assert denied(e.launch("alex", "a", now, 2)).reasons == (AlreadyRunning((1,), 1, True),)
    # Status never calls "b" available while it cannot start: it is busy.
    assert e.availability("alex", "b", now).state == "busy"
    assert e.availability("alex", "a", now).state == "running"
    started(e.launch("sam", "b", now, 3))  # another child is not affected
    two = engine(entries, alex_at_once(2))
    started(two.launch("alex", "a", now, 1))
    started(two.launch("alex", "b", now, 2))
    # The same entry twice is never allowed.
    assert denied(two.launch("alex", "a", now, 3)).reasons[0].code == "already_running"


def test_busy_never_hides_a_refusal_that_lasts_longer() -> None:
    """Review 12 F4: while Music plays, a used-up, resting or closed entry was called
    "busy", and a child thought stopping Music would let it start."""
    entries = """
[[entries]]
id = "music"
command = ["m"]
[[entries]]
id = "tiny"
command = ["t"]
limits = { daily_quota = "40s" }
[[entries]]
id = "rest"
command = ["r"]
limits = { cooldown = "10m" }
[[entries]]
id = "morning"
command = ["o"]
windows = [ { days = "daily", start = "08:00", end = "09:00" } ]
[[entries]]
id = "free"
command = ["f"]
"""
    e, clock = engine(entries), FakeClock(local(25, 16))
    e.usage[("alex", "tiny", e.quota_day(clock.now))] = 40.0
    started(e.launch("alex", "rest", clock.now, 1))
    clock.advance(60)
    e.end_session(1, clock.now, "exited")
    started(e.launch("alex", "music", clock.now, 2))
    states = {name: e.availability("alex", name, clock.now) for name in
              ("tiny", "rest", "morning", "free")}
    assert {name: a.state for name, a in states.items()} == {
        "tiny": "quota_exhausted", "rest": "cooldown", "morning": "outside_window",
        "free": "busy"}
    # The lasting reason is said first; that another program runs still follows.
    assert [r.code for r in states["tiny"].reasons] == ["quota_exhausted", "already_running"]


def test_group_quota_is_shared_by_its_entries_per_user() -> None:
    e = engine(two_in_a_group('daily_quota = "1h"'))
    clock = FakeClock(local(25, 16))
    e.launch("alex", "a", clock.now, 1)
    e.end_session(1, clock.advance(2400), "exited")
    assert e.availability("alex", "b", clock.now).time_left_s == pytest.approx(1200)
    e.launch("alex", "b", clock.now, 2)
    assert e.due(clock.advance(1200)) == [SessionDue(2, "expired")]
    e.end_session(2, clock.now, "expired")
    reasons = e.availability("alex", "a", clock.now).reasons
    assert reasons == (GroupQuotaExhausted("games", 3600.0, 3600, local(26, 4)),)
    assert e.availability("sam", "a", clock.now).allowed


def test_concurrent_sessions_share_their_groups_quota() -> None:
    e = engine(two_in_a_group('daily_quota = "1h"'), alex_at_once(2))
    clock = FakeClock(local(25, 16))
    started(e.launch("alex", "a", clock.now, 1))
    e.charge(clock.advance(600))
    # The second session halves what is left for both: 50 minutes, 25 each.
    second = started(e.launch("alex", "b", clock.now, 2)).deadline
    first = e.deadline(1, clock.now)
    assert first is not None and second is not None
    assert (first.cause, first.remaining_s) == ("group_quota", 1500)
    assert (second.cause, second.remaining_s) == ("group_quota", 1500)
    e.charge(clock.advance(1499))
    assert [x for x in e.due(clock.now) if isinstance(x, SessionDue)] == []
    due = [x for x in e.due(clock.advance(1)) if isinstance(x, SessionDue)]
    assert due == [SessionDue(1, "expired"), SessionDue(2, "expired")]
    for sid in (1, 2):
        e.end_session(sid, clock.now, "expired")
    assert e.used("alex", ["a", "b"], date(2026, 11, 25), None) == pytest.approx(3600)


def test_a_launch_left_under_a_second_of_a_shared_group_quota_names_the_group() -> None:
    e = engine(two_in_a_group('daily_quota = "1h"'), alex_at_once(2))
    clock = FakeClock(local(25, 16))
    e.launch("alex", "a", clock.now, 1)
    e.charge(clock.advance(3598.5))
    # 1.5 s left, shared with the running session: 0.75 s each. No window is involved.
    verdict = e.availability("alex", "b", clock.now)
    assert [r.code for r in verdict.reasons] == ["group_quota_exhausted"]
    assert verdict.state == "quota_exhausted"


def test_a_denial_names_the_group_quota_even_when_the_entrys_own_is_spent_too() -> None:
    e = engine("""
[[entries]]
id = "a"
command = ["a"]
limits = { daily_quota = "30m" }
[[groups]]
id = "games"
entries = ["a"]
daily_quota = "30m"
""")
    clock = FakeClock(local(25, 16))
    e.launch("alex", "a", clock.now, 1)
    e.end_session(1, clock.advance(1800), "expired")
    reasons = e.availability("alex", "a", clock.now).reasons
    assert reasons == (QuotaExhausted(1800.0, 1800, local(26, 4)),
                       GroupQuotaExhausted("games", 1800.0, 1800, local(26, 4)))


def test_window_past_midnight_belongs_to_the_day_it_starts_on() -> None:
    e = engine('[[entries]]\nid = "film"\ncommand = ["f"]\n'
               'windows = [ { days = ["fri"], start = "22:00", end = "02:00" } ]\n')
    assert e.availability("alex", "film", FakeClock(local(28, 1)).now).allowed  # Sat 01:00
    assert not e.availability("alex", "film", FakeClock(local(29, 1)).now).allowed  # Sun 01:00
    verdict = e.availability("alex", "film", FakeClock(local(27, 23)).now)
    assert verdict.time_left_s == pytest.approx(3 * 3600)


def test_cooldown_starts_when_a_session_ends_whatever_the_reason_but_a_lock() -> None:
    # A lock refuses launches itself; once unlocked, no rest is left over from it.
    for reason in ("exited", "stopped_by_admin", "expired", "daemon_shutdown"):
        e = engine(GAME)
        clock = FakeClock(local(25, 16))
        e.launch("alex", "game", clock.now, 1)
        ended = e.end_session(1, clock.advance(60), reason)  # type: ignore[arg-type]
        assert ended.cooldown_until == local(25, 16, 31)
        e.unlock("alex")
        assert e.availability("alex", "game", clock.advance(1799)).reasons == (
            Cooldown(local(25, 16, 31)),)
        assert e.availability("alex", "game", clock.advance(1)).allowed


# -- deadlines --------------------------------------------------------------------

@pytest.mark.parametrize(
    ("limits", "cause", "seconds"),
    [
        ('limits = { max_run = "20m", daily_quota = "1h" }', "max_run", 1200),
        ('limits = { max_run = "50m", daily_quota = "30m" }', "quota", 1800),
        ('limits = { max_run = "50m" }\nwindows = [ { days = "daily", start = "15:00", '
         'end = "16:10" } ]', "window", 600),
    ],
)
def test_deadline_is_the_earliest_limit(limits: str, cause: str, seconds: int) -> None:
    e = engine(f'[[entries]]\nid = "x"\ncommand = ["x"]\n{limits}\n')
    deadline = started(e.launch("alex", "x", FakeClock(local(25, 16)).now, 1)).deadline
    assert deadline is not None
    assert (deadline.cause, deadline.remaining_s) == (cause, seconds)


def test_deadline_includes_group_quota_left() -> None:
    e = engine('[[entries]]\nid = "x"\ncommand = ["x"]\nlimits = { max_run = "50m" }\n'
               '[[groups]]\nid = "g"\nentries = ["x"]\ndaily_quota = "15m"\n')
    deadline = started(e.launch("alex", "x", FakeClock(local(25, 16)).now, 1)).deadline
    assert deadline is not None
    assert (deadline.cause, deadline.group, deadline.remaining_s) == ("group_quota", "g", 900)


def test_grant_moves_a_live_deadline_and_extension_adds_to_the_session() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    e.launch("alex", "game", clock.now, 1)
    e.charge(clock.advance(600))
    e.grant("alex", "game", 1800, clock.now)
    deadline = e.deadline(1, clock.now)
    assert deadline is not None and (deadline.cause, deadline.remaining_s) == ("max_run", 2100)
    extended = e.extend(1, 900, clock.now)
    assert extended.deadline is not None and extended.deadline.remaining_s == 3000
    with pytest.raises(ActionRefused):
        e.grant("alex", "nothing", 60, clock.now)
    with pytest.raises(ActionRefused):
        e.extend(99, 60, clock.now)


def test_time_past_the_deadline_is_never_charged() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    e.launch("alex", "game", clock.now, 1)
    ended = e.end_session(1, clock.advance(3 * 3600), "expired")  # a very slow stop
    assert ended.charged_s == 2700
    assert ended.final_charge.forfeited_s == 3 * 3600 - 2700


def test_lock_stops_everything_and_denies_until_unlocked() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    e.launch("alex", "game", clock.now, 1)
    ended = e.lock("alex", clock.advance(60))
    assert [(x.session_id, x.reason) for x in ended] == [(1, "locked")]
    assert e.session_ids() == []
    e.clear_cooldown("alex", "game")
    assert e.availability("alex", "game", clock.now).reasons == (Locked("alex"),)
    assert e.unlock("alex")
    assert e.availability("alex", "game", clock.now).allowed


def test_clear_cooldown_allows_launch_at_once() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    e.launch("alex", "game", clock.now, 1)
    e.end_session(1, clock.advance(60), "exited")
    assert not e.availability("alex", "game", clock.now).allowed
    assert e.clear_cooldown("alex", "game")
    assert e.availability("alex", "game", clock.now).allowed


# -- warnings ---------------------------------------------------------------------

def test_each_warning_fires_once_at_deadline_minus_before() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    e.launch("alex", "game", clock.now, 1)
    assert e.due(clock.now) == []
    assert e.next_wakeup(clock.now) == pytest.approx(clock.mono + 2400)
    assert e.due(clock.advance(2399)) == []
    fired = e.due(clock.advance(1))
    assert [(w.before_s, w.message) for w in fired if isinstance(w, WarningIssued)] == [
        (300, "5 minutes left")]
    assert e.due(clock.advance(10)) == []
    assert e.next_wakeup(clock.now) == pytest.approx(clock.mono + 230)
    fired = e.due(clock.advance(230))
    assert [(w.before_s, w.severity) for w in fired if isinstance(w, WarningIssued)] == [
        (60, "critical")]
    assert e.due(clock.advance(60)) == [SessionDue(1, "expired")]


def test_launched_with_little_time_left_only_the_most_urgent_warning_fires() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    e.grant("alex", "game", 1, clock.now)
    e.usage[("alex", "game", date(2026, 11, 25))] = 3600 - 50 + 1  # 50 s left
    e.launch("alex", "game", clock.now, 1)
    fired = e.due(clock.now)
    assert [(w.before_s, w.severity) for w in fired if isinstance(w, WarningIssued)] == [
        (60, "critical")]
    assert e.due(clock.advance(1)) == []


def test_thresholds_re_arm_when_the_deadline_moves_later() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    e.launch("alex", "game", clock.now, 1)
    assert len(e.due(clock.advance(2400))) == 1  # 5-minute warning
    e.extend(1, 600, clock.now)
    assert e.due(clock.now) == []
    fired = e.due(clock.advance(600))
    assert [w.before_s for w in fired if isinstance(w, WarningIssued)] == [300]


def test_reload_gives_a_session_that_would_end_at_once_a_minute_and_a_warning() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    e.launch("alex", "game", clock.now, 1)
    clock.advance(1200)
    tighter = policy(GAME.replace('max_run = "45m"', 'max_run = "10m"'))
    events = e.set_policy(tighter, clock.now)
    warnings = [x for x in events if isinstance(x, WarningIssued)]
    assert [(w.severity, w.remaining_s) for w in warnings] == [("critical", 60.0)]
    deadline = e.deadline(1, clock.now)
    assert deadline is not None and deadline.remaining_s == 60 and deadline.cause == "policy_reload"
    assert e.due(clock.advance(59)) == []
    assert e.due(clock.advance(1)) == [SessionDue(1, "expired")]


def test_reload_that_removes_a_running_entry_ends_it_after_a_minute() -> None:
    e = engine(GAME + '[[entries]]\nid = "other"\ncommand = ["o"]\n')
    clock = FakeClock(local(25, 16))
    e.launch("alex", "other", clock.now, 1)
    e.set_policy(policy(GAME), clock.advance(10))
    deadline = e.deadline(1, clock.now)
    assert deadline is not None and deadline.remaining_s == 60


def test_reloading_an_unchanged_policy_never_moves_a_deadline_later() -> None:
    # Found by the IPC fuzzer (issue 14): every reload of the same policy gave a session
    # near its end another minute, so reloads kept a 3-second session running a minute.
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    e.launch("alex", "game", clock.now, 1)
    clock.advance(45 * 60 - 20)
    for _ in range(5):
        events = e.set_policy(policy(GAME), clock.advance(2))
        assert not [x for x in events if isinstance(x, WarningIssued)]
        deadline = e.deadline(1, clock.now)
        assert deadline is not None and deadline.cause == "max_run"
    assert e.due(clock.advance(10)) == [SessionDue(1, "expired")]


def test_a_reloads_minute_of_grace_is_never_renewed_by_another_reload() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    e.launch("alex", "game", clock.now, 1)
    clock.advance(1200)
    tighter = policy(GAME.replace('max_run = "45m"', 'max_run = "10m"'))
    e.set_policy(tighter, clock.now)
    for _ in range(3):
        events = e.set_policy(tighter, clock.advance(15))
        assert not [x for x in events if isinstance(x, WarningIssued)]
    assert e.due(clock.advance(14)) == []
    assert e.due(clock.advance(1)) == [SessionDue(1, "expired")]


def test_a_removed_entrys_minute_is_never_renewed_by_another_reload() -> None:
    e = engine(GAME + '[[entries]]\nid = "other"\ncommand = ["o"]\n')
    clock = FakeClock(local(25, 16))
    e.launch("alex", "other", clock.now, 1)
    e.set_policy(policy(GAME), clock.advance(10))
    e.set_policy(policy(GAME), clock.advance(50))
    deadline = e.deadline(1, clock.now)
    assert deadline is not None and deadline.remaining_s == 10


def test_a_reload_never_gives_more_than_the_old_policy_would_have() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    e.launch("alex", "game", clock.now, 1)
    clock.advance(45 * 60 - 30)  # 30 s left under the old policy
    tighter = policy(GAME.replace('max_run = "45m"', 'max_run = "10m"'))
    e.set_policy(tighter, clock.now)
    deadline = e.deadline(1, clock.now)
    assert deadline is not None and deadline.remaining_s == 30


def test_next_wakeup_is_none_without_sessions_so_the_daemon_can_sleep() -> None:
    e = engine(GAME)
    assert e.next_wakeup(FakeClock(local(25, 16)).now) is None


def test_instant_requires_a_time_zone() -> None:
    from shepherd.engine import Instant

    with pytest.raises(ValueError):
        Instant(datetime(2026, 1, 1), 0.0)
    assert Instant(local(25, 16), 0).wall.tzinfo is not None
    assert PARIS.key == "Europe/Paris"


def test_a_launch_that_failed_starts_no_cooldown() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    e.launch("alex", "game", clock.now, 1)
    ended = e.end_session(1, clock.now, "launch_failed")
    assert ended.cooldown_until is None and ended.charged_s == 0
    assert e.availability("alex", "game", clock.now).allowed


def test_a_jump_not_followed_is_pending_until_the_clock_is_put_back() -> None:
    """Review of issue 8, finding 4: the notice stayed after the clock was put back."""
    start = local(25, 16)
    clock = TrustedClock(ClockReading(start, mono=100, boot=100))
    assert clock.pending is None
    ahead = ClockReading(start + timedelta(days=1, seconds=60), mono=160, boot=160)
    (jump,) = clock.observe(ahead)
    assert clock.pending == jump
    still = ClockReading(start + timedelta(days=1, seconds=120), mono=220, boot=220)
    assert clock.observe(still) == [] and clock.pending == jump
    back = ClockReading(start + timedelta(seconds=185), mono=280, boot=280)
    (restored,) = clock.observe(back)
    assert isinstance(restored, ClockRestored) and abs(restored.skew_s - 5) < 1e-6
    assert clock.pending is None
    assert clock.instant(back).wall == start + timedelta(seconds=180)  # never moved
    assert clock.observe(ClockReading(start + timedelta(seconds=245), mono=340,
                                      boot=340)) == []  # said once


def test_a_clock_earlier_than_the_last_trusted_reading_is_pending_until_accepted() -> None:
    last = local(25, 16)
    clock = TrustedClock(ClockReading(last - timedelta(days=3), mono=5, boot=5), last)
    assert clock.pending == clock.start_events[0]
    # Not reported a second time a minute later: it is the same difference.
    assert clock.observe(ClockReading(last - timedelta(days=3) + timedelta(seconds=60),
                                      mono=65, boot=65)) == []
    reading = ClockReading(last - timedelta(days=3, seconds=-120), mono=125, boot=125)
    clock.accept(reading)
    assert clock.pending is None


def test_time_past_the_deadline_is_recorded_as_such_and_never_charged() -> None:
    e = engine(GAME)
    clock = FakeClock(local(25, 16))
    started(e.launch("alex", "game", clock.now, 1))
    e.charge(clock.advance(45 * 60 - 1))
    e.charge(clock.advance(4))  # a checkpoint during the stop's grace
    ended = e.end_session(1, clock.advance(6), "expired")  # the program ignored SIGTERM
    assert ended.charged_s == pytest.approx(45 * 60)
    assert ended.past_deadline_s == pytest.approx(9)
    assert e.used("alex", ["game"], date(2026, 11, 25), None) == pytest.approx(45 * 60)
