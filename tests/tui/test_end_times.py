"""The TUI and the CLI name the same end for the same session (ends are rounded down)."""

from __future__ import annotations

import re
from typing import Any

from textual.pilot import Pilot

from shepherd.tui.app import ShepherdApp
from shepherd.tui.widgets.session_list import SessionList
from tests.daemon.conftest import policy
from tests.tui.conftest import cells, drive, shepherd_cli, wait_for

NAP = """
[[entries]]
id = "nap"
label = "Nap"
command = ["sleep", "600"]
limits = { max_run = "10m" }
"""


def test_the_tui_shows_the_end_the_cli_said(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    launched = shepherd_cli(d.socket, "launch", "nap")
    assert launched.returncode == 0, launched.stderr
    said = re.search(r"until (\d\d:\d\d)", launched.stdout)
    assert said, launched.stdout
    status = shepherd_cli(d.socket, "status")
    assert f"ends at {said[1]}" in status.stdout, status.stdout
    deadline = d.call("status")["sessions"][0]["deadline"]
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        sessions = app.screen.query_one(SessionList)
        await wait_for(pilot, lambda: sessions.row_count == 1, "the session")
        assert cells(sessions, "ends") == [said[1]], (deadline, said[1])
        sessions.focus()
        await wait_for(pilot, lambda: "ends at" in str(app.screen.query_one("#explain")
                                                          .render()), "the explanation")
        assert f"ends at {said[1]}" in str(app.screen.query_one("#explain").render())

    drive(app, scenario)
