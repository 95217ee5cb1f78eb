"""Extensions: extra time for one session, beyond its max_run and every quota it
counts against, given once whatever quota days the session spans."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from shepherd.engine import Engine, SessionDue
from tests.engine.conftest import FakeClock, engine, local

QUOTA_ONLY = '[[entries]]\nid = "game"\ncommand = ["game"]\nlimits = { daily_quota = "1h" }\n'
GROUPED = """
[[entries]]
id = "game"
command = ["game"]
[[groups]]
id = "screens"
entries = ["game"]
daily_quota = "1h"
"""


def due(e: Engine, clock: FakeClock) -> list[SessionDue]:
    return [event for event in e.due(clock.now) if isinstance(event, SessionDue)]


def deadline_wall(e: Engine, clock: FakeClock) -> datetime:
    deadline = e.deadline(1, clock.now)
    assert deadline is not None
    return deadline.wall


@pytest.mark.parametrize("limits", [QUOTA_ONLY, GROUPED], ids=["entry-quota", "group-quota"])
def test_an_extension_across_a_day_start_is_given_once(limits: str) -> None:
    # day_starts_at is 04:00. Launched at 02:30 on the 26th (quota day of the
    # 25th): 50 minutes used, then an hour's extension at 03:20.
    e = engine(limits)
    clock = FakeClock(local(26, 2, 30))
    e.launch("alex", "game", clock.now, 1)
    e.charge(clock.advance(50 * 60))
    e.extend(1, 3600, clock.now)
    # 10 minutes of quota, then 30 of the extension until 04:00; then the new
    # day's hour, then the 30 minutes of extension still unused: 05:30.
    assert deadline_wall(e, clock) == local(26, 5, 30)
    e.charge(clock.advance(40 * 60 + 1))  # 04:00:01: a new quota day
    assert deadline_wall(e, clock) == local(26, 5, 30)
    e.charge(clock.advance(3600))
    assert deadline_wall(e, clock) == local(26, 5, 30)
    clock.advance(30 * 60 - 2)  # 05:29:59
    assert due(e, clock) == []
    clock.advance(1)
    assert due(e, clock) == [SessionDue(1, "expired")]
    ended = e.end_session(1, clock.now, "expired")
    assert ended.charged_s == pytest.approx(3 * 3600)
    used = e.used("alex", ["game"], date(2026, 11, 25), None)
    assert used == pytest.approx(90 * 60)  # the quota hour and 30 minutes of extension
    assert e.used("alex", ["game"], date(2026, 11, 26), None) == pytest.approx(90 * 60)


def test_an_extension_adds_to_the_quota_allowance_when_the_quota_binds() -> None:
    e = engine(QUOTA_ONLY)
    clock = FakeClock(local(25, 16))
    e.launch("alex", "game", clock.now, 1)
    e.charge(clock.advance(3000))
    extended = e.extend(1, 900, clock.now)
    assert extended.deadline is not None
    assert (extended.deadline.cause, extended.deadline.remaining_s) == ("quota", 1500)
    # Used up over a day: the extension runs out, it is not refilled.
    e.charge(clock.advance(1499))
    assert due(e, clock) == []
    e.charge(clock.advance(1))
    assert due(e, clock) == [SessionDue(1, "expired")]


def test_an_extension_is_not_handed_out_again_after_a_crash() -> None:
    e = engine(QUOTA_ONLY)
    clock = FakeClock(local(26, 2, 30))
    e.launch("alex", "game", clock.now, 1)
    e.charge(clock.advance(50 * 60))
    e.extend(1, 3600, clock.now)
    e.charge(clock.advance(40 * 60 + 1))  # 30 minutes of the extension are spent
    # The daemon restarts; a new engine takes the running session back.
    after = engine(QUOTA_ONLY)
    after.usage.update(e.usage)
    assert after.recover(e.snapshot(1), clock.now, alive=True)
    assert deadline_wall(after, clock) == local(26, 5, 30)


def test_each_sessions_extension_is_its_own() -> None:
    e = engine(GROUPED.replace('entries = ["game"]', 'entries = ["game", "film"]')
               + '[[entries]]\nid = "film"\ncommand = ["film"]\n',
               users='version = 1\n[[users]]\nname = "alex"\nmax_sessions = 2\n')
    clock = FakeClock(local(25, 16))
    e.launch("alex", "game", clock.now, 1)
    e.launch("alex", "film", clock.now, 2)
    e.charge(clock.advance(1800))  # the group hour is spent by the two together
    e.extend(1, 600, clock.now)
    first, second = e.deadline(1, clock.now), e.deadline(2, clock.now)
    assert first is not None and second is not None
    assert (first.remaining_s, second.remaining_s) == (600, 0)
    e.end_session(2, clock.now, "expired")
    assert e.deadline(1, clock.advance(300)) is not None
    e.charge(clock.now)
    deadline = e.deadline(1, clock.now)
    assert deadline is not None and deadline.remaining_s == pytest.approx(300)
    assert e.used("alex", ["game", "film"], date(2026, 11, 25), None) == pytest.approx(3900)


def test_a_session_with_no_time_limit_cannot_be_extended() -> None:
    """Review 12 F9: extending Music (no limit) said "now ends with no time limit" and
    recorded an extension that does nothing."""
    from shepherd.engine import ActionRefused

    e, clock = engine('[[entries]]\nid = "music"\ncommand = ["m"]\n'), FakeClock(local(25, 16))
    e.launch("alex", "music", clock.now, 1)
    with pytest.raises(ActionRefused, match="no time limit, so there is nothing to extend"):
        e.check_extend(1, clock.now)
    with pytest.raises(ActionRefused):
        e.extend(1, 600, clock.now)
    assert e.snapshot(1).extension_s == 0


def test_a_session_is_extended_once_and_a_second_extension_is_refused_in_words() -> None:
    """Review 11 s7 D2: the TUI said "a session can be extended once" while the engine
    extended the same session again. SPEC §3: extend a running session, once."""
    from shepherd.engine import AlreadyExtended

    e, clock = engine(QUOTA_ONLY), FakeClock(local(25, 16))
    e.launch("alex", "game", clock.now, 1)
    e.extend(1, 900, clock.now)
    first = deadline_wall(e, clock)
    with pytest.raises(AlreadyExtended, match="session was already extended once; give time "
                                              "with grant instead") as refused:
        e.check_extend(1, clock.advance(60))
    assert refused.value.data["code"] == "already_extended"
    with pytest.raises(AlreadyExtended):
        e.extend(1, 300, clock.now)
    assert e.snapshot(1).extension_s == 900 and deadline_wall(e, clock) == first
