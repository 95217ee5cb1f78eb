"""What a parent reads stays whole: long names are cut, never the columns beside them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from textual.pilot import Pilot

from shepherd.tui.app import ShepherdApp
from shepherd.tui.widgets.entry_table import EntryTable
from shepherd.tui.widgets.session_list import SessionList
from tests.daemon.conftest import policy
from tests.tui.conftest import cells, drive, screen_text, wait_for

# A parent's label as long and as mixed as a policy file allows: markup, accents,
# an emoji, right-to-left and double-width characters.
LONG = ("[bold red]Réading 📚 עברית 超长的名字 Supercalifragilisticexpialidocious "
        "and the whole collected works of everybody, volume one to twelve")
ENTRIES = f"""
[[entries]]
id = "book"
label = "{LONG}"
command = ["sleep", "600"]
limits = {{ daily_quota = "10m" }}

[[entries]]
id = "nap"
label = "Nap"
command = ["sleep", "600"]
limits = {{ daily_quota = "10m" }}
"""


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_a_long_label_is_cut_and_every_column_beside_it_stays(daemon_factory: Any,
                                                               size: tuple[int, int]) -> None:
    d = daemon_factory(policy(ENTRIES, users="max_sessions = 2"))
    d.call("launch", entry="book")
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query(EntryTable)
                       and app.screen.query(EntryTable).first().row_count == 2, "the entries")
        await wait_for(pilot, lambda: app.screen.query_one(SessionList).row_count == 1,
                       "the running session")
        await pilot.pause(0.2)
        text = screen_text(app)
        lines = text.splitlines()
        header = next((line for line in lines if "Entry" in line and "State" in line), None)
        assert header is not None, text
        assert "Left / next" in header and "Today" in header, text
        book = next(line for line in lines if "Réading" in line and "running" in line)
        assert "…" in book and "volume one to twelve" not in book, book
        assert "of 10m" in book, book  # Today
        nap = next(line for line in lines if "Nap" in line and "available" in line)
        assert "10m" in nap, nap
        # Running now: the end time is whole (it was "16:4").
        clock = cells(app.screen.query_one(SessionList), "ends")[0]
        assert re.fullmatch(r"\d\d:\d\d", clock), clock
        running = [line for line in lines if "root · " in line and "…" in line]
        assert any(re.search(rf"\b{clock}\b", line) for line in running), (clock, text)

    drive(app, scenario, size=size)
