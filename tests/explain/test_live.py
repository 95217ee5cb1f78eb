"""The live explanation (``policy.explain``, the TUI's Policy view) from a running engine."""

from __future__ import annotations

from datetime import datetime

from shepherd.engine import Engine, Instant
from shepherd.explain.live import books_of, explain_live
from shepherd.explain.run import Starting
from shepherd.policy import Policy, load_policy_text
from tests.engine.conftest import FakeClock, alex_at_once, policy
from tests.explain.conftest import PARIS
from tests.policies import two_in_a_group


def one_entry(entry: str, quota: str) -> Policy:
    """alex's day from 04:00, with one entry of a daily quota."""
    return load_policy_text(f"""
version = 1
[supervisor]
day_starts_at = "04:00"
[[users]]
name = "alex"
[[entries]]
id = "{entry}"
command = ["{entry}"]
limits = {{ daily_quota = "{quota}" }}
""")


POLICY = one_entry("game", "8m")


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
    assert "game: 8 minutes, used alone from 10:00" in lines
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


SIX = one_entry("six", "6m")


def test_explained_time_is_what_the_daemon_enforces_when_several_timed_grants_meet() -> None:
    """review-15-s15 N8 (live on a daemon): a 6m entry; 07:40 ``+1m --until 07:41`` and
    5 minutes played (the grant 1, the day's own 4); 07:45:01 ``+1m --until 07:46`` and
    ``+4m --until 07:51``, launched. At 07:45:58 the explanation said 8 minutes where the
    daemon enforced 6: the most is the own 2 minutes, the 2 s left before 07:46, and
    C's 4 minutes. At 07:46:16, after ``+3m --until 07:51`` at 07:46:01: the own 2
    minutes and the 4m44s left before 07:51 that C and D share, 6m44s."""
    def at(minute: int, second: int = 0) -> datetime:
        return datetime(2026, 11, 25, 7, minute, second, tzinfo=PARIS)

    def run_to(e: Engine, clock: FakeClock, wall: datetime) -> None:
        while clock.wall < wall:  # as the daemon: each second due, each minute charged
            clock.advance(1)
            e.due(clock.now)
            if clock.wall.second == 0:
                e.charge(clock.now)

    def both(e: Engine, clock: FakeClock) -> tuple[float, float, float]:
        """The daemon's deadline, and the explanation in the daemon (the TUI's) and
        through ``policy.books`` (``policy explain --db``)."""
        deadline = e.deadline(2, clock.now)
        assert deadline is not None
        books = books_of(e, clock.now)
        told = [explain_live(SIX, PARIS, clock.now, "alex", None, None, starting)
                for starting in (books, Starting.from_json(books.to_json()))]
        # (and its quota's ``usable_s``, what can still be used today as the words say
        # it: review-15-s24 F3, ``left_s`` counts time given until a moment whole)
        usable = {answer["explanation"]["entries"][0]["quota"]["day"].get("usable_s")
                  for answer in told}
        assert usable == {deadline.remaining_s}, (usable, deadline.remaining_s)
        return (deadline.remaining_s,
                *(answer["explanation"]["entries"][0]["possible_s"] for answer in told))

    e, clock = Engine(SIX, PARIS), FakeClock(at(40))
    e.grant("alex", "six", 60, clock.now, until=at(41))
    e.launch("alex", "six", clock.now, 1)
    run_to(e, clock, at(45))
    assert e.end_session(1, clock.now, "exited").charged_s == 300
    run_to(e, clock, at(45, 1))
    e.grant("alex", "six", 60, clock.now, until=at(46))
    e.grant("alex", "six", 240, clock.now, until=at(51))
    e.launch("alex", "six", clock.now, 2)
    run_to(e, clock, at(45, 58))
    assert both(e, clock) == (362, 362, 362)
    run_to(e, clock, at(46, 1))
    e.grant("alex", "six", 180, clock.now, until=at(51))
    run_to(e, clock, at(46, 16))
    assert both(e, clock) == (404, 404, 404)
