"""The audit view's detail pane says every amount of time as a duration, never a raw float."""

from __future__ import annotations

import re
from typing import Any

from textual.pilot import Pilot

from shepherd.tui.app import ShepherdApp
from shepherd.tui.widgets.audit_detail import AuditDetail, EventScreen
from shepherd.tui.widgets.audit_table import AuditTable
from shepherd.tui.words import detail_rows
from tests.daemon.conftest import ME, policy
from tests.tui.conftest import drive, nap, screen_text, wait_for

NAP = nap('daily_quota = "10m"',
          'warnings = [ { before = "9m59s", message = "almost over" } ]')
RAW_NUMBER = re.compile(r"\d\.\d")  # 59.996…: a float as Python prints it


def shown(event: dict[str, Any]) -> dict[str, str]:
    return dict(detail_rows(event))


def test_a_warning_names_the_time_left_as_a_duration() -> None:
    # What review 11 (s5) saw: "remaining_s 59.99641691600118".
    event = {"id": 7, "type": "warning_issued", "ts": "2026-11-29T16:00:00+00:00",
             "user": "alex", "entry": "minecraft", "actor": "daemon",
             "data": {"remaining_s": 59.99641691600118, "severity": "critical",
                      "message": "1 minute left", "session_id": 3}}
    rows = shown(event)
    assert rows["time left"] == "1m"
    assert "remaining_s" not in rows and "remaining" not in rows
    assert rows["message"] == "1 minute left"
    assert rows["session"] == "3"


def test_a_grant_taken_back_and_a_deadline_read_as_words() -> None:
    event = {"id": 8, "type": "time_granted", "ts": "2026-11-29T16:00:00+00:00",
             "user": "alex", "entry": "minecraft", "actor": "root",
             "data": {"seconds": -240, "expires_at": "2026-11-29T23:59:00+00:00",
                      "week": False, "reason": None}}
    rows = shown(event)
    assert rows["duration"] == "-4m"
    assert rows["expires at"].endswith(":59:00")  # a local time, not the ISO string
    assert "T" not in rows["expires at"]
    assert rows["week"] == "no"
    assert rows["reason"] == "none"


def test_every_event_of_a_real_daemon_reads_without_raw_numbers(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    d.call("launch", entry="nap")
    d.call("grant", user=ME, target="nap", duration=125)
    d.call("stop", session_id=1)
    events = d.call("audit.query", limit=50)["events"]
    types = {event["type"] for event in events}
    assert {"session_started", "session_ended", "time_granted"} <= types, types
    for event in events:
        for key, value in detail_rows(event):
            assert not key.endswith("_s"), (key, event)
            assert not RAW_NUMBER.search(value), (key, value, event)


def test_why_a_session_ended_and_its_command_read_as_written() -> None:
    event = {"id": 9, "type": "session_ended", "ts": "2026-11-29T16:00:00+00:00",
             "user": "alex", "entry": "kart", "actor": "root",
             "data": {"reason": "stopped_by_admin", "charged_s": 0.096, "session_id": 1,
                      "command": ["supertuxkart", "--track", "my track"]}}
    rows = shown(event)
    assert "stopped_by_admin" not in rows["reason"] and "parent" in rows["reason"]
    assert rows["charged"] == "0s"
    assert rows["command"] == "supertuxkart --track 'my track'"


def test_at_80x24_the_whole_event_is_reached_by_keys_and_named_in_words(
        daemon_factory: Any) -> None:
    """Review 11 s6 F3: the pane's six lines held only ids, no key reached the rest, and
    the event's kind read ``request_answered``."""
    d = daemon_factory(policy(NAP))
    asked = d.call("request_time", entry="nap", duration="15m", note="please")
    d.call("request.answer", request_id=asked["request_id"], answer="approve")
    app = ShepherdApp(d.socket)

    def pane_text() -> str:
        pane = app.screen.query_one(AuditDetail)
        region = pane.content_region
        lines = screen_text(app).splitlines()[region.y:region.y + region.height]
        return "\n".join(line[region.x:region.right] for line in lines)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.connected, "the daemon")
        await pilot.press("2")
        await wait_for(pilot, lambda: app.screen.query(AuditTable)
                       and app.screen.query_one(AuditTable).row_count, "the log")
        table = app.screen.query_one(AuditTable)
        row = next(i for i, e in enumerate(table.events) if e["type"] == "request_answered")
        table.focus()
        await pilot.press(*["down"] * row)
        await wait_for(pilot, lambda: "approved" in pane_text(), "the event's own parts "
                       "within the pane's visible lines")
        assert "granted" in pane_text() and "15m" in pane_text(), pane_text()
        assert "request_answered" not in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, EventScreen), "the whole event")
        whole = screen_text(app)
        for part in ("approved", "granted", "15m", "request answered", "time", "by"):
            assert part in whole, (part, whole)
        assert "request_answered" not in whole, whole
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, EventScreen), "back")

    drive(app, scenario, size=(80, 24))
