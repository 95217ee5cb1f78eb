"""With no daemon to answer, the TUI shows what it knows and no more: a neutral
screen (no parent's panes or keys: it does not know yet who is looking), History
not loaded, and why in words."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from shepherd.tui.app import ShepherdApp
from shepherd.tui.screens.help import HelpScreen
from shepherd.tui.screens.history import HistoryScreen
from shepherd.tui.widgets.banner import ConnectionBanner
from tests.tui.conftest import drive, screen_text, wait_for


def notices(app: Any) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def test_with_no_daemon_the_screen_is_neutral_and_says_why_in_words(tmp_path: Path) -> None:
    app = ShepherdApp(tmp_path / "nothing-here.sock")

    async def scenario(pilot: Pilot[Any]) -> None:
        banner = app.screen.query_one(ConnectionBanner)
        await wait_for(pilot, lambda: banner.display, "the banner")
        await wait_for(pilot, lambda: "it is not running (there is no socket there)" in
                       screen_text(app), "the reason in words")
        text = screen_text(app)
        assert "No such file" not in text, text
        for parent_only in ("Asking for more time", "Grant", "Approve", "Running now"):
            assert parent_only not in text, (parent_only, text)
        await pilot.press("g")
        await wait_for(pilot, lambda: "until the daemon answers" in notices(app), "a word")
        assert "Choose a child" not in notices(app)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the keys")
        assert "Grant" not in screen_text(app) and "Quit" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), "History")
        await wait_for(pilot, lambda: "Not loaded: the daemon cannot be reached" in
                       screen_text(app), "history not loaded")
        assert "Nothing used" not in screen_text(app)

    drive(app, scenario)


def test_a_socket_nothing_listens_on_is_said_in_words(tmp_path: Path) -> None:
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as left:
        left.bind(str(stale))  # a daemon that died left its socket file
    app = ShepherdApp(stale)

    async def scenario(pilot: Pilot[Any]) -> None:
        banner = app.screen.query_one(ConnectionBanner)
        await wait_for(pilot, lambda: banner.display, "the banner")
        assert "it is not running (nothing answers on that socket)" in app.state.problem
        assert "refused" not in app.state.problem

    drive(app, scenario)
