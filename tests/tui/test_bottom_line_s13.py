"""The parent's bottom line says the entry's label once (review-1215-s12 F6, s13)."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from shepherd.tui.app import ShepherdApp
from shepherd.tui.widgets.entry_table import EntryTable
from tests.daemon.conftest import policy
from tests.tui.conftest import NAP, drive, screen_text, wait_for


def test_the_parents_bottom_line_names_the_entry_once(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    me = d.call("status")["users"][0]["name"]
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query(EntryTable)
                       and app.screen.query(EntryTable).first().row_count == 1, "the entry")
        app.screen.query(EntryTable).first().focus()
        await wait_for(pilot, lambda: "can start" in screen_text(app), "the bottom line")
        line = next(row for row in screen_text(app).splitlines() if "can start" in row)
        assert f"{me} · Nap can start" in line, line
        assert line.count("Nap") == 1, line

    drive(app, scenario, size=(120, 30))
