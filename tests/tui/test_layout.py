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
        # Running now: the end time is whole (it was "16:4"); in the minutes before
        # midnight it is "tmrw 00:10", whole too ("tomorrow at 00:" was cut at 120 columns).
        clock = cells(app.screen.query_one(SessionList), "ends")[0]
        assert re.fullmatch(r"(tmrw )?\d\d:\d\d", clock), clock
        running = [line for line in lines if "root · " in line and "…" in line]
        assert any(re.search(rf"\b{clock}\b", line) for line in running), (clock, text)

    drive(app, scenario, size=size)


MARKUP = 'Drawing [/] tablet [b]'
MARKED = f"""
[[entries]]
id = "drawing"
label = "{MARKUP}"
command = ["sleep", "600"]
limits = {{ daily_quota = "10m" }}
"""


def test_a_name_that_looks_like_markup_is_shown_as_written_everywhere(
        daemon_factory: Any) -> None:
    # A parent's label (or one a child could get a parent to paste) with unbalanced
    # markup: the line under the tables, the forms and their choices show it as written.
    d = daemon_factory(policy(MARKED))
    d.call("launch", entry="drawing")
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query(EntryTable)
                       and app.screen.query(EntryTable).first().row_count == 1, "the entry")
        app.screen.query(EntryTable).first().focus()
        await wait_for(pilot, lambda: f"{MARKUP}: running" in screen_text(app),
                       "the explanation, as written")
        await pilot.press("e")
        await wait_for(pilot, lambda: f"Extend root's {MARKUP}" in screen_text(app)
                       or f"Extend {app.state.me}'s {MARKUP}" in screen_text(app),
                       "the extend form, as written")
        await pilot.press("escape")
        await pilot.press("g")
        await wait_for(pilot, lambda: "Time for" in screen_text(app), "the grant form")
        assert MARKUP in screen_text(app)

    drive(app, scenario, size=(120, 40))
