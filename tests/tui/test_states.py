"""The state a parent reads is the one that lasts: "busy" only when nothing else holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual.pilot import Pilot

from shepherd.tui.app import ShepherdApp
from shepherd.tui.widgets.entry_table import EntryTable
from tests.daemon.conftest import FAR_DAY_START, policy
from tests.tui.conftest import cells, drive, shepherd_cli, wait_for

# One program at a time: while Nap runs every other entry is "busy", whatever else holds.
# Drawing's hours are three hours from the test's start, so it is outside them whenever
# the test runs; from 21:00 on, those hours are tomorrow's, and the table says so.
ENTRIES = """
[[entries]]
id = "nap"
label = "Nap"
command = ["sleep", "600"]

[[entries]]
id = "drawing"
label = "Drawing"
command = ["sleep", "600"]
windows = [{{ days = "daily", start = "{later}:00", end = "{later}:30" }}]

[[entries]]
id = "game"
label = "Game"
command = ["sleep", "600"]
limits = {{ daily_quota = "10m" }}

[[entries]]
id = "book"
label = "Book"
command = ["sleep", "600"]
"""


def test_busy_gives_way_to_the_reason_that_lasts(daemon_factory: Any) -> None:
    later = (datetime.now().hour + 3) % 24

    def opens() -> str:
        """What the table says of Drawing's hours at this moment."""
        today = datetime.now().hour < later
        return f"opens {later:02d}:00" if today else f"opens tmrw {later:02d}:00"

    # The quota day starts twelve hours away: Game stays used up while the test runs.
    d = daemon_factory(policy(ENTRIES.format(later=f"{later:02d}"), FAR_DAY_START))
    me = d.call("status")["users"][0]["name"]
    d.call("grant", user=me, target="game", duration=600, mode="take")  # used up today
    d.call("launch", entry="nap")
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        before = opens()  # the table is drawn after this and read before ``opens()`` below
        await wait_for(pilot, lambda: app.screen.query(EntryTable)
                       and "running" in cells(app.screen.query(EntryTable).first(), "state"),
                       "the running entry")
        table = app.screen.query(EntryTable).first()
        states = dict(zip(cells(table, "entry"), cells(table, "state"), strict=True))
        nexts = dict(zip(cells(table, "entry"), cells(table, "left"), strict=True))
        assert states["Drawing"] == "outside hours", states
        assert nexts["Drawing"] in {before, opens()}, (before, nexts)  # (midnight between)
        assert states["Game"] == "used up", states
        assert nexts["Game"].startswith("back"), nexts
        assert states["Book"] == "busy", states  # only the other program holds it (s7 L1: one word)
        assert nexts["Book"] == "1 running", nexts

    drive(app, scenario, size=(120, 40))
    shown = shepherd_cli(d.socket, "status")
    assert shown.returncode == 0, shown.stderr
    game = next(line for line in shown.stdout.splitlines() if line.strip().startswith("Game"))
    assert "used up" in game and "busy" not in game, shown.stdout
