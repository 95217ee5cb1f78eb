"""A child who asks for the same thing ten times: the parent sees it once (one row,
one notice) and answers it once; the child is told it is still waiting."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from shepherd.tui.app import ShepherdApp
from shepherd.tui.widgets.request_list import RequestList
from tests.daemon.conftest import policy
from tests.tui.conftest import NAP, drive, shepherd_cli, wait_for


def test_the_same_request_asked_ten_times_is_one_row_and_one_notice(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)
    said: list[str] = []

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.connected, "the connection")
        rows = app.screen.query_one(RequestList)
        for _ in range(10):
            asked = shepherd_cli(d.socket, "request", "nap", "5m", "--note", "boss fight")
            assert asked.returncode == 0, asked.stderr
            said.append(asked.stdout)
        other = shepherd_cli(d.socket, "request", "nap", "10m")  # another request
        assert other.returncode == 0, other.stderr
        await wait_for(pilot, lambda: rows.row_count == 2, "the two different requests")
        await pilot.pause(0.3)
        assert rows.row_count == 2
        toasts = [n for n in app._notifications if n.title == "A request for more time"]
        assert len(toasts) == 2, [n.message for n in toasts]

    drive(app, scenario, size=(120, 40))
    assert said[0].startswith("Asked a parent for 5 minutes more of Nap"), said[0]
    assert all("already" in s and "still waiting" in s for s in said[1:]), said[1:]
    assert len(d.call("requests")) == 2
    assert d.audit_types().count("time_requested") == 2
