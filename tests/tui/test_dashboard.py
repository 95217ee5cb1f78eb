"""The parent's TUI, driven with Pilot against a real user-mode daemon."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot

from shepherd.ipc.protocol import RpcError
from shepherd.localtime import local_zone
from shepherd.tui.app import ShepherdApp
from shepherd.tui.screens.audit import AuditScreen
from shepherd.tui.screens.confirm import ConfirmScreen
from shepherd.tui.widgets.audit_table import AuditTable
from shepherd.tui.widgets.banner import ConnectionBanner
from shepherd.tui.widgets.entry_table import EntryTable
from shepherd.tui.widgets.request_list import RequestList
from shepherd.tui.widgets.session_list import SessionList
from shepherd.words import at_moment
from tests.daemon.conftest import FAR_DAY_START, ME, policy
from tests.tui.conftest import (
    NAP,
    cells,
    clock_seconds,
    confirm_shown,
    drive,
    first_table,
    nap,
    screen_text,
    shepherd_cli,
    wait_for,
)

NEVER = """
[[entries]]
id = "never"
label = "Never"
command = ["sleep", "600"]
limits = { max_run = 0 }
"""


def test_a_session_launched_from_the_cli_appears_and_counts_down_without_asking(
        daemon_factory: Any) -> None:
    # The quota day starts twelve hours away: the ten minutes are the session's own
    # (just before the day starts, the next day's ten minutes would follow them).
    d = daemon_factory(policy(NAP, FAR_DAY_START))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.status is not None, "the first picture")
        launched = shepherd_cli(d.socket, "launch", "nap")
        assert launched.returncode == 0, launched.stderr
        sessions = app.screen.query_one(SessionList)
        await wait_for(pilot, lambda: sessions.row_count == 1, "the session in the list")
        first = cells(sessions, "left")[0]
        assert 590 <= clock_seconds(first) <= 600
        pictures = app.state.pictures
        await wait_for(pilot, lambda: cells(sessions, "left")[0] != first, "the countdown tick")
        assert clock_seconds(cells(sessions, "left")[0]) < clock_seconds(first)
        assert app.state.pictures == pictures  # ticked locally, no status call
        assert "Nap" in screen_text(app) and "running" in screen_text(app)

    drive(app, scenario)


def test_granting_from_the_tui_moves_the_deadline_in_the_daemon(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP, FAR_DAY_START))  # today's 30 minutes fit in today
    d.call("launch", entry="nap")
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query(EntryTable), "the child's entries")
        table = app.screen.query(EntryTable).first()
        await wait_for(pilot, lambda: table.row_count == 1, "the entry row")
        table.focus()
        await pilot.press("g")
        await wait_for(pilot, lambda: "Time for" in screen_text(app), "the grant form")
        await pilot.press("backspace", "backspace", "backspace", "2", "0", "m", "enter")
        await confirm_shown(pilot, f"Give {ME} 20 more minutes of Nap today?")
        await pilot.press("y")
        await wait_for(pilot, lambda: d.call("status")["sessions"][0]["remaining_s"] > 1500,
                       "the deadline moved in the daemon")

    drive(app, scenario)
    session = d.call("status")["sessions"][0]
    assert 1700 < session["remaining_s"] <= 1800  # 10m quota + 20m granted, a little used


def test_a_grant_can_take_time_back_and_says_so_first(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query(EntryTable)
                       and app.screen.query(EntryTable).first().row_count, "the entries")
        app.screen.query(EntryTable).first().focus()
        await pilot.press("g")
        await wait_for(pilot, lambda: "Time for" in screen_text(app), "the grant form")
        await pilot.press("backspace", "backspace", "backspace", *"-4m", "enter")
        await confirm_shown(pilot, f"Take 4 minutes of Nap back from {ME} for today?")
        await pilot.press("y")
        await wait_for(pilot, lambda: d.call("status")["users"][0]["entries"][0]
                       ["quota_today_s"] == 360, "today's Nap down to 6m")

    drive(app, scenario)


def test_a_grant_for_the_week_says_so_first_and_the_daemon_keeps_it(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query(EntryTable)
                       and app.screen.query(EntryTable).first().row_count, "the entries")
        app.screen.query(EntryTable).first().focus()
        await pilot.press("g")
        await wait_for(pilot, lambda: "Time for" in screen_text(app), "the grant form")
        await pilot.press("tab", *["backspace"] * 5, *"soon", "enter")
        await wait_for(pilot, lambda: "Write today, week or a time" in screen_text(app),
                       "the problem with 'soon'")
        await pilot.press(*["backspace"] * 4, *"week", "enter")
        await confirm_shown(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question == (f"Give {ME} 15 more minutes of Nap this week, to use "
                                       "on any day until the week ends?")
        await wait_for(pilot, lambda: "this week" in screen_text(app), "the question shown")
        await pilot.press("y")
        await wait_for(pilot, lambda: d.call("status")["users"][0]["entries"][0]
                       ["quota_today_s"] == 1500, "today's Nap up to 25m")

    drive(app, scenario)
    granted = d.call("audit.query", types=["time_granted"])["events"][0]["data"]
    assert granted["week"] is True and granted["expires_at"]


def test_a_childs_request_appears_and_approving_it_reaches_the_daemon(
        daemon_factory: Any) -> None:
    # The quota day starts twelve hours away: the ten minutes are the session's own
    # (just before the day starts, the next day's ten minutes would follow them).
    d = daemon_factory(policy(NAP, FAR_DAY_START))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.status is not None, "the first picture")
        asked = shepherd_cli(d.socket, "request", "nap", "5m", "--note", "boss fight")
        assert asked.returncode == 0, asked.stderr
        requests = app.screen.query_one(RequestList)
        await wait_for(pilot, lambda: requests.row_count == 1, "the request")
        assert "boss fight" in cells(requests, "note")[0]
        assert any("asks for 5m more of Nap" in str(n.message) for n in app._notifications)
        await pilot.press("a")  # two keys: approve, then yes
        await confirm_shown(pilot, f"Give {ME} 5 more minutes of Nap today?")
        assert "boss fight" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: not d.call("requests"), "the request answered")
        await wait_for(pilot, lambda: requests.row_count == 0, "the request gone from the list")

    drive(app, scenario)
    entry = d.call("status")["users"][0]["entries"][0]
    assert entry["quota_today_s"] == 900  # 10m + the 5m approved
    answered = [t for t in d.audit_types() if t == "request_answered"]
    assert answered == ["request_answered"]


def test_an_audit_filter_narrows_the_rows(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP + NEVER))
    for _ in range(2):
        with pytest.raises(RpcError):
            d.call("launch", entry="never")
    d.call("launch", entry="nap")
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.connected, "the connection")
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen), "the audit view")
        table = app.screen.query_one(AuditTable)
        await wait_for(pilot, lambda: table.row_count >= 4, "the audit rows")
        everything = table.row_count
        await pilot.press("slash", *"denied", "enter")  # free text
        await wait_for(pilot, lambda: table.row_count < everything, "fewer rows")
        # The second, identical refusal is counted into the first's row (refuse12): one row.
        assert cells(table, "type") == ["launch denied"]
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: table.row_count >= everything, "every row again")
        everything = table.row_count  # (more, if something happened meanwhile)
        app.screen.query_one("#entry").focus()
        await pilot.press(*"nap", "enter")  # one entry
        await wait_for(pilot, lambda: table.row_count < everything, "fewer rows")
        assert "session started" in cells(table, "type")
        assert set(cells(table, "type")) <= {"session started", "session ended"}

    drive(app, scenario, size=(120, 40))


def test_a_killed_and_restarted_daemon_is_reconnected(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.status is not None, "the first picture")
        banner = app.screen.query_one(ConnectionBanner)
        assert not banner.display
        d.kill9()
        await wait_for(pilot, lambda: banner.display, "the banner")
        # (drawn at the next refresh: on a loaded machine, after ``display`` is set)
        await wait_for(pilot, lambda: "daemon cannot be reached" in screen_text(app),
                       "the banner's words")
        d.start()
        d.call("launch", entry="nap")
        await wait_for(pilot, lambda: not banner.display and app.state.connected,
                       "the connection back", timeout=40)
        sessions = app.screen.query_one(SessionList)
        await wait_for(pilot, lambda: sessions.row_count == 1, "the new session")

    drive(app, scenario)


def test_lock_and_stop_from_the_keys_reach_the_daemon(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    d.call("launch", entry="nap")
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        sessions = app.screen.query_one(SessionList)
        await wait_for(pilot, lambda: sessions.row_count == 1, "the running session")
        await pilot.press("s")  # the only session
        await confirm_shown(pilot, "Stop", "Nap now?")
        await pilot.press("y")
        await wait_for(pilot, lambda: not d.call("status")["sessions"], "the session stopped")
        await pilot.press("l")
        await confirm_shown(pilot, f"Lock {ME}?")
        await pilot.press("y")
        await wait_for(pilot, lambda: d.call("status")["users"][0]["locked"], "the lock")
        await wait_for(pilot, lambda: "LOCKED" in screen_text(app), "the lock on screen")

    drive(app, scenario)
    assert "stopped_by_admin" in str(d.call("audit.query", types=["session_ended"])["events"])


def test_a_rejected_reload_from_the_palette_shows_its_errors(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.status is not None, "the first picture")
        d.policy_path.write_text(d.policy_path.read_text().replace('"10m"', '"ten minutes"'))
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"Reload policy")

        def found() -> bool:  # the search is done and has chosen its first match
            hits = app.screen.query(CommandList)
            return bool(hits) and hits.first().option_count > 0 \
                and hits.first().highlighted is not None

        await wait_for(pilot, found, "the command found")
        await pilot.press("enter")
        await confirm_shown(pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: app.state.status is not None
                       and app.state.status.get("policy_rejected"), "the rejection")
        await pilot.press("4")
        # The box comes with the status; its lines with the policy's text, read after it.
        # (words compared across line ends: where the box wraps depends on the path's length)
        await wait_for(pilot, lambda: "The last reload was rejected" in screen_text(app)
                       and "ten minutes" in " ".join(screen_text(app).split()),
                       "the errors in the policy view")

    drive(app, scenario, size=(120, 40))
    assert "policy_rejected" in d.audit_types()


def test_extend_and_end_a_rest_from_the_keys_reach_the_daemon(daemon_factory: Any) -> None:
    d = daemon_factory(policy("""
[[entries]]
id = "nap"
label = "Nap"
command = ["sleep", "600"]
limits = { max_run = "10m", cooldown = "1h" }

[[entries]]
id = "rest"
label = "Rest"
command = ["sleep", "600"]
limits = { cooldown = "1h" }
""", users="max_sessions = 2"))
    rested = d.call("launch", entry="rest")
    d.call("stop", session_id=rested["session_id"])
    d.call("launch", entry="nap")
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        sessions = app.screen.query_one(SessionList)
        await wait_for(pilot, lambda: sessions.row_count == 1, "the running session")
        await pilot.press("e")  # the only session; 15m is offered
        await wait_for(pilot, lambda: "Extend" in screen_text(app), "the form")
        await pilot.press("enter")
        await confirm_shown(pilot, "by 15m")
        await pilot.press("y")
        await wait_for(pilot, lambda: d.call("status")["sessions"][0]["remaining_s"] > 1200,
                       "the session extended in the daemon")
        table = app.screen.query(EntryTable).first()
        table.focus()
        table.select_key("rest")
        await pilot.press("c")
        await confirm_shown(pilot, "rest after Rest")
        await pilot.press("y")
        await wait_for(pilot, lambda: next(e for e in d.call("status")["users"][0]["entries"]
                                           if e["id"] == "rest")["cooldown_until"] is None,
                       "the rest ended in the daemon")

    drive(app, scenario)


def test_a_childs_note_that_looks_like_markup_is_shown_as_written_and_ends_nothing(
        daemon_factory: Any) -> None:
    # A clever child's note: Rich markup that is not balanced. It used to end the
    # parent's TUI when the notice came, and again when the parent pressed a.
    note = "please [/] thanks [b]"
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.status is not None, "the first picture")
        asked = shepherd_cli(d.socket, "request", "nap", "5m", "--note", note)
        assert asked.returncode == 0, asked.stderr
        requests = app.screen.query_one(RequestList)
        await wait_for(pilot, lambda: requests.row_count == 1, "the request")
        await wait_for(pilot, lambda: any(note in str(n.message) for n in app._notifications),
                       "the notice, as written")
        await pilot.press("a")
        await confirm_shown(pilot, note)
        await pilot.press("y")
        await wait_for(pilot, lambda: not d.call("requests"), "the request answered")

    drive(app, scenario)
    assert d.call("status")["users"][0]["entries"][0]["quota_today_s"] == 900


def test_a_childs_note_with_escape_sequences_is_shown_never_obeyed(daemon_factory: Any) -> None:
    """Review 11 #3: a note that would retitle, clear and recolour the parent's terminal
    reaches the TUI as visible text (\\x1b...), in the list and in the notice."""
    note = "hi \x1b]0;PWNED\x07\x1b[2J\x1b[31mRED\rOVER"
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.status is not None, "the first picture")
        asked = shepherd_cli(d.socket, "request", "nap", "5m", "--note", note)
        assert asked.returncode == 0, asked.stderr
        requests = app.screen.query_one(RequestList)
        await wait_for(pilot, lambda: requests.row_count == 1, "the request")
        await wait_for(pilot, lambda: any("PWNED" in str(n.message)
                                          for n in app._notifications), "the notice")
        told = [str(n.message) for n in app._notifications]
        assert all("\x1b" not in t and "\r" not in t and "\x07" not in t for t in told)
        assert any("hi \\x1b]0;PWNED\\x07" in t for t in told)
        shown = cells(requests, "note")[0]
        assert "\x1b" not in shown and shown.startswith("hi \\x1b]0;PWNED")

    drive(app, scenario)


def test_the_tui_asks_about_a_grant_in_the_words_shepherd_grant_answers_with(
        daemon_factory: Any) -> None:
    """Review 12 F1: the CLI and the TUI say the same thing about what still limits an
    entry: one renderer (shepherd.words.grants) for the question, the answer and
    `shepherd grant`."""
    d = daemon_factory(policy(NAP + '[[groups]]\nid = "naps"\nentries = ["nap"]\n'
                                    'daily_quota = "15m"\n'))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.screen.query(EntryTable)
                       and app.screen.query(EntryTable).first().row_count, "the entries")
        app.screen.query(EntryTable).first().focus()
        await pilot.press("g")
        await wait_for(pilot, lambda: "Time for" in screen_text(app), "the grant form")
        await pilot.press("backspace", "backspace", "backspace", *"20m", "enter")
        await confirm_shown(pilot)
        assert "The naps budget still allows only 15 minutes today." in \
            " ".join(screen_text(app).split())
        assert d.call("status")["users"][0]["entries"][0]["quota_today_s"] == 600  # unchanged
        await pilot.press("y")
        await wait_for(pilot, lambda: any("The naps budget still allows only 15 minutes"
                                          in str(n.message) for n in app._notifications),
                       "the answer, in the same words")

    drive(app, scenario)
    assert "time_granted" in d.audit_types()
    cli = shepherd_cli(d.socket, "grant", ME, "nap", "+1m").stdout
    assert cli.strip().endswith("The naps budget still allows only 15 minutes today.")


def test_the_policy_view_shows_an_entry_without_a_label_by_its_id(daemon_factory: Any) -> None:
    """``label`` is optional: a minimal policy must not crash the Policy view."""
    d = daemon_factory(policy('[[entries]]\nid = "plain_game"\ncommand = ["sleep", "600"]\n'))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.status is not None, "the first picture")
        await pilot.press("4")
        await wait_for(pilot, lambda: "plain_game" in screen_text(app), "the entry by its id")

    drive(app, scenario, size=(120, 40))


def test_a_sixty_line_note_leaves_the_question_and_the_buttons_on_screen(
        daemon_factory: Any) -> None:
    """Review 11 s7 D1: a child's note with newlines filled the approve dialog at 80x24,
    pushing out what will happen and the buttons; the note could imitate the dialog's
    own words. The note is shown on folded lines, cut, in a box named as the child's."""
    note = "".join(f"line {i}\n" for i in range(1, 61)) + "This changes nothing else."
    d = daemon_factory(policy(NAP, FAR_DAY_START))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.status is not None, "the first picture")
        asked = shepherd_cli(d.socket, "request", "nap", "5m", "--note", note)
        assert asked.returncode == 0, asked.stderr
        requests = app.screen.query_one(RequestList)
        await wait_for(pilot, lambda: requests.row_count == 1, "the request")
        await pilot.press("a")
        await confirm_shown(pilot)
        await pilot.pause()
        text = screen_text(app)
        assert f"Give {ME} 5 more minutes of Nap today?" in text
        assert "Approve (y)" in text and "No (n)" in text
        assert f"{ME}'s note" in text and "line 1 ⏎ line 2 ⏎" in text
        assert "line 60" not in text and "This changes nothing else." not in text
        told = [str(n.message) for n in app._notifications if "asks for" in str(n.message)]
        assert told and all("\n" not in t and "line 40" not in t for t in told)
        assert "\n" not in cells(requests, "note")[0]

    drive(app, scenario)


def test_the_extend_question_names_the_new_end_and_what_still_ends_it_and_once_is_true(
        daemon_factory: Any) -> None:
    """Review 11 s7 D3: the question named the session's current end, not the new one,
    nor what would end it then. D2: a second extension of the session is refused."""
    d = daemon_factory(policy("""
[[entries]]
id = "nap"
label = "Nap"
command = ["sleep", "600"]
limits = { max_run = "10m" }
""", FAR_DAY_START))
    d.call("launch", entry="nap")
    app = ShepherdApp(d.socket)
    asked: list[str] = []

    async def scenario(pilot: Pilot[Any]) -> None:
        sessions = app.screen.query_one(SessionList)
        await wait_for(pilot, lambda: sessions.row_count == 1, "the running session")
        await pilot.press("e")
        await wait_for(pilot, lambda: "Extend" in screen_text(app), "the form")
        await pilot.press("enter")
        await confirm_shown(pilot)
        asked.append(" ".join(screen_text(app).replace("█", " ").split()))
        await pilot.press("y")
        await wait_for(pilot, lambda: d.call("status")["sessions"][0]["remaining_s"] > 1200,
                       "the session extended in the daemon")
        await pilot.press("e")
        await wait_for(pilot, lambda: "Extend" in screen_text(app), "the form again")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("already extended once" in str(n.message)
                                          for n in app._notifications), "the refusal")
        assert not isinstance(app.screen, ConfirmScreen)

    drive(app, scenario)
    deadline = datetime.fromisoformat(d.call("status")["sessions"][0]["deadline"])
    end = at_moment(deadline, datetime.now(local_zone()), local_zone(), up=False)
    assert (f"It would then end {end}, when its session limit and the extra 15 minutes "
            "are used up") in asked[0], asked[0]
    assert d.audit_types().count("session_extended") == 1


def question_over_the_session(d: Any, key: str) -> str:
    """What the question ``key`` asks about the one running session says (answered no)."""
    app = ShepherdApp(d.socket)
    asked: list[str] = []

    async def scenario(pilot: Pilot[Any]) -> None:
        sessions = app.screen.query_one(SessionList)
        await wait_for(pilot, lambda: sessions.row_count == 1, "the running session")
        await pilot.press(key)
        await confirm_shown(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        asked.append(app.screen.detail)
        await pilot.press("n")

    drive(app, scenario)
    [detail] = asked
    return detail


def test_the_lock_question_says_the_running_session_in_words(daemon_factory: Any) -> None:
    """Review 11 s7 D6: "This stops 1 running session(s) now" was not a sentence."""
    d = daemon_factory(policy(NAP, FAR_DAY_START))
    d.call("launch", entry="nap")
    assert question_over_the_session(d, "l") == (
        "This stops its running session now, and nothing may start until you unlock.")


def test_the_stop_question_says_the_rest_that_follows(daemon_factory: Any) -> None:
    """Review 11 s7 D9: "Stop alex's Nap now? It has 22:40 left." did not say that a
    one-hour rest (cooldown) follows the stop."""
    d = daemon_factory(policy(nap('daily_quota = "10m", cooldown = "1h"'), FAR_DAY_START))
    d.call("launch", entry="nap")
    detail = question_over_the_session(d, "s")
    assert detail.endswith("left. Then Nap rests for 1 hour before it can start again."), detail


def test_a_household_whose_status_is_over_64_kib_gets_its_dashboard(daemon_factory: Any) -> None:
    # The daemon's answer is read whole however large (up to its own bound); the TUI
    # once waited for it forever, reconnecting, as asyncio's 64 KiB line limit broke
    # the connection on every status.
    from tests.ipc.test_large_answer import many_entries
    d = daemon_factory(policy(many_entries(400)))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await first_table(pilot, 400)

    drive(app, scenario)
