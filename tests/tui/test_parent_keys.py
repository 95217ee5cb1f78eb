"""Keys a parent presses without reading the help: Esc, Enter, Ctrl+C (review 11, s5).

Pilot against a real user-mode daemon.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Select

from shepherd.tui.app import ShepherdApp
from shepherd.tui.screens.audit import AuditScreen
from shepherd.tui.screens.explain_ask import ExplainAskScreen
from shepherd.tui.screens.policy import PolicyScreen
from shepherd.tui.widgets.audit_table import AuditTable
from tests.daemon.conftest import policy
from tests.tui.conftest import NAP, drive, wait_for


def test_esc_in_an_audit_filter_goes_back_to_the_rows_and_drops_what_was_not_applied(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    d.call("launch", entry="nap")
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.connected, "the connection")
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen), "the audit view")
        screen = app.screen
        table = screen.query_one(AuditTable)
        await wait_for(pilot, lambda: table.row_count >= 2, "the audit rows")
        everything = table.row_count
        await pilot.press("slash", *"started", "enter")  # applied: stays
        await wait_for(pilot, lambda: screen.focused is table, "the rows again")
        await pilot.press("slash", "ctrl+u", *"zzz-nothing")  # typed, never applied
        assert isinstance(screen.focused, Input)
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen.focused is table, "Esc back to the rows")
        assert screen.query_one("#text", Input).value == "started"
        assert table.row_count > 0  # "zzz-nothing" was not applied
        # From a field of its own too, and from the type list (closed).
        screen.query_one("#entry", Input).focus()
        await pilot.press(*"xyz", "escape")
        await wait_for(pilot, lambda: screen.focused is table, "Esc back from the entry field")
        assert screen.query_one("#entry", Input).value == ""
        screen.query_one("#type", Select).focus()
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen.focused is table, "Esc back from the type list")
        assert isinstance(app.screen, AuditScreen)  # Esc on the rows leaves nothing open
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: table.row_count >= everything, "every row again")

    drive(app, scenario, size=(120, 40))


def test_enter_in_the_explain_form_explains_and_does_not_open_the_child_list(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.status is not None, "the first picture")
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, PolicyScreen), "the policy view")
        view = app.screen
        assert isinstance(view, PolicyScreen)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExplainAskScreen), "the form")
        child = app.screen.query_one("#child", Select)
        assert app.screen.focused is child
        await pilot.press("enter")  # what its button says: "Explain (Enter)"
        await wait_for(pilot, lambda: view.explained is not None,
                       f"the day explained (the child list is "
                       f"{'open' if child.expanded else 'closed'})")
        assert app.screen is view
        # The list still opens from its own keys.
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExplainAskScreen), "the form")
        await pilot.press("down")
        child = app.screen.query_one("#child", Select)
        await wait_for(pilot, lambda: child.expanded, "the child list open")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not child.expanded, "the list closed")
        assert isinstance(app.screen, ExplainAskScreen)  # Esc closed only the list

    drive(app, scenario)


def test_ctrl_c_says_how_to_quit_in_words_without_markup(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.connected, "the connection")
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: any("quit" in str(n.message) for n in app._notifications),
                       "the hint")
        said = " ".join(f"{n.title} {n.message}" for n in app._notifications)
        assert "[" not in said and "]" not in said, said
        assert "press q" in said.lower(), said
        assert app.is_running  # Ctrl+C does not quit

    drive(app, scenario)
