"""Issue 14, point 6: the wall clock jumps under a running daemon (libfaketime).

The daemon runs under ``libfaketime`` (Debian's ``faketime``) with its offset read
from a file at every call, so the test moves the daemon's wall clock while it
runs: forward 3 hours, back a day, forward two days, back again; the monotonic
and boot-time clocks stay real. With sessions running, each jump is noticed at
the next checkpoint and audited; usage is neither refunded nor added (it is
measured on the monotonic clock); the trusted clock does not follow an
unsynchronised jump, so a cooldown does not end and the day does not change,
until a parent runs ``clock accept``. The engine's side of the same rules is
proven with its injected clock (``tests/engine``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shepherd.daemon import system
from tests.daemon.conftest import policy

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
# The offset file's content: the daemon's wall clock against the real one.
JUMPS = ["+3h", "-1d", "+2d", "-2h"]

pytestmark = [
    pytest.mark.skipif(not LIBFAKETIME.exists(), reason="no libfaketime (apt-get install "
                       "faketime)"),
    pytest.mark.skipif(system.clock_synchronized(), reason="this machine's clock is "
                       "network-synchronised: the daemon follows its jumps by design"),
]


def entry(status: dict[str, Any], entry_id: str) -> dict[str, Any]:
    return next(e for e in status["users"][0]["entries"] if e["id"] == entry_id)


def wait_for_jumps(d: Any, count: int) -> list[dict[str, Any]]:
    end = time.monotonic() + 30
    while time.monotonic() < end:
        jumps = [j for j in d.audit("clock_jump") if "accepted_by" not in j]
        if len(jumps) >= count:
            return jumps
        time.sleep(0.2)
    raise AssertionError(f"jump {count} was never audited: {d.audit('clock_jump')}")


def test_wall_clock_jumps_refund_nothing_are_audited_and_wait_for_a_parent(
        daemon_factory: Any, tmp_path: Path, record: Any) -> None:
    offset = tmp_path / "offset"
    offset.write_text("+0\n")
    d = daemon_factory(policy("""
[[entries]]
id = "game"
command = ["sleep", "3600"]
limits = { daily_quota = "2h" }

[[entries]]
id = "short"
command = ["sleep", "3600"]
limits = { max_run = "1s", cooldown = "1h" }
""", users="max_sessions = 2"), env={
        "LD_PRELOAD": str(LIBFAKETIME), "FAKETIME_TIMESTAMP_FILE": str(offset),
        "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
    began = time.monotonic()
    game_session = d.call("launch", entry="game")["session_id"]
    d.call("launch", entry="short")
    end = time.monotonic() + 30
    while entry(d.call("status"), "short")["state"] != "cooldown" and time.monotonic() < end:
        time.sleep(0.1)
    day = d.call("status")["now"][:10]
    used = entry(d.call("status"), "game")["used_today_s"]
    problems: list[str] = []
    for n, text in enumerate(JUMPS, start=1):
        offset.write_text(text + "\n")
        jump = wait_for_jumps(d, n)[-1]
        if abs(jump["skew_s"]) < 3600 or jump["followed"]:
            problems.append(f"jump {text}: audited as {jump}")
        status = d.call("status")
        real = datetime.now(UTC)
        trusted = datetime.fromisoformat(status["now"])
        game, short = entry(status, "game"), entry(status, "short")
        ran = time.monotonic() - began
        if abs((trusted - real).total_seconds()) > 60:
            problems.append(f"jump {text}: the trusted clock followed it to {trusted}")
        if not status.get("clock_jump_pending"):
            problems.append(f"jump {text}: the parent is not asked to accept it")
        if game["used_today_s"] < used:
            problems.append(f"jump {text}: usage went back from {used} to {game['used_today_s']}")
        if game["used_today_s"] > ran + 1.5:
            problems.append(f"jump {text}: {game['used_today_s']}s used in {ran:.1f}s")
        if short["state"] != "cooldown":
            problems.append(f"jump {text}: the cooldown ended ({short['state']})")
        if status["now"][:10] != day:
            problems.append(f"jump {text}: the quota day moved to {status['now'][:10]}")
        used = game["used_today_s"]
    # The parent accepts a jump of two hours forward (three back, should two forward cross
    # into the next quota day: after 22:00 the day's use would then rightly read 0): now
    # the clock follows it.
    local_now = datetime.fromisoformat(d.call("status")["now"])
    hours = 2 if (local_now + timedelta(hours=2)).date() == local_now.date() else -3
    offset.write_text(f"{hours:+d}h\n")
    wait_for_jumps(d, len(JUMPS) + 1)
    accepted = d.call("clock.accept")
    trusted = datetime.fromisoformat(accepted["trusted_wall"])
    status = d.call("status")
    assert accepted["accepted"] is True
    assert abs((trusted - datetime.now(UTC) - timedelta(hours=hours)).total_seconds()) < 60
    assert not status.get("clock_jump_pending")
    assert entry(status, "game")["used_today_s"] >= used
    asked = time.monotonic() - began  # charged at least until the stop was asked ...
    d.call("stop")
    ran = time.monotonic() - began  # ... and never past its answer (a busy machine stops slowly)
    assert d.stop() == 0
    charged = sum(e["charged_s"] for e in d.audit("session_ended")
                  if e["session_id"] == game_session)
    record(jumps=len(JUMPS), audited=len(wait_for_jumps(d, len(JUMPS) + 1)),
           game_charged_s=round(charged, 2), game_ran_s=round(ran, 2), problems=len(problems))
    assert not problems, problems
    assert [j.get("accepted_by") for j in d.audit("clock_jump") if "accepted_by" in j] != []
    assert asked - 1.5 <= charged <= ran + 1.0, (charged, asked, ran)
