"""A child who asks for the same thing ten times: the parent sees it once (one row,
one notice) and answers it once; the child is told it is still waiting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from shepherd.tui.app import ShepherdApp
from shepherd.tui.messages import DaemonEvent
from shepherd.tui.widgets.request_list import RequestList
from tests.daemon.conftest import ME, policy
from tests.tui.conftest import NAP, drive, screen_text, shepherd_cli, wait_for


def request_notices(app: Any) -> list[str]:
    """The notices about requests for more time on the screen now."""
    return [str(n.message) for n in app._notifications if "request" in n.title.lower()]


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
        # One notice: the other request's (it counts both while the first still shows).
        [toast] = request_notices(app)
        assert "10m more of Nap" in toast, toast

    drive(app, scenario, size=(120, 40))
    assert said[0].startswith("Asked a parent for 5 minutes more of Nap"), said[0]
    assert all("already" in s and "still waiting" in s for s in said[1:]), said[1:]
    assert len(d.call("requests")) == 2
    assert d.audit_types().count("time_requested") == 2


def test_many_requests_at_once_are_one_notice_that_counts_them(
        daemon_factory: Any, tmp_path: Path) -> None:
    """Five requests read together (children asking at once) stacked five notices over
    the screen (s8, LOW); one notice now says how many wait, and the newest."""
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)
    seen: list[str] = []

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.connected, "the connection")
        rows = app.screen.query_one(RequestList)
        for minutes in (5, 10, 15, 20, 25):  # while the TUI waits: all read in one go
            d.call("request_time", entry="nap", duration=minutes * 60)
        await wait_for(pilot, lambda: rows.row_count == 5, "the five requests")
        await wait_for(pilot, lambda: "5 requests" in screen_text(app), "the notice")
        seen.extend(request_notices(app))
        app.save_screenshot(str(tmp_path / "requests.svg"))
        text = screen_text(app)
        assert text.count("requests for more time are waiting") == 1, text
        # A sixth, while it shows: the same notice, counting one more.
        d.call("request_time", entry="nap", duration=30 * 60)
        await wait_for(pilot, lambda: "6 requests" in screen_text(app), "the notice updated")
        seen.extend(request_notices(app))

    drive(app, scenario, size=(120, 40), notifications=True)
    assert seen == [
        "5 requests for more time are waiting; the newest: " + ME
        + " asks for 25m more of Nap. Choose one in the list, then press a to approve or x to "
        "decline.",
        "6 requests for more time are waiting; the newest: " + ME
        + " asks for 30m more of Nap. Choose one in the list, then press a to approve or x to "
        "decline."], seen


def test_a_request_heard_before_the_first_status_is_said_with_the_entrys_name(
        daemon_factory: Any) -> None:
    """CI (s19, a loaded machine): five requests arrived before the TUI's first status, and
    the notice said "25m more of nap" (the entry's id) where the parent reads "Nap". The
    daemon's event names the entry, and the notice says that name whatever the TUI knows
    yet: here an entry its status has never shown."""
    d = daemon_factory(policy(NAP))
    events = d.events()
    d.call("request_time", entry="nap", duration=5 * 60)
    assert events.next("time_requested")["label"] == "Nap"
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.connected, "the connection")
        app.post_message(DaemonEvent({"type": "time_requested", "request_id": 99,
                                      "user": ME, "entry": "newgame", "label": "New Game",
                                      "seconds": 600, "note": ""}))
        await wait_for(pilot, lambda: any("New Game" in n for n in request_notices(app)),
                       "the notice")
        assert not any("newgame" in n for n in request_notices(app))

    drive(app, scenario, size=(120, 40), notifications=True)
