"""A question on screen stays true while it waits, and the answer says what really happened."""

from __future__ import annotations

import re
from typing import Any

from textual.pilot import Pilot

from shepherd.tui.app import ShepherdApp
from shepherd.tui.screens.confirm import ConfirmScreen
from shepherd.tui.widgets.entry_table import EntryTable
from shepherd.tui.widgets.session_list import SessionList
from tests.daemon.conftest import ME, policy
from tests.tui.conftest import (
    clock_seconds,
    confirm_shown,
    drive,
    nap,
    screen_text,
    shepherd_cli,
    wait_for,
)

NAP = nap('max_run = "10m", daily_quota = "20m", cooldown = "1h"')


def left_in_question(app: Any) -> int | None:
    found = re.search(r"It has (\d+:\d\d) left", screen_text(app))
    return clock_seconds(found[1]) if found else None


def notices(app: Any) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def test_a_stop_question_counts_down_and_says_when_the_session_ended_meanwhile(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    started = d.call("launch", entry="nap")
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        sessions = app.screen.query_one(SessionList)
        await wait_for(pilot, lambda: sessions.row_count == 1, "the running session")
        await pilot.press("s")
        await confirm_shown(pilot)
        first = left_in_question(app)
        assert first is not None, screen_text(app)
        await wait_for(pilot, lambda: (left_in_question(app) or first) < first,
                       "the time left in the question going down")
        # Meanwhile the session ends another way (here: the CLI; as well its limit).
        stopped = shepherd_cli(d.socket, "stop", str(started["session_id"]))
        assert stopped.returncode == 0, stopped.stderr
        await wait_for(pilot, lambda: "already ended" in screen_text(app),
                       "the question saying the session ended")
        assert left_in_question(app) is None, screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen),
                       "the question closed")
        await wait_for(pilot, lambda: "already ended" in notices(app), "the true answer")
        assert "Not done" not in notices(app) and "Stopped" not in notices(app), notices(app)

    drive(app, scenario)


def test_ending_a_rest_says_what_still_holds_the_entry(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    me = d.call("status")["users"][0]["name"]
    started = d.call("launch", entry="nap")
    d.call("stop", session_id=started["session_id"])  # resting now
    d.call("grant", user=me, target="nap", duration=1200, mode="take")  # and used up
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query(EntryTable)
                       and app.screen.query(EntryTable).first().row_count == 1, "the entry")
        table = app.screen.query(EntryTable).first()
        table.focus()
        await pilot.press("c")
        await confirm_shown(pilot)
        text = screen_text(app)
        assert "can start again at once" not in text, text
        assert "used up" in text, text
        await pilot.press("y")
        await wait_for(pilot, lambda: d.call("status")["users"][0]["entries"][0]
                       ["cooldown_until"] is None, "the rest ended in the daemon")
        await wait_for(pilot, lambda: "rest" in notices(app), "the answer")
        assert "may start" not in notices(app), notices(app)

    drive(app, scenario)


def test_taking_back_more_than_is_left_says_it_ends_the_running_session(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    d.call("launch", entry="nap")
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query_one(SessionList).row_count == 1,
                       "the running session")
        table = app.screen.query(EntryTable).first()
        table.focus()
        await pilot.press("g")
        await wait_for(pilot, lambda: "Time for" in screen_text(app), "the grant form")
        await pilot.press("backspace", "backspace", "backspace", *"-30m", "enter")
        await confirm_shown(pilot)
        said = " ".join(screen_text(app).replace("█", " ").split())
        assert "Nap is running: this ends it now." in said, said

    drive(app, scenario)


def test_a_request_answered_elsewhere_meanwhile_is_not_answered_twice(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.status is not None, "the first picture")
        asked = shepherd_cli(d.socket, "request", "nap", "5m", "--note", "please!")
        assert asked.returncode == 0, asked.stderr
        await wait_for(pilot, lambda: app.state.requests, "the request")
        await pilot.press("a")
        await confirm_shown(pilot)
        shown = screen_text(app)  # the note in its own box (review 11 s7 D1), as written
        assert "'s note" in shown and "please!" in shown and "please!”." not in shown
        request_id = app.state.requests[0]["id"]
        declined = shepherd_cli(d.socket, "answer", str(request_id), "decline")  # another parent
        assert declined.returncode == 0, declined.stderr + declined.stdout
        await wait_for(pilot, lambda: "already been answered" in screen_text(app),
                       "the question saying so")
        await pilot.press("y")
        await wait_for(pilot, lambda: "already been answered" in notices(app), "the answer")
        assert "Approved" not in notices(app), notices(app)
        # Review 11 s7 D9: how it was answered, and by whom (the CLI ran as ME).
        assert f"it was declined by {ME}." in notices(app), notices(app)

    drive(app, scenario)
    assert d.call("status")["users"][0]["entries"][0]["quota_today_s"] == 1200  # not given


def test_stop_with_nothing_running_says_so(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.status is not None, "the first picture")
        await pilot.press("s")
        await wait_for(pilot, lambda: "Nothing is running." in notices(app), "the answer")
        assert not isinstance(app.screen, ConfirmScreen)
        assert "Choose a running session" not in notices(app)  # there is no list to choose in

    drive(app, scenario)


LOCKED_AND_CAPPED = """
[[entries]]
id = "drawing"
label = "Drawing"
command = ["sleep", "600"]
users = ["nobody"]
limits = { daily_quota = "30m" }

[[groups]]
id = "screens"
entries = ["drawing"]
daily_quota = "4m"
"""


def test_approving_for_a_locked_child_under_a_budget_says_both_before_and_after(
        daemon_factory: Any) -> None:
    """Review 11 s6 F2: the question named the budget but not the lock, and the answer
    promised the whole 15 minutes."""
    d = daemon_factory(policy(LOCKED_AND_CAPPED, users='[[users]]\nname = "nobody"\n'))
    d.call("lock", user="nobody")
    d.call("request_time", user="nobody", entry="drawing", duration="15m")
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.requests, "the request")
        await pilot.press("a")
        await confirm_shown(pilot)
        said = " ".join(screen_text(app).replace("█", " ").split())
        assert ("nobody is locked: the 15 minutes are given, but nobody can't use them "
                "until you unlock them.") in said, said
        assert "The screens budget still allows only 4 minutes today." in said, said
        await pilot.press("y")
        await wait_for(pilot, lambda: "Approved" in notices(app), "the answer")
        answer = notices(app)
        assert "nobody is locked" in answer, answer
        assert "The screens budget still allows only 4 minutes today." in answer, answer

    drive(app, scenario)
