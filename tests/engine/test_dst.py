"""The quota day through daylight-saving changes, with ``day_starts_at`` inside the
hour the clocks skip or repeat: the day never goes back, every second belongs to
exactly one day, and a session running across the change is charged in positive
parts that add up to what it ran."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shepherd.engine import Engine, Instant, QuotaCalendar, SessionStarted
from shepherd.policy import Policy

NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # shifts by 30 minutes


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# (zone, day_starts_at, the UTC instant the new quota day starts, the new day's date,
#  its length in hours). Each day_starts_at lies inside the skipped or repeated span.
TRANSITIONS = [
    # Fall back: 02:00 EDT -> 01:00 EST; 01:30 happens twice. The day starts at the
    # first 01:30 and is 25 hours long; the second 01:30 does not start another.
    pytest.param(NEW_YORK, "01:30", utc(11, 1, 5, 30), date(2026, 11, 1), 25.0,
                 id="new-york-fall-back"),
    # Spring forward: 02:00 EST -> 03:00 EDT; 02:30 never happens. The day starts
    # when the clock jumps past it (03:00 EDT) and lasts until 02:30 the next day.
    pytest.param(NEW_YORK, "02:30", utc(3, 8, 7), date(2026, 3, 8), 23.5,
                 id="new-york-spring-forward"),
    # Lord Howe: 02:00 (+11) -> 01:30 (+10:30); 01:45 happens twice.
    pytest.param(LORD_HOWE, "01:45", utc(4, 4, 14, 45), date(2026, 4, 5), 24.5,
                 id="lord-howe-fall-back"),
    # Lord Howe: 02:00 (+10:30) -> 02:30 (+11); 02:15 never happens.
    pytest.param(LORD_HOWE, "02:15", utc(10, 3, 15, 30), date(2026, 10, 4), 23.75,
                 id="lord-howe-spring-forward"),
]


def calendar(zone: ZoneInfo, day_starts_at: str) -> QuotaCalendar:
    hours, minutes = day_starts_at.split(":")
    return QuotaCalendar(zone, int(hours) * 60 + int(minutes))


@pytest.mark.parametrize(("zone", "day_start", "boundary", "new_day", "hours"), TRANSITIONS)
def test_quota_day_starts_once_and_never_goes_back(
    zone: ZoneInfo, day_start: str, boundary: datetime, new_day: date, hours: float
) -> None:
    cal = calendar(zone, day_start)
    assert cal.day_start(new_day) == boundary
    assert cal.quota_day(boundary - timedelta(seconds=1)) == new_day - timedelta(days=1)
    assert cal.quota_day(boundary) == new_day
    # The new day is as long as the local clock says it is (not a negative or
    # overlapping span), and the day before ends exactly where it starts.
    assert cal.day_end(new_day - timedelta(days=1)) == boundary
    assert (cal.day_end(new_day) - boundary).total_seconds() == hours * 3600
    # Forwards and backwards over 14 hours around the change, in odd steps: the
    # day only moves forward, once, and each instant lies inside its own day.
    walls = [boundary - timedelta(hours=7) + timedelta(seconds=433 * i) for i in range(117)]
    days = [cal.quota_day(w) for w in walls]
    assert days == sorted(days)
    assert set(days) == {new_day - timedelta(days=1), new_day}
    assert [cal.quota_day(w) for w in reversed(walls)] == sorted(days, reverse=True)
    for wall, day in zip(walls, days, strict=True):
        assert cal.day_start(day) <= wall < cal.day_end(day)


@pytest.mark.parametrize(("zone", "day_start", "boundary", "new_day", "hours"), TRANSITIONS)
def test_a_session_across_the_change_is_charged_in_positive_parts_that_add_up(
    zone: ZoneInfo, day_start: str, boundary: datetime, new_day: date, hours: float
) -> None:
    policy = Policy.model_validate({
        "version": 1, "supervisor": {"day_starts_at": day_start},
        "users": [{"name": "alex"}],
        "entries": [{"id": "x", "command": ["x"], "limits": {"daily_quota": "6h"}}]})
    e = Engine(policy, zone)
    wall, mono = boundary - timedelta(hours=2), 0.0
    assert isinstance(e.launch("alex", "x", Instant(wall, mono), 1), SessionStarted)
    parts: list[tuple[date, float]] = []
    for _ in range(24):  # ten-minute checkpoints over four hours
        wall += timedelta(minutes=10)
        mono += 600
        parts += e.charge(Instant(wall, mono))[0].parts
        assert all(seconds > 0 for _, seconds in parts), parts
        assert all(value >= 0 for value in e.usage.values()), e.usage
    ended = e.end_session(1, Instant(wall, mono), "exited")
    assert ended.charged_s == pytest.approx(4 * 3600)
    assert [d for d, _ in parts] == sorted(d for d, _ in parts)
    assert e.usage[("alex", "x", new_day - timedelta(days=1))] == pytest.approx(2 * 3600)
    assert e.usage[("alex", "x", new_day)] == pytest.approx(2 * 3600)


@pytest.mark.parametrize(("zone", "day_start", "boundary", "new_day", "hours"), TRANSITIONS)
def test_the_new_days_quota_opens_at_the_boundary_and_not_again(
    zone: ZoneInfo, day_start: str, boundary: datetime, new_day: date, hours: float
) -> None:
    policy = Policy.model_validate({
        "version": 1, "supervisor": {"day_starts_at": day_start},
        "users": [{"name": "alex"}],
        "entries": [{"id": "x", "command": ["x"], "limits": {"daily_quota": "20m"}}]})
    e = Engine(policy, zone)
    # The quota used just after the boundary is the new day's; the repeated (or
    # skipped) local hour does not hand out another one.
    e.launch("alex", "x", Instant(boundary, 0.0), 1)
    ended = e.end_session(1, Instant(boundary + timedelta(minutes=20), 1200.0), "exited")
    assert ended.final_charge.parts == ((new_day, 1200.0),)
    for minutes in range(20, 180, 7):
        later = Instant(boundary + timedelta(minutes=minutes), minutes * 60.0)
        verdict = e.availability("alex", "x", later)
        assert not verdict.allowed and verdict.remaining_today_s == 0, (minutes, verdict)
