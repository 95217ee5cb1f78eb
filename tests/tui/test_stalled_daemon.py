"""A parent's action sent while the daemon stalls: said while it waits, never called
"Not done" when it may be done, checked again when the daemon answers, done once."""

from __future__ import annotations

import signal
from typing import Any

from textual.pilot import Pilot

from shepherd.tui.app import ShepherdApp
from shepherd.tui.widgets.entry_table import EntryTable
from tests.daemon.conftest import FAR_DAY_START, policy
from tests.tui.conftest import confirm_shown, drive, screen_text, wait_for

GAME = """
[[entries]]
id = "game"
label = "A short game"
command = ["sleep", "600"]
limits = { daily_quota = "20m" }
"""


def notices(app: Any) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def test_a_grant_to_a_frozen_daemon_says_it_waits_and_is_given_once_when_it_recovers(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(GAME, FAR_DAY_START))
    app = ShepherdApp(d.socket)
    app.link.action_timeout = 2.0  # the real wait is 30 s; what is said is the same

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query(EntryTable)
                       and app.screen.query(EntryTable).first().row_count == 1, "the entry")
        app.screen.query(EntryTable).first().focus()
        await pilot.press("g")
        await wait_for(pilot, lambda: "Time for" in screen_text(app), "the grant form")
        await pilot.press("enter")
        await confirm_shown(pilot)
        assert d.process is not None
        d.process.send_signal(signal.SIGSTOP)
        try:
            await pilot.press("y")
            await wait_for(pilot, lambda: "Waiting for the daemon to answer" in
                           screen_text(app), "a word that the action waits")
            await wait_for(pilot, lambda: "may still do this" in notices(app),
                           "the truth: it may be done yet")
            assert "Not done" not in notices(app), notices(app)
        finally:
            d.process.send_signal(signal.SIGCONT)
        await wait_for(pilot, lambda: "answered at last" in notices(app),
                       "the action checked again once the daemon answers", timeout=60)
        assert "Not done" not in notices(app), notices(app)
        assert "Waiting for the daemon" not in screen_text(app)

    drive(app, scenario)
    assert d.audit_types().count("time_granted") == 1


def test_a_grant_lost_with_a_daemon_that_died_frozen_is_sent_again_to_the_next_once(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(GAME, FAR_DAY_START))
    app = ShepherdApp(d.socket)
    app.link.action_timeout = 2.0

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query(EntryTable)
                       and app.screen.query(EntryTable).first().row_count == 1, "the entry")
        app.screen.query(EntryTable).first().focus()
        await pilot.press("g")
        await wait_for(pilot, lambda: "Time for" in screen_text(app), "the grant form")
        await pilot.press("enter")
        await confirm_shown(pilot)
        assert d.process is not None
        d.process.send_signal(signal.SIGSTOP)
        await pilot.press("y")
        await wait_for(pilot, lambda: "may still do this" in notices(app), "no answer said")
        d.kill9()  # it died before it read the grant: the next daemon never saw it
        d.start()
        await wait_for(pilot, lambda: "answered at last" in notices(app),
                       "the grant sent again to the new daemon", timeout=60)
        assert "Not done" not in notices(app), notices(app)

    drive(app, scenario)
    assert d.audit_types().count("time_granted") == 1
