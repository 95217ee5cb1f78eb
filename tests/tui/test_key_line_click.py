"""The key line at the bottom looks like buttons, and works like them: a click on a
key (or its word) does what the key does."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from shepherd.tui.app import ShepherdApp
from shepherd.tui.screens.help import HelpScreen
from shepherd.tui.widgets.entry_table import EntryTable
from shepherd.tui.widgets.key_line import KeyLine
from tests.daemon.conftest import policy
from tests.tui.conftest import NAP, drive, screen_text, wait_for


def column_of(line: KeyLine, word: str) -> int:
    """Where ``word`` is written on the key line (a person aims at what they read)."""
    text = line.render().plain if hasattr(line.render(), "plain") else str(line.render())
    found = text.find(word)
    assert found >= 0, text
    return found + 1


def test_a_click_on_a_key_of_the_key_line_runs_it(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query(EntryTable)
                       and app.screen.query(EntryTable).first().row_count == 1, "the entry")
        app.screen.query(EntryTable).first().focus()
        line = app.screen.query_one(KeyLine)
        await pilot.click(KeyLine, offset=(column_of(line, "Grant"), 0))
        await wait_for(pilot, lambda: "Time for" in screen_text(app), "the grant form")
        await pilot.press("escape")
        await wait_for(pilot, lambda: "Time for" not in screen_text(app), "the form closed")
        line = app.screen.query_one(KeyLine)
        await pilot.click(KeyLine, offset=(column_of(line, "?") - 1, 0))  # the key itself
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the keys")

    drive(app, scenario)
