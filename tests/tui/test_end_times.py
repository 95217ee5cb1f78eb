"""The TUI and the CLI name the same end for the same session (ends are rounded down)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from textual.pilot import Pilot

from shepherd.tui.app import ShepherdApp
from shepherd.tui.widgets.session_list import SessionList
from tests.daemon.conftest import policy
from tests.tui.conftest import cells, drive, nap, shepherd_cli, wait_for

NAP = nap('max_run = "10m"')


def test_the_tui_shows_the_end_the_cli_said(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    day = date.today()
    launched = shepherd_cli(d.socket, "launch", "nap")
    assert launched.returncode == 0, launched.stderr
    # "until 16:40", or in the minutes before midnight the honest "until tomorrow at 00:08".
    said = re.search(r"until ((?:tomorrow at )?(\d\d:\d\d))\.", launched.stdout)
    assert said, launched.stdout
    deadline = d.call("status")["sessions"][0]["deadline"]
    end = datetime.fromisoformat(deadline).astimezone()
    assert end.strftime("%H:%M") == said[2], deadline  # ends are rounded down
    if date.today() == day:  # (unless midnight came during the launch)
        assert said[1].startswith("tomorrow") == (end.date() > day), (said[1], deadline)

    def named(at: str, tomorrow: str = "tomorrow at ") -> str:
        """The end as words name it now ("tomorrow" until midnight comes)."""
        return f"{tomorrow}{said[2]}" if end.date() > date.today() else f"{at}{said[2]}"

    status = shepherd_cli(d.socket, "status")
    assert f"ends {named('at ')}" in status.stdout, status.stdout
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        sessions = app.screen.query_one(SessionList)
        await wait_for(pilot, lambda: sessions.row_count == 1, "the session")
        assert cells(sessions, "ends") == [named("", "tmrw ")], (deadline, said[1])
        sessions.focus()
        await wait_for(pilot, lambda: "ends " in str(app.screen.query_one("#explain")
                                                      .render()), "the explanation")
        assert f"ends {named('at ')}" in str(app.screen.query_one("#explain").render())

    drive(app, scenario)


def test_an_extensions_end_says_what_still_ends_it() -> None:
    """Review 11 s7 D3: the hours still hold whatever the extension; a budget ends it
    once the budget and the extra time are used up."""
    from datetime import UTC, datetime

    from shepherd.words import extension_end

    now = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    window = {"deadline": "2026-11-30T18:00:00+00:00", "cause": "window", "seconds": 900}
    assert extension_end(window, now, UTC) == (
        "at 18:00: that is when its hours end, which an extension never passes")
    budget = {"deadline": "2026-11-30T17:35:40+00:00", "cause": "group_quota",
              "group": "screens", "period": "week", "seconds": 600}
    assert extension_end(budget, now, UTC) == ("at 17:35, when the screens budget for this "
                                               "week and the extra 10 minutes are used up")
    assert extension_end({"deadline": None}, now, UTC) == "with no time limit"


def test_a_budget_limit_is_never_rounded_up() -> None:
    """Review 11 s7 D5: "The screens budget still allows only 9 minutes today." with
    8m40s left (fixed by 11850ba's rounding down; kept true here for the grant words)."""
    from datetime import UTC, datetime

    from shepherd.words import cap_sentence

    now = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    cap = {"kind": "group_quota", "group": "screens", "usable_s": 520.0, "running": False}
    assert cap_sentence("A short game", cap, now, UTC) == (
        "The screens budget still allows only 8 minutes today.")
