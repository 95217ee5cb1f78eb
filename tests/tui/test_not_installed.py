"""An entry whose program is not installed here: one state and one sentence everywhere
(review-1215-s12 F4: `status` said it would not start while the TUI said "can start")."""

from __future__ import annotations

import json
from typing import Any

from textual.pilot import Pilot

from shepherd.tui.app import ShepherdApp
from shepherd.tui.live import LiveState
from tests.daemon.conftest import ME, policy
from tests.tui.conftest import NAP, cells, drive, first_table, shepherd_cli

GHOST = """
[[entries]]
id = "ghost"
label = "Ghost"
command = ["no-such-program-s12"]
"""
SAID = "can't start: its program 'no-such-program-s12' is not installed here"


def test_status_the_parents_view_and_the_childs_lines_say_not_installed(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP + GHOST))
    shown = shepherd_cli(d.socket, "status")
    assert shown.returncode == 0, shown.stderr
    [ghost] = [line for line in shown.stdout.splitlines() if "Ghost" in line]
    assert "not installed" in ghost and SAID in ghost, ghost
    assert "available" not in ghost and "can start" not in ghost
    entries = json.loads(shepherd_cli(d.socket, "status", "--json").stdout)["users"][0]["entries"]
    states = {e["id"]: (e["state"], e.get("program_missing")) for e in entries}
    assert states == {"nap": ("available", None),
                      "ghost": ("not_installed", "no-such-program-s12")}
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        table = await first_table(pilot, 2)
        assert cells(table, "state") == ["available", "not installed"]
        state: LiveState = app.state
        [item] = [e for e in state.user(ME)["entries"] if e["id"] == "ghost"]  # type: ignore[index]
        line = state.entry_line(ME, item, 0.0)
        assert (line.state, line.detail) == ("not_installed", f"Ghost {SAID}.")

    drive(app, scenario)


def test_the_daemons_explanation_says_not_installed(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP + GHOST))
    said = d.call("policy.explain", user=ME)
    assert f"Ghost {SAID}." in said["lines"]
    [ghost] = [e for e in said["explanation"]["entries"] if e["id"] == "ghost"]
    assert ghost["sessions"] == []
