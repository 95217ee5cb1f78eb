"""A form shown again (it is kept, not made anew) starts blank, as a new one would."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from shepherd.tui.app import ShepherdApp
from shepherd.tui.screens.ask import AskScreen
from shepherd.tui.screens.confirm import ConfirmScreen
from shepherd.tui.widgets.entry_table import EntryTable
from tests.daemon.conftest import policy
from tests.tui.conftest import NAP, confirm_shown, drive, screen_text, wait_for


def test_the_grant_form_opened_again_has_nothing_of_the_last_answer(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query(EntryTable)
                       and app.screen.query(EntryTable).first().row_count, "the entries")
        app.screen.query(EntryTable).first().focus()
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen), "the grant form")
        first = app.screen
        await pilot.press("backspace", "backspace", "backspace", *"bad")
        await pilot.press("tab", *"week")  # how long it lasts
        await pilot.press("tab", *"a reason")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "not a duration" in screen_text(app), "the problem")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, AskScreen), "the form closed")
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen), "the form again")
        assert app.screen is first  # kept, not made anew
        assert app.screen.query_one("#duration", Input).value == "15m"
        assert app.screen.query_one("#text", Input).value == ""
        assert app.screen.query_one("#until", Input).value == "today"
        assert "not a duration" not in screen_text(app)
        assert app.screen.focused is app.screen.query_one("#duration", Input)
        await pilot.press("enter")
        await confirm_shown(pilot, "15 more minutes of Nap")

    drive(app, scenario)


def test_the_grant_forms_words_fit_80_columns(daemon_factory: Any) -> None:
    """Review 11 s6 F9: the label read "… =1h sets today's tota" at 80 columns."""
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query(EntryTable)
                       and app.screen.query(EntryTable).first().row_count, "the entries")
        app.screen.query(EntryTable).first().focus()
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen), "the grant form")
        assert "=1h sets today's total" in screen_text(app), screen_text(app)

    drive(app, scenario, size=(80, 24))


def test_a_grant_until_a_time_already_gone_is_refused_before_the_question(
        daemon_factory: Any) -> None:
    """Review 11 s7 D11: "Lasts: 05:00" at 05:11 was asked as a question and refused by
    the daemon only after the yes. The day here began about 12 hours ago, so an hour ago
    is a time of today's quota day that has passed."""
    from datetime import datetime, timedelta

    from tests.daemon.conftest import FAR_DAY_START

    d = daemon_factory(policy(NAP, FAR_DAY_START))
    gone = f"{datetime.now() - timedelta(hours=1):%H:%M}"
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query(EntryTable)
                       and app.screen.query(EntryTable).first().row_count, "the entries")
        app.screen.query(EntryTable).first().focus()
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen), "the grant form")
        await pilot.press("tab", *("backspace",) * 5, *gone)
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("already passed" in str(n.message)
                                          for n in app._notifications), "the refusal")
        assert not isinstance(app.screen, ConfirmScreen)

    drive(app, scenario)
    assert "time_granted" not in d.audit_types()
