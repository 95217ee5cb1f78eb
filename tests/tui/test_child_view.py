"""A child who runs the TUI sees only their own entries, asks for more time, sees the answer.

The role must come from the kernel, so the TUI's connection is made by a real
process running as ``nobody`` (a child of the policy): it connects to the
daemon's socket and hands the connected socket back over SCM_RIGHTS. The daemon
reads ``SO_PEERCRED`` of that socket, which names the uid that called
``connect()``: nobody. Everything after that is the same app, driven with Pilot.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from shepherd.ipc.client import AsyncClient
from shepherd.tui.app import ShepherdApp
from shepherd.tui.widgets.entry_table import EntryTable
from tests.daemon.conftest import ME, policy
from tests.tui.conftest import cells, drive, screen_text, wait_for

OTHER_PYTHON = "/usr/bin/python3"  # the test's interpreter may sit where nobody cannot read
NOBODY = 65534
CONNECT_AS_CHILD = (
    "import socket, sys\n"
    "daemon = socket.socket(socket.AF_UNIX)\n"
    "daemon.connect(sys.argv[1])\n"
    "back = socket.socket(fileno=int(sys.argv[2]))\n"
    "socket.send_fds(back, [b'x'], [daemon.fileno()])\n"
)
ENTRIES = f"""
[[entries]]
id = "secret-of-{ME}"
label = "Only for {ME}"
command = ["sleep", "600"]
users = ["{ME}"]

[[entries]]
id = "drawing"
label = "Drawing"
command = ["sleep", "600"]
users = ["nobody"]
limits = {{ daily_quota = "30m" }}
"""


def child_opener(path: Path) -> Callable[..., Any]:
    async def open_as_nobody(on_notice: Any) -> AsyncClient:
        mine, theirs = socket.socketpair()
        with mine, theirs:
            run = await asyncio.to_thread(
                subprocess.run, [OTHER_PYTHON, "-c", CONNECT_AS_CHILD, str(path),
                                 str(theirs.fileno())],
                user=NOBODY, pass_fds=(theirs.fileno(),), cwd="/", capture_output=True)
            assert run.returncode == 0, run.stderr
            _, fds, _, _ = socket.recv_fds(mine, 1, 1)
        return await AsyncClient.open(path, on_notice, sock=socket.socket(fileno=fds[0]))
    return open_as_nobody


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another uid")
@pytest.mark.skipif(not os.access(OTHER_PYTHON, os.X_OK), reason="no system python3")
def test_the_childs_view_shows_only_their_own_and_the_answer_arrives(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(ENTRIES, users='[[users]]\nname = "nobody"\n'))
    os.chmod(d.socket, 0o666)
    os.chmod(d.socket.parent, 0o755)
    app = ShepherdApp(d.socket, opener=child_opener(d.socket))

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.current_mode == "child" and app.screen.query(EntryTable)
                       and app.screen.query(EntryTable).first().row_count, "the child's view")
        assert app.state.hello is not None and app.state.hello["role"] == "child"
        table = app.screen.query(EntryTable).first()
        assert cells(table, "entry") == ["Drawing"]
        text = screen_text(app)
        assert "Drawing" in text
        assert ME not in text.replace("nobody", "") and "Only for" not in text
        await pilot.press("2")  # a parent's view: refused, the child's view stays
        assert app.current_mode == "child"
        await pilot.press("r")
        await wait_for(pilot, lambda: "Ask a parent for more time" in screen_text(app), "the form")
        await pilot.press("backspace", "backspace", "backspace", "2", "0", "m", "tab",
                          *"please", "enter")
        await wait_for(pilot, lambda: d.call("requests"), "the request at the daemon")
        request = d.call("requests")[0]
        assert (request["user"], request["entry"], request["seconds"]) == \
            ("nobody", "drawing", 1200)
        # The daemon has it; the child's screen draws it when the daemon's news comes.
        await wait_for(pilot, lambda: "waiting for an answer" in screen_text(app),
                       "the request waiting on the child's screen")
        d.call("request.answer", request_id=request["id"], answer="approve")
        await wait_for(pilot, lambda: "Yes: 20m more of Drawing" in screen_text(app),
                       "the answer on the child's screen")

    drive(app, scenario)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another uid")
@pytest.mark.skipif(not os.access(OTHER_PYTHON, os.X_OK), reason="no system python3")
def test_a_yes_to_a_locked_child_under_a_budget_says_what_they_can_really_use(
        daemon_factory: Any) -> None:
    """Review 11 s6 F2: "Yes: you have 15m more" while locked, with 4 minutes of budget."""
    d = daemon_factory(policy(ENTRIES + '[[groups]]\nid = "screens"\nentries = ["drawing"]\n'
                              'daily_quota = "4m"\n', users='[[users]]\nname = "nobody"\n'))
    os.chmod(d.socket, 0o666)
    os.chmod(d.socket.parent, 0o755)
    d.call("lock", user="nobody")
    asked = d.call("request_time", user="nobody", entry="drawing", duration="15m")
    app = ShepherdApp(d.socket, opener=child_opener(d.socket))

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.current_mode == "child" and app.state.status,
                       "the child's view")
        d.call("request.answer", request_id=asked["request_id"], answer="approve")
        truth = ("But you are locked by a parent: you can use it only after they unlock you. "
                 "The screens budget still allows only 4 minutes today.")
        await wait_for(pilot, lambda: truth in " ".join(str(n.message)
                                                        for n in app._notifications),
                       "the whole answer in the toast")
        await wait_for(pilot, lambda: "you are locked by a parent" in " ".join(
            screen_text(app).split()), "the whole answer on the child's screen")

    drive(app, scenario)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another uid")
@pytest.mark.skipif(not os.access(OTHER_PYTHON, os.X_OK), reason="no system python3")
def test_a_request_made_elsewhere_shows_as_waiting_in_the_childs_view(
        daemon_factory: Any) -> None:
    """Review 11 s7 D10: a request made with `shepherd request` (not this TUI) was not
    shown as waiting in the child's view; only its answer was."""
    d = daemon_factory(policy(ENTRIES, users='[[users]]\nname = "nobody"\n'))
    os.chmod(d.socket, 0o666)
    os.chmod(d.socket.parent, 0o755)
    app = ShepherdApp(d.socket, opener=child_opener(d.socket))

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.current_mode == "child" and app.state.status,
                       "the child's view")
        d.call("request_time", user="nobody", entry="drawing", duration="10m")
        await wait_for(pilot, lambda: "You asked for 10m more of Drawing: waiting for an "
                       "answer." in " ".join(screen_text(app).split()),
                       "the request waiting on the child's screen")

    drive(app, scenario)
