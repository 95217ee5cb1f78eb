"""Active time in a household: a session paused on one machine spends nothing elsewhere.

The laptop's daemon sees the child's screen through a fake logind on a private bus;
the desktop's sees none (it counts running time). A lock on the laptop pauses its
session (rule 12), and the household hears it at once: the desktop's session, which
shares the group's budget with it, gets the whole of what is left while the laptop's
stands still, and shares it again when the child is back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.daemon.conftest import wait_for
from tests.presence.bus import FakeLogind, PrivateBus

UID = os.getuid()
GAMES = """
[[entries]]
id = "minecraft"
command = ["sleep", "600"]
[[entries]]
id = "celeste"
command = ["sleep", "600"]
[[groups]]
id = "games"
entries = ["minecraft", "celeste"]
daily_quota = "1h"
"""


@pytest.fixture
def bus() -> Iterator[PrivateBus]:
    private = PrivateBus()
    yield private
    private.close()


@pytest.fixture
def logind(bus: PrivateBus) -> Iterator[FakeLogind]:
    fake = FakeLogind(bus)
    yield fake
    fake.close()


def session(daemon: Any, machine: str) -> dict[str, Any] | None:
    return next((s for s in daemon.call("status")["sessions"] if s["machine"] == machine),
                None)


def test_a_session_paused_on_one_machine_gives_the_shared_budget_to_the_other(
        household: Any, bus: PrivateBus, logind: FakeLogind) -> None:
    logind.do(f"new 1 {UID}")
    laptop, desktop = household(GAMES, users="max_sessions = 2",
                                envs={"laptop": bus.env()})
    laptop.call("launch", entry="minecraft")
    wait_for(lambda: session(desktop, "laptop"), what="the desktop seeing the laptop's game")
    mine = desktop.call("launch", entry="celeste")
    assert mine["remaining_s"] < 1810  # the group's hour, shared by two sessions
    logind.do("lock 1")
    # The desktop hears the pause: the laptop's session shown paused, and its own session
    # gets what is left of the hour (the paused one spends none of it).
    there = wait_for(lambda: (s := session(desktop, "laptop")) and s["paused"] and s,
                     what="the desktop seeing the laptop's session paused")
    assert there["paused"]["cause"] == "locked" and there["deadline"] is None
    wait_for(lambda: session(desktop, "desktop")["remaining_s"] > 3000,  # type: ignore[index]
             what="the desktop's session getting the whole group")
    assert laptop.call("status")["sessions"][0]["paused"]["cause"] == "locked"
    # Still a session: max_sessions counts it on every machine.
    assert len(desktop.call("status")["sessions"]) == 2
    logind.do("unlock 1")
    wait_for(lambda: (s := session(desktop, "laptop")) and s["paused"] is None,
             what="the desktop hearing the laptop's session resume")
    wait_for(lambda: session(desktop, "desktop")["remaining_s"] < 1810,  # type: ignore[index]
             what="the group shared by two again")
    laptop.call("stop")
    desktop.call("stop")
