"""``status`` is written from the bytes of the lines it kept (``protocol.Encoded``, issue
13): the next answer after a change -- a window's edge passing, a launch, a grant, an
end -- says the change in its bytes, and between changes the kept bytes are what a
fresh answer writes (``Check.compare`` compares the bytes at every instant)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from shepherd.engine import Engine
from shepherd.engine.household import Household, RemoteSession
from shepherd.ipc.protocol import Encoded, SharedResult
from shepherd.policy import load_policy_text
from tests.engine.conftest import PARIS, local
from tests.engine.test_status_kept_s11 import POLICY, Kept


class Written(Kept):
    written = 0  # the lines of the last answer written from their kept bytes

    def said(self) -> dict[str, dict[str, Any]]:
        """Each line of the answer as written from the lines kept since the last one."""
        with self.engine.reading():
            answer = SharedResult(self.render(self.shown))
        self.written = sum(isinstance(line, Encoded) for line in answer["users"][0]["entries"])
        written = json.loads(answer.encoded())
        return {line["id"]: line for line in written["users"][0]["entries"]}


def test_each_change_is_in_the_next_answers_bytes() -> None:
    check = Written(Engine(load_policy_text(POLICY), PARIS), local(25, 15, 59))
    check.said()
    check.step(59.5)  # 15:59:59.5: tv's window opens at 16:00
    before = check.said()
    assert before["tv"]["state"] == "outside_window" and check.written == 4
    held = check.held
    check.compare()
    assert check.held > held  # the block of kept lines answered
    check.to(local(25, 16, 0))  # the minute passes the window's edge
    assert check.said()["tv"]["state"] == "available"
    assert check.said()["tv"]["time_left_s"] == 1800.0  # its quota binds (19:00 is later)
    check.compare()

    assert check.launch("alex", "tv")  # a launch
    now = check.said()
    assert now["tv"]["state"] == "running" and now["radio"]["state"] == "available"
    assert check.written == 3  # tv's own line is worked out at each answer
    check.step(60)
    check.tick()
    assert check.said()["tv"]["used_today_s"] == 60.0
    check.compare()

    check.end(1)  # an end: tv in its cooldown
    now = check.said()
    assert now["tv"]["state"] == "cooldown" and now["tv"]["remaining_today_s"] == 1740.0
    check.compare()
    check.engine.grant("alex", "tv", 600, check.now)  # a grant
    assert check.said()["tv"]["remaining_today_s"] == 2340.0
    check.compare()
    check.engine.grant("alex", "chess", 60, check.now, "add",
                       until=check.now.wall + timedelta(minutes=2))  # a grant until a moment
    check.compare()
    check.around(local(25, 16, 1) + timedelta(minutes=2))  # it runs out
    check.to(check.engine.cooldowns[("alex", "tv")])  # the cooldown's end
    assert check.said()["tv"]["state"] == "available"
    check.compare()


def test_group_budgets_are_kept_only_while_nothing_but_a_change_can_move_them() -> None:
    check = Written(Engine(load_policy_text(POLICY), PARIS), local(25, 15, 0))

    def games() -> dict[str, Any]:
        with check.engine.reading():
            written = json.loads(SharedResult(check.render(check.shown)).encoded())
        found: dict[str, Any] = written["users"][0]["groups"][0]
        assert found["id"] == "games"
        return found

    def kept() -> bool:
        return "alex" in check.shown.budgets

    assert games()["remaining_today_s"] == 7800.0 and kept()
    assert check.launch("alex", "radio")  # not one of the group's: they still stand
    check.step(30)
    assert games()["used_today_s"] == 0.0 and kept()
    check.compare()
    assert check.launch("alex", "kart")  # the group's: its use moves with the clock
    assert games()["used_today_s"] == 0.0
    check.step(60)
    assert games()["used_today_s"] == 60.0
    assert not kept()
    check.compare()
    check.end(2)  # kart stops: they stand again
    check.step(5)
    assert games()["used_today_s"] == 60.0 and kept()
    check.compare()
    check.engine.grant("alex", "games", 600, check.now)  # a grant: in the next answer
    assert games()["remaining_today_s"] == 7800.0 + 600 - 60
    check.compare()
    ends = check.now.wall + timedelta(minutes=5)
    check.engine.grant("alex", "games", 60, check.now, "add", until=ends)  # until a moment
    # the day's total, and the minute on top until then (review-15-s15 N5)
    assert games()["quota_today_s"] == 7800 + 600 and games()["on_top"][0]["seconds"] == 60
    check.step(60)
    assert games()["quota_today_s"] == 7800 + 600
    check.around(ends)  # it runs out
    assert games()["quota_today_s"] == 7800 + 600 and "on_top" not in games()
    assert not kept()
    check.to(local(25, 23, 59))
    check.end(1)
    assert games()["used_today_s"] == 60.0
    check.around(local(26, 0, 0))  # the quota day's end: the group's use is yesterday's
    assert games()["used_today_s"] == 0.0 and games()["remaining_today_s"] == 7800.0


def test_group_budgets_follow_a_session_on_another_machine() -> None:
    check = Written(Engine(load_policy_text(POLICY), PARIS), local(25, 15, 0))

    def used() -> float:
        with check.engine.reading():
            written = json.loads(SharedResult(check.render(check.shown)).encoded())
        return float(written["users"][0]["groups"][0]["used_today_s"])

    assert used() == 0.0 and "alex" in check.shown.budgets
    check.engine.set_household(Household(sessions=(RemoteSession(
        "desktop", 9, "alex", "kart", check.now.wall, check.mono, check.mono + 600),)))
    assert used() == 0.0
    check.step(90)  # its use since its machine last said counts here too
    assert used() == 90.0 and "alex" not in check.shown.budgets
    check.compare()
    check.step(600)  # past the end its machine announced: its last use still counts
    assert used() == 600.0
    check.compare()
