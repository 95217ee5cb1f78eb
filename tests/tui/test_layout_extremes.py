"""The dashboard at the extremes: at 80×24 the top of Now is what shows first (the
running sessions' title included, not scrolled past); on a very wide terminal the
side panel takes a share of the room instead of wrapping beside empty columns."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from shepherd.tui.app import ShepherdApp
from shepherd.tui.widgets.entry_table import EntryTable
from shepherd.tui.widgets.session_list import SessionList
from tests.daemon.conftest import policy
from tests.tui.conftest import drive, screen_text, shepherd_cli, wait_for

MANY = "".join(f"""
[[entries]]
id = "e{n}"
label = "Entry {n}"
command = ["sleep", "600"]
limits = {{ daily_quota = "10m" }}
""" for n in range(9))


def test_at_80x24_now_opens_at_its_top_with_the_running_sessions_title(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(MANY, users="max_sessions = 2"))
    d.call("launch", entry="e0")
    d.call("launch", entry="e1")
    assert shepherd_cli(d.socket, "request", "e0", "5m").returncode == 0
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query_one(SessionList).row_count == 2
                       and app.screen.query(EntryTable)
                       and app.screen.query(EntryTable).first().row_count == 9, "the picture")
        await wait_for(pilot, lambda: isinstance(app.screen.focused, EntryTable), "focus")
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "Running now" in text, text
        assert app.screen.query_one("#dash").scroll_y == 0

    drive(app, scenario, size=(80, 24))


def test_on_a_very_wide_terminal_the_side_panel_takes_a_share_of_the_room(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(MANY))
    d.call("launch", entry="e0")
    app = ShepherdApp(d.socket)
    widths: dict[int, int] = {}

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query_one(SessionList).row_count == 1,
                       "the running session")
        for columns in (120, 250):
            await pilot.resize_terminal(columns, 50)
            await pilot.pause(0.3)
            widths[columns] = app.screen.query_one("#side").size.width
        assert "Running now" in screen_text(app)

    drive(app, scenario, size=(120, 50))
    assert widths[120] >= 40, widths  # the tables beside it keep their room at 120
    assert widths[250] >= 70, widths  # a warning's sentence fits on one line
