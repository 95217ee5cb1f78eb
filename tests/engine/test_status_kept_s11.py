"""``status`` keeps each child's lines (``status._Block``) until the engine changes or
the earliest instant one of them can change by time alone, the lines of entries whose
group quota the child's running session spends included (issue 9's ``status`` goal,
issue 13). A kept answer must never be stale: after each kind of change, and at the
exact instants a window, a cooldown, a quota or the quota day turns, the answer
rendered through the kept lines is the one rendered from nothing (``Check.compare``),
and the kept lines were really used in between (``held``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shepherd.daemon import status
from shepherd.engine import Engine, StoreUnavailable
from shepherd.policy import load_policy_text
from tests.engine.conftest import PARIS, local
from tests.engine.test_outlook import Check

POLICY = """
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
[[entries]]
id = "tv"
command = ["true"]
limits = { daily_quota = "30m", cooldown = "5m" }
windows = [{ days = "daily", start = "16:00", end = "19:00" }]
[[entries]]
id = "radio"
command = ["true"]
[[groups]]
id = "games"
entries = ["kart", "chess"]
daily_quota = "2h10m"
"""


class Kept(Check):
    """A ``Check`` that counts the renders answered through a child's kept block."""

    held = 0

    def compare(self) -> None:
        block = self.shown.blocks.get("alex")
        if block is not None and block.holds(self.now, self.engine.version_of("alex"), ()):
            self.held += 1
        super().compare()

    def around(self, at: datetime) -> None:
        """Compare just before, on and just after the wall instant ``at``."""
        for offset in (-1, 0, 1, 1000):
            self.to(at + timedelta(microseconds=offset))
            self.compare()

    def line(self, entry: str) -> dict[str, object]:
        with self.engine.reading():
            answer = self.render(None)
        found: dict[str, object] = next(e for e in answer["users"][0]["entries"]
                                        if e["id"] == entry)
        return found


def test_kept_lines_are_never_stale_after_any_change_or_at_any_boundary() -> None:
    check = Kept(Engine(load_policy_text(POLICY), PARIS), local(25, 15, 58))
    check.compare()
    check.step(30)
    check.compare()
    assert check.held == 1  # nothing changed: the block answered
    check.around(local(25, 16, 0))  # tv's window opens
    assert check.line("tv")["state"] == "available"

    assert check.launch("alex", "kart")  # launch: chess now shares the group's quota
    check.compare()
    held = check.held
    for _ in range(5):
        check.step(7.25)
        check.compare()
    assert check.held > held  # chess's line kept although the group's quota is live
    assert check.line("chess")["time_left_s"] == 3600  # its max_run binds, not the group

    # The group's 2h10m shared by kart and chess: (7800 - use) / 2 binds chess from 600 s
    # of kart's use on. Kept lines give way before, and the answers agree on the instant.
    started = check.engine.snapshot(1).started_at
    for _ in range(80):
        check.step(6.5)
        check.compare()
    check.to(started + timedelta(seconds=590))
    check.compare()  # kept from here for a second or so
    check.step(0.25)
    held = check.held
    check.compare()
    assert check.held > held
    # The wall clock set back as the monotonic one runs on (an accepted clock change):
    # kart's use, hence the group's, is by the monotonic clock; the kept line gives way.
    check.step(12)
    check.wall -= timedelta(seconds=11.9)
    check.compare()
    assert check.line("chess")["time_left_s"] != 3600
    check.around(started + timedelta(seconds=600))
    check.step(3)
    check.compare()
    left = check.line("chess")["time_left_s"]
    assert isinstance(left, float) and left < 3600

    check.tick()  # a checkpoint: no change of state, the same answers
    check.compare()

    assert check.launch("alex", "tv")  # the second session: chess is busy
    check.compare()
    assert check.line("chess")["state"] == "busy"
    check.step(120)
    check.tick()
    check.compare()
    check.end(2)  # end: chess free again; tv's cooldown starts
    check.compare()
    assert check.line("chess")["state"] == "available"
    assert check.line("tv")["state"] == "cooldown"
    cooldown = check.engine.cooldowns[("alex", "tv")]
    check.step(30)
    check.compare()
    held = check.held
    check.around(cooldown)  # the cooldown ends
    assert check.line("tv")["state"] == "available"
    assert check.held > held

    check.end(1)  # kart stopped: the lock below ends nothing
    check.compare()
    held = check.held
    check.step(1)
    check.compare()
    assert check.held > held  # kept up to the lock
    assert not check.engine.lock("alex", check.now)  # a lock
    check.compare()
    assert check.line("radio")["state"] == "locked"
    check.step(1)
    check.compare()
    check.engine.unlock("alex")
    check.compare()
    assert check.line("radio")["state"] == "available"
    check.step(1)
    check.compare()

    held = check.held
    check.step(1)
    check.compare()
    assert check.held > held
    check.engine.set_policy(load_policy_text(POLICY.replace('"1h"', '"50m"')), check.now)
    check.compare()  # a reload
    assert check.line("chess")["time_left_s"] == 3000
    check.step(1)
    check.compare()

    check.around(local(25, 19, 0))  # tv's window closes
    assert check.line("tv")["state"] == "outside_window"
    assert check.line("tv")["used_today_s"] == 120
    check.step(1)
    check.compare()
    held = check.held
    check.step(1)
    check.compare()
    assert check.held > held
    check.engine.grant("alex", "tv", 600, check.now)  # a grant (on the closed tv)
    check.compare()
    assert check.line("tv")["remaining_today_s"] == 1800 + 600 - 120
    check.around(local(26, 0, 0))  # the quota day rolls over: tv's use is yesterday's
    assert check.line("tv")["used_today_s"] == 0

    # A live group quota running out: kart alone spends what is left of the day's 2h10m.
    check.to(local(26, 16, 0))
    check.compare()
    assert check.launch("alex", "kart")
    check.compare()
    deadline = check.engine.deadline(check.next_id - 1, check.now)
    assert deadline is not None and deadline.cause == "group_quota"
    held = check.held
    while check.wall < deadline.wall - timedelta(seconds=60):
        check.step(97.5)
        check.compare()
    assert check.held > held
    check.around(deadline.wall)
    assert check.line("chess")["state"] == "quota_exhausted"
    check.tick()
    assert not check.sessions
    check.compare()
    assert check.compared > 100


def test_kept_lines_follow_what_is_left_of_an_until_grant_as_its_end_nears() -> None:
    # ledger11's L2 with status11's kept lines: of a --until grant only what can still be
    # used before its end counts in what is left today, so that figure falls as the end
    # nears although nothing runs and nothing changes in the engine.
    check = Kept(Engine(load_policy_text(POLICY), PARIS), local(25, 16, 0))
    assert check.launch("alex", "tv")
    check.to(local(25, 16, 25))
    check.end(1)  # 25 of tv's 30 minutes used: 5 of its own left
    check.engine.grant("alex", "tv", 3600, check.now, until=local(25, 16, 40))
    figures = []
    for minute in (25, 26, 30, 34, 35, 36, 39, 40, 41):
        check.to(local(25, 16, minute))
        check.compare()
        figures.append(check.line("tv")["remaining_today_s"])
    # The grant's until 16:40 first (it ends first: review-1215-s12 F1), then 5 own
    # minutes: 20 minutes at 16:25, falling to the own 5 at 16:40.
    assert figures[0] == 1200 and figures[-1] == 300, figures


RACING = """
version = 1
[[users]]
name = "alex"
max_sessions = 3
[[entries]]
id = "kart"
command = ["true"]
[[entries]]
id = "pong"
command = ["true"]
[[entries]]
id = "chess"
command = ["true"]
limits = { cooldown = "1h" }
[[groups]]
id = "games"
entries = ["kart", "pong", "chess"]
daily_quota = "20m"
"""


def test_kept_lines_stand_while_two_sessions_spend_a_group_until_it_runs_out() -> None:
    # Review 9-s11 M2 (its probe): two running sessions spend the group while chess rests
    # (refused): chess's line is kept only while the group cannot run out, at twice the
    # pace of one session (Engine.calm's rate counts the child's sessions). Checked each
    # second until both sessions have ended.
    check = Kept(Engine(load_policy_text(RACING), PARIS), local(25, 10, 0))
    assert check.launch("alex", "chess")
    check.step(10)
    check.end(1)
    assert check.launch("alex", "kart") and check.launch("alex", "pong")
    for _ in range(800):
        check.step(1.0)
        check.compare()
        if not check.sessions:
            break
        check.tick()
    assert not check.sessions and check.held > 100  # kept for most of it, never stale


def test_kept_lines_follow_the_store_becoming_unavailable_and_back() -> None:
    # Review 9-s11 M2: what refuses every launch (no writable store) is not the engine's
    # state: a block kept while the store was there must not answer once it is gone, nor
    # the other way round.
    check = Kept(Engine(load_policy_text(POLICY), PARIS), local(25, 16, 5))
    gone = (StoreUnavailable("disk full"),)

    def both(blocked: tuple[StoreUnavailable, ...]) -> tuple[Any, Any]:
        with check.engine.reading():
            kept = status.render(check.now, check.engine, check.engine.policy, check.sessions,
                                 only=None, blocked=blocked, user_mode=False, store_ok=not blocked,
                                 clock_jump_pending=False, rejected_reload=None,
                                 shown=check.shown)
            fresh = status.render(check.now, check.engine, check.engine.policy, check.sessions,
                                  only=None, blocked=blocked, user_mode=False,
                                  store_ok=not blocked, clock_jump_pending=False,
                                  rejected_reload=None, shown=None)
        return kept, fresh

    for blocked in ((), (), gone, gone, (), gone):
        kept, fresh = both(blocked)
        assert kept == fresh, blocked
        check.step(1)
    assert check.shown.blocks  # the lines were kept between the changes


def test_kept_lines_see_a_group_run_out_at_its_until_grants_end() -> None:
    # The s11 read-back: Engine.calm bounded a live group by what is left of it counting an
    # --until grant in full (``_left``), where the group refuses once what can still be used
    # before the grant's end is spent (``left_today``, as the outlook asks). Chess rests
    # (refused for its cooldown) while kart spends the group; the grant's end, not its
    # size, runs the group out: the kept line must give way by then. (The grant's end is
    # also a moment the outlook itself turns at, which is why this never showed stale;
    # calm now asks what the outlook asks, so that the two cannot drift apart.) Since
    # review-1215-s12 F1 the grant pays first, 10:00:10-10:25, and the group's own 19:50
    # after it: the group runs out at 10:44:50, past the grant's end.
    check = Kept(Engine(load_policy_text(RACING), PARIS), local(25, 10, 0))
    assert check.launch("alex", "chess")
    check.step(10)
    check.end(1)
    check.engine.grant("alex", "games", 3600, check.now, until=local(25, 10, 25))
    assert check.launch("alex", "kart")
    while check.sessions:
        # Each 30 s while the time lasts, each second from 10:44:20 on.
        check.step(30.0 if check.wall < local(25, 10, 44) + timedelta(seconds=20) else 1.0)
        check.compare()
        check.tick()
    check.compare()
    assert check.wall < local(25, 10, 44) + timedelta(seconds=55) and check.held > 30
    assert check.line("chess")["state"] == "quota_exhausted"  # the group, for the rest of today
