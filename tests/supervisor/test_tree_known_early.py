"""Review 9-s9 L3: with the process-tree fallback (no cgroups) a session was unknown to the
backend until its start was confirmed on the loop, so a deadline that passed meanwhile
(the loop behind, under load) had no keeper: neither the alarm nor the guard's thread
signal a session the backend does not know. extend9 made a cgroup session known as soon
as its process exists; a keeper's session must be too, held through a pidfd.

Order, not time: the spawn's first wait is for the starter's report; while it waits, the
session must already be known, with its keeper's pidfd.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from shepherd.supervisor.account import Account
from shepherd.supervisor.direct import DirectBackend


def test_a_keepers_session_is_known_before_its_start_is_confirmed(tmp_path: Path) -> None:
    backend = DirectBackend(tmp_path / "logs", "t", use_cgroups=False)
    seen: dict[str, Any] = {}

    async def main() -> None:
        spawning = asyncio.ensure_future(backend.spawn(
            5, ["sleep", "60"], Account.current(), {}, lambda _: None))
        while not spawning.done() and 5 not in backend.sessions:
            await asyncio.sleep(0)
        seen["known_while_starting"] = not spawning.done()
        session = backend.sessions.get(5)
        seen["keeper"] = session.keeper if session is not None else None
        answer = await spawning
        assert answer["keeper"] > 0
        await backend.stop(5, 0.5)

    asyncio.run(main())
    assert seen["known_while_starting"], "the session was known only once its start was confirmed"
    assert seen["keeper"] is not None, "known, but without its keeper's pidfd"


def test_a_start_that_fails_leaves_no_session_and_no_descriptor(tmp_path: Path) -> None:
    backend = DirectBackend(tmp_path / "logs", "t", use_cgroups=False)
    before = set(os.listdir("/proc/self/fd"))

    async def main() -> None:
        try:
            await backend.spawn(6, ["/nonexistent/program"], Account.current(), {},
                                lambda _: None)
        except OSError:
            return
        raise AssertionError("a missing program was started")

    asyncio.run(main())
    assert 6 not in backend.sessions
    assert set(os.listdir("/proc/self/fd")) <= before
