"""Pictures of every view at 80×24 and 120×40, compared with the accepted SVGs.

The answers are fixed (``recorded.py``) and the clock stands still, so a picture
changes only when the screen does. Update after a deliberate change with
``.venv/bin/pytest tests/tui/test_snapshots.py --snapshot-update`` and look at
the new SVGs before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from textual.pilot import Pilot

from shepherd.tui import words
from shepherd.tui.app import ShepherdApp
from shepherd.tui.messages import (
    Connected,
    RequestsFetched,
    StatusFetched,
    WarningsFetched,
)
from tests.tui import recorded

SIZES = [(80, 24), (120, 40)]
FROZEN = 1000.0


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(words, "_ZONE", ZoneInfo("UTC"))  # the pictures name 16:00 wherever run


def parent_app() -> ShepherdApp:
    app = ShepherdApp(recorded.Path("/run/shepherd/shepherd.sock"), clock=lambda: FROZEN,
                      connect=False)
    app.link = recorded.ReplayLink()
    return app


async def as_parent(pilot: Pilot[Any]) -> None:
    app = pilot.app
    app.post_message(Connected({"role": "admin", "name": "mum", "child": None}))
    app.post_message(StatusFetched(recorded.status(), FROZEN))
    app.post_message(RequestsFetched([dict(r) for r in recorded.REQUESTS]))
    app.post_message(WarningsFetched(recorded.WARNINGS))
    await pilot.pause(0.3)


def then(*keys: str) -> Callable[[Pilot[Any]], Any]:
    async def run(pilot: Pilot[Any]) -> None:
        await as_parent(pilot)
        await pilot.press(*keys)
        await pilot.pause(0.5)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.2)
    return run


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_dashboard(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(parent_app(), terminal_size=size, run_before=then())


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_audit(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(parent_app(), terminal_size=size, run_before=then("2", "down"))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_history(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(parent_app(), terminal_size=size, run_before=then("3"))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_policy(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(parent_app(), terminal_size=size, run_before=then("4"))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_a_day_explained(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(parent_app(), terminal_size=size,
                        run_before=then("4", "e", "tab", "tab", "enter"))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_childs_view(snap_compare: Any, size: tuple[int, int]) -> None:
    async def as_child(pilot: Pilot[Any]) -> None:
        app = pilot.app
        app.post_message(Connected({"role": "child", "name": "sam", "child": "sam"}))
        app.post_message(StatusFetched(recorded.child_status(), FROZEN))
        await pilot.pause(0.5)

    assert snap_compare(parent_app(), terminal_size=size, run_before=as_child)


def test_approving_a_request_asks_first(snap_compare: Any) -> None:
    assert snap_compare(parent_app(), run_before=then("a"))


def test_every_key(snap_compare: Any) -> None:
    assert snap_compare(parent_app(), terminal_size=(120, 40), run_before=then("question_mark"))
