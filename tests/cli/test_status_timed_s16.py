"""Time given until a moment in ``status`` (text and ``--json``), the TUI and ``policy
explain``: one total everywhere, the day's own (its quota and its grants for today,
with what time given until a moment that has ended paid), and beside it, per moment,
what can still be used before then (review-15-s15 N4, N5). Worked through the engine
on a fake clock, each surface from the answer a client gets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shepherd.cli.status_text import render_status
from shepherd.daemon import status as status_module
from shepherd.engine import Engine, SessionStarted
from shepherd.explain.live import books_of, explain_live
from shepherd.tui.live import LiveState
from shepherd.tui.words import duration
from shepherd.words.grants import grant_answer, grant_sentence
from tests.engine.conftest import PARIS, FakeClock, engine, local

TWO = '[[entries]]\nid = "two"\ncommand = ["two"]\nlimits = { daily_quota = "2m" }\n'


@dataclass
class Record:
    user: str
    entry: str
    stopping: object | None = None


def answer(e: Engine, clock: FakeClock, running: bool) -> dict[str, Any]:
    sessions = {1: Record("alex", "two")} if running else {}
    return status_module.render(clock.now, e, e.policy, sessions, only="alex", blocked=(),
                                user_mode=True, store_ok=True, clock_jump_pending=False,
                                rejected_reload=None)


def line(e: Engine, clock: FakeClock, running: bool) -> tuple[dict[str, Any], str, str, str]:
    """The entry's ``--json`` line, its words in ``status``, the TUI's Today cell and
    explain's words of the day."""
    status = answer(e, clock, running)
    [item] = status["users"][0]["entries"]
    [said] = [t for t in render_status(status, PARIS) if t.lstrip().startswith("two ")]
    live = LiveState(hello={"role": "admin", "name": "mum"}, connected=True)
    live.status, live.received = status, 100.0
    today = live.entry_line("alex", item, 100.0).used
    explained = explain_live(e.policy, PARIS, clock.now, "alex", None, None,
                             books_of(e, clock.now))["lines"]
    return item, said, today, " ".join(t.strip() for t in explained)  # lines wrap at 80


def test_a_minute_until_07_32_given_at_07_31_48_is_ten_seconds_more_at_07_31_50() -> None:
    """N4: 12 seconds before its end, "+1m --until 07:32" answers that 11 seconds of it
    can be used (N6: 12, to the second, here); two seconds later ``status`` said "59s more
    until 07:32": 10 seconds can still be used before then, and that is the figure."""
    e = engine(TWO)
    clock = FakeClock(local(23, 7, 31) + timedelta(seconds=48))
    e.grant("alex", "two", 60, clock.now, until=local(23, 7, 32))
    clock.advance(2)
    item, said, today, day = line(e, clock, running=False)
    assert item["on_top"] == [{"seconds": 10, "paid_s": 0,
                               "until": local(23, 7, 32).isoformat()}], item
    assert item["quota_today_s"] == 120 and item["remaining_today_s"] == 130
    assert "2m of 2m left, 10s more until 07:32" in said, said
    assert today == "0s of 2m +10s", today
    assert "; 2m today and 10 seconds more until 07:32 " in day, day


def test_the_days_total_stays_while_time_given_until_a_moment_pays() -> None:
    """N5: a session of a 2m entry, 31 seconds in, "+1m --until 07:35" (paid first):
    every 20 seconds ``status`` said "1m29s of 2m1s left", "of 2m24s", "of 2m45s", the
    TUI "of 3m", explain "3m today". Now one total, the day's own 2m, and beside it what
    can still be used of the minute until 07:35; once it has ended, what it paid is part
    of the day's total (3m: all of it was used), said the same everywhere."""
    e = engine(TWO)
    clock = FakeClock(local(23, 7, 32) + timedelta(seconds=23))
    assert isinstance(e.launch("alex", "two", clock.now, 1), SessionStarted)
    clock.advance(31)
    e.grant("alex", "two", 60, clock.now, until=local(23, 7, 35))
    for more in (60, 40, 20):
        item, said, today, day = line(e, clock, running=True)
        assert item["quota_today_s"] == 120, item
        assert item["on_top"] == [{"seconds": more, "paid_s": 60 - more,
                                   "until": local(23, 7, 35).isoformat()}], item
        assert f"1m29s of 2m left, {more if more < 60 else '1m'}{'s' if more < 60 else ''} " \
            "more until 07:35" in said, said
        assert today == f"{duration(31 + 60 - more)} of 2m +1m", today
        spoken = "1 minute" if more == 60 else f"{more} seconds"
        assert f"2m today and {spoken} more until 07:35 (" in day, day
        clock.advance(20)
    clock.advance((local(23, 7, 35) + timedelta(seconds=1) - clock.wall).total_seconds())
    e.due(clock.now)
    item, said, today, day = line(e, clock, running=True)
    assert item["quota_today_s"] == 180 and "on_top" not in item, item
    assert " of 3m left" in said and today.endswith(" of 3m") and "3m today (" in day, (
        said, today, day)


def test_two_moments_each_say_what_can_still_be_used_before_them() -> None:
    """Given until two moments, nothing used: each its own part, the total the day's."""
    e = engine(TWO)
    clock = FakeClock(local(23, 10))
    e.grant("alex", "two", 120, clock.now, until=local(23, 10, 1))
    e.grant("alex", "two", 60, clock.now, until=local(23, 11))
    item, said, today, day = line(e, clock, running=False)
    assert item["quota_today_s"] == 120, item
    assert [p["seconds"] for p in item["on_top"]] == [60, 60], item
    assert "2m of 2m left, 1m more until 10:01 and 1m more until 11:00" in said, said
    assert today == "0s of 2m +2m", today
    assert "; 2m today, 1 minute more until 10:01 and 1 minute more until 11:00 " in day, day
    ends = datetime(2026, 11, 23, 10, 1, tzinfo=PARIS)
    assert item["on_top"][0]["until"] == ends.isoformat()


def test_a_grants_answer_says_the_total_status_says() -> None:
    """N5, the grant's answer: "+1m" for today 20 seconds into the minute until 07:35
    said "(3m20s in all today and 40 seconds more until 07:35)", what that minute paid
    counted in the total; ``status`` says 3m and 40s more, and so does the answer now
    (each moment's part is what can still be used of it before then, N4)."""
    e = engine(TWO)
    clock = FakeClock(local(23, 7, 32) + timedelta(seconds=23))
    assert isinstance(e.launch("alex", "two", clock.now, 1), SessionStarted)
    clock.advance(31)
    e.grant("alex", "two", 60, clock.now, until=local(23, 7, 35))
    clock.advance(20)
    more = e.grant("alex", "two", 60, clock.now)
    said = grant_sentence(grant_answer(more, 60, e.policy), clock.wall, PARIS)
    assert said == ("alex has 1 minute more of two today (3m in all today and 40 seconds "
                    "more until 07:35)."), said
    item, status, _, _ = line(e, clock, running=True)
    assert item["quota_today_s"] == 180 and "of 3m left, 40s more until 07:35" in status
    clock.advance(10)
    later = e.grant("alex", "two", 30, clock.now, until=local(23, 7, 40))
    said = grant_sentence(grant_answer(later, 30, e.policy), clock.wall, PARIS)
    assert said == ("alex has 30 seconds more of two until 07:40 (3m in all today, 30 "
                    "seconds more until 07:35 and 30 seconds more until 07:40)."), said


def test_a_budget_says_the_same_total_and_what_can_still_be_used_on_top() -> None:
    """A group budget: its total in ``status``'s budgets line, the TUI's and explain's
    are its own 2m while a minute given until 10:05 pays, with what is left of it."""
    e = engine(TWO + '[[groups]]\nid = "g"\nentries = ["two"]\ndaily_quota = "2m"\n')
    clock = FakeClock(local(23, 10))
    assert isinstance(e.launch("alex", "two", clock.now, 1), SessionStarted)
    e.grant("alex", "g", 60, clock.now, until=local(23, 10, 5))
    clock.advance(20)
    status = answer(e, clock, running=True)
    [group] = status["users"][0]["groups"]
    assert group["quota_today_s"] == 120 and group["on_top"][0]["seconds"] == 40, group
    said = "\n".join(render_status(status, PARIS))
    assert "g 20s used, 2m of 2m left, 40s more until 10:05" in said, said
    live = LiveState(hello={"role": "admin", "name": "mum"}, connected=True)
    live.status, live.received = status, 100.0
    assert live.group_lines("alex", 100.0) == ["g 20s of 2m +1m"]
    explained = " ".join(t.strip() for t in explain_live(
        e.policy, PARIS, clock.now, "alex", None, None, books_of(e, clock.now))["lines"])
    assert "The g budget (two): 2m of 2m left today and 40 seconds more until 10:05;" in (
        explained), explained
