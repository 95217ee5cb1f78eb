"""The audit speaks of entries by the names a parent sees: the entry filter takes the
name (or the id), and the rows say the name."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from shepherd.tui.app import ShepherdApp
from shepherd.tui.screens.audit import AuditScreen
from shepherd.tui.widgets.audit_table import AuditTable
from tests.daemon.conftest import ME, policy
from tests.tui.conftest import cells, drive, wait_for

GAMES = """
[[entries]]
id = "game"
label = "A short game"
command = ["sleep", "600"]
limits = { daily_quota = "10m" }

[[entries]]
id = "music"
label = "Music player"
command = ["sleep", "600"]
"""


def test_the_entry_filter_takes_the_name_a_parent_sees_and_the_rows_say_it(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(GAMES))
    d.call("launch", entry="game")
    d.call("stop", session_id=d.call("status")["sessions"][0]["id"])
    d.call("launch", entry="music")
    d.call("grant", user=ME, target="game", duration=300)
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.status is not None, "the first picture")
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen), "the audit view")
        table = app.screen.query_one(AuditTable)
        await wait_for(pilot, lambda: table.row_count >= 4, "the audit rows")
        everything = table.row_count
        app.screen.query_one("#entry").focus()
        await pilot.press(*"a short GAME", "enter")  # as it reads on Now, any case
        await wait_for(pilot, lambda: 0 < table.row_count < everything, "fewer rows")
        what = cells(table, "what")
        assert any(w == f"{ME} started A short game" for w in what), what
        assert any(w.startswith(f"{ME} got 5m more of A short game") for w in what), what
        assert not any("Music" in w or "music" in w for w in what), what

    drive(app, scenario, size=(120, 40))
