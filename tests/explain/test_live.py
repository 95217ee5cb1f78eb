"""The live explanation (``policy.explain``, the TUI's Policy view) from a running engine."""

from __future__ import annotations

from datetime import datetime

from shepherd.engine import Engine, Instant
from shepherd.explain.live import books_of, explain_live
from shepherd.policy import load_policy_text
from tests.engine.conftest import alex_at_once, policy
from tests.explain.conftest import PARIS
from tests.policies import two_in_a_group

POLICY = load_policy_text("""
version = 1
[supervisor]
day_starts_at = "04:00"
[[users]]
name = "alex"
[[entries]]
id = "game"
command = ["game"]
limits = { daily_quota = "8m" }
""")


def test_now_is_the_real_now_not_the_minute_it_is_in() -> None:
    # Review 15 (s7) L1: at 10:00:40 the day was explained from 10:00, so the quota ran
    # out at 10:07 in the words while the daemon's deadline was 10:08:40.
    now = Instant(datetime(2026, 11, 25, 10, 0, 40, tzinfo=PARIS), 1000.0)
    engine = Engine(POLICY, PARIS)
    answer = explain_live(POLICY, PARIS, now, "alex", None, None, books_of(engine, now))
    [session] = answer["explanation"]["entries"][0]["sessions"]
    assert [datetime.fromisoformat(session[k]) for k in ("start", "end")] == [
        now.wall, datetime(2026, 11, 25, 10, 8, 40, tzinfo=PARIS)]
    lines = answer["lines"]
    assert "game: up to 8 minutes, used alone from 10:00" in lines
    assert any(line.strip().startswith("10:00–10:08  in use for 8 minutes") for line in lines)


TWO = policy(two_in_a_group('weekly_quota = "8m"'),
             alex_at_once(1))


def test_a_group_used_one_program_at_a_time_gives_no_more_than_the_time_left() -> None:
    # Review 15 (s7) L2: five minutes before the day ended, with one program at a time,
    # "together they can use at most 8 minutes".
    now = Instant(datetime(2026, 11, 26, 3, 55, tzinfo=PARIS), 1000.0)
    answer = explain_live(TWO, PARIS, now, "alex", None, None, books_of(Engine(TWO, PARIS),
                                                                        now))
    [group] = answer["explanation"]["groups"]
    assert group["possible_s"] == 300
