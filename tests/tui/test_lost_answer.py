"""An action sent, then the connection breaks before its answer: the daemon may have
done it. The TUI never says "Not done" then; it looks again when the daemon is back
and says what became of it."""

from __future__ import annotations

import json
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from shepherd.ipc.client import AsyncClient
from shepherd.tui.app import ShepherdApp
from shepherd.tui.widgets.session_list import SessionList
from tests.daemon.conftest import ME, policy
from tests.tui.conftest import NAP, confirm_shown, drive, screen_text, wait_for


def notices(app: Any) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


class CutAfter:
    """Opens the TUI's connections through a relay. The first call of ``method`` reaches
    the daemon and is done there; its answer is swallowed and the connection cut, as a
    network that drops, or a daemon that dies just after it acted."""

    def __init__(self, path: Path, method: str) -> None:
        self.path, self.method = path, method
        self.cut = threading.Event()
        self.armed = True

    async def __call__(self, on_notice: Any) -> AsyncClient:
        tui, mine = socket.socketpair()
        daemon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        daemon.connect(str(self.path))
        swallow: list[Any] = []
        armed, self.armed = self.armed, False

        def upstream() -> None:
            for line in mine.makefile("rb"):
                message = json.loads(line)
                if armed and message.get("method") == self.method and not swallow:
                    swallow.append(message["id"])
                daemon.sendall(line)

        def downstream() -> None:
            for line in daemon.makefile("rb"):
                if swallow and json.loads(line).get("id") == swallow[0]:
                    self.cut.set()  # done by the daemon; the TUI never hears of it
                    mine.shutdown(socket.SHUT_RDWR)
                    daemon.close()
                    return
                mine.sendall(line)

        for relay in (upstream, downstream):
            threading.Thread(target=relay, daemon=True).start()
        return await AsyncClient.open(self.path, on_notice, sock=tui)


def test_a_stop_whose_answer_is_lost_is_looked_up_when_the_daemon_is_back(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    d.call("launch", entry="nap")
    opener = CutAfter(d.socket, "stop")
    app = ShepherdApp(d.socket, opener=opener)

    async def scenario(pilot: Pilot[Any]) -> None:
        sessions = app.screen.query_one(SessionList)
        await wait_for(pilot, lambda: sessions.row_count == 1, "the running session")
        await pilot.press("s")
        await confirm_shown(pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: "connection to the daemon broke" in notices(app),
                       "the truth: it was sent, and may be done")
        assert opener.cut.is_set()
        assert "Not done" not in notices(app), notices(app)
        await wait_for(pilot, lambda: "It was stopped" in notices(app),
                       "what became of it, read from the daemon once it is back", timeout=40)
        assert "Not done" not in notices(app), notices(app)

    drive(app, scenario)
    assert not d.call("status")["sessions"]


def test_a_lock_sent_to_a_daemon_that_dies_before_reading_it_is_said_not_done(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.status is not None, "the first picture")
        await pilot.press("l")
        await confirm_shown(pilot)
        assert d.process is not None
        d.process.send_signal(signal.SIGSTOP)
        await pilot.press("y")  # sent: it waits, unread, in the frozen daemon's socket
        await wait_for(pilot, lambda: "Waiting for the daemon to answer" in screen_text(app),
                       "the action on its way")
        d.kill9()
        await wait_for(pilot, lambda: "connection to the daemon broke" in notices(app),
                       "the truth: it was sent, and may be done")
        assert "Not done" not in notices(app), notices(app)
        d.start()
        await wait_for(pilot, lambda: f"{ME} is still unlocked: it was not done" in
                       notices(app), "what became of it", timeout=40)

    drive(app, scenario)
    assert not d.call("status")["users"][0]["locked"]
