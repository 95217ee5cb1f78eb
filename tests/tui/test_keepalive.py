"""A daemon that freezes while nothing happens is seen within seconds: the quiet
connection is asked ``hello`` now and then, and the banner says it stopped answering."""

from __future__ import annotations

import signal
from typing import Any

from textual.pilot import Pilot

from shepherd.tui.app import ShepherdApp
from shepherd.tui.widgets.banner import ConnectionBanner
from tests.daemon.conftest import policy
from tests.tui.conftest import NAP, drive, screen_text, wait_for


def test_a_daemon_frozen_while_the_screen_is_idle_shows_the_banner_then_recovers(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    app = ShepherdApp(d.socket)
    app.link.keepalive, app.link.keepalive_timeout = 1.0, 2.0  # 3 s and 5 s for real

    async def scenario(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.status is not None, "the first picture")
        banner = app.screen.query_one(ConnectionBanner)
        await pilot.pause(2.5)  # quiet, and answering: no banner
        assert not banner.display, screen_text(app)
        assert d.process is not None
        d.process.send_signal(signal.SIGSTOP)
        try:
            await wait_for(pilot, lambda: banner.display, "the banner while nothing happens")
            await wait_for(pilot, lambda: "stopped answering" in screen_text(app),
                           "the reason in words")
            # Review 11 s7 D7: "cannot be reached: it stopped answering: nothing came..."
            said = app.state.problem or ""
            assert "cannot be reached: it stopped answering (nothing came in" in said, said
            assert said.count(":") == 1, said
        finally:
            d.process.send_signal(signal.SIGCONT)
        await wait_for(pilot, lambda: not banner.display and app.state.connected,
                       "the connection back", timeout=60)

    drive(app, scenario)
