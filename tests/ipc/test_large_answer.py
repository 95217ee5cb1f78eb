"""Answers over 64 KiB (a household with hundreds of entries) reach both clients whole.

The daemon bounds one answer at ``MAX_ANSWER`` bytes; the clients must read any line up
to that bound (the asyncio client once kept asyncio's 64 KiB reading limit, and the TUI
reconnected forever on a large ``status``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from shepherd.ipc.client import AsyncClient
from shepherd.ipc.protocol import MAX_ANSWER, MAX_LINE
from shepherd.ipc.server import MAX_UNSENT
from tests.daemon.conftest import policy


def many_entries(count: int) -> str:
    return "".join(
        f'\n[[entries]]\nid = "game{i:03}"\nlabel = "A game with quite a long name, number {i}"\n'
        f'command = ["sleep", "600"]\n'
        f'limits = {{ daily_quota = "1h", weekly_quota = "5h", max_run = "30m", '
        f'cooldown = "5m" }}\n'
        f'windows = [{{ days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], '
        f'start = "06:00", end = "21:00" }}]\n'
        for i in range(count))


def test_the_daemons_bound_on_an_answer_is_what_the_clients_read() -> None:
    assert MAX_UNSENT == MAX_ANSWER > MAX_LINE


def test_a_status_over_64_kib_reaches_the_async_client_and_the_sync_client(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(many_entries(450)))

    async def scenario() -> Any:
        client = await AsyncClient.open(d.socket)
        try:
            return await client.call("status")
        finally:
            await client.close()

    status = asyncio.run(scenario())
    size = len(json.dumps(status))
    assert size > 2 * MAX_LINE, size  # over 128 KiB: past both clients' old limits
    assert len(status["users"][0]["entries"]) == 450
    with d.client() as client:
        again = client.call("status")
    # The same entries, whole, through the sync client; a window's time left counts
    # down between the two calls (ci27b: 1778.626 s then a millisecond less).
    assert len(json.dumps(again)) > 2 * MAX_LINE
    assert [(e["id"], e["label"]) for e in again["users"][0]["entries"]] == [
        (e["id"], e["label"]) for e in status["users"][0]["entries"]]
