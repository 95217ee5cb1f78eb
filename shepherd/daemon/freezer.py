"""A paused session's programs frozen while its child is away (rule 12, ``while_paused``).

The engine decides when a session is paused; the daemon says here what each
session should be (frozen or not), and this module has the backend carry it out,
one change at a time per session, off the loop's critical path (a freeze is
done once the kernel says every program is frozen). What it cannot carry out is
reported to ``on_failed`` with why and since when the programs ran: the daemon
then bills that time (fail closed) and says so. Three ways to fail:

- the backend cannot freeze at all (process trees: a child could send SIGCONT),
  or the kernel or systemd refused;
- not every program was frozen in time (``FREEZE_TIMEOUT_S`` of the backend);
- someone thawed the session behind the daemon's back while it was paused.

Nothing here decides about time; nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from shepherd.supervisor import LaunchBackend

log = logging.getLogger("shepherd.daemon")

THAWED_BEHIND = "its programs were thawed by someone else while its clock was paused"


class Freezer:
    def __init__(self, backend: LaunchBackend,
                 on_failed: Callable[[int, str, bool], None]) -> None:
        self._backend = backend
        self._on_failed = on_failed  # (session, why, ran only from now on: else all the pause)
        self._wanted: dict[int, bool] = {}
        self._held: dict[int, bool] = {}  # what the backend carried out
        self._workers: dict[int, asyncio.Task[None]] = {}
        self.problems: dict[int, str] = {}  # why a session could not be kept frozen

    def want(self, session_id: int, frozen: bool) -> None:
        """The session should be frozen (its clock paused) or running (billed, or stopping)."""
        self._wanted[session_id] = frozen
        if session_id not in self._workers:
            self._workers[session_id] = asyncio.ensure_future(self._work(session_id))

    def frozen(self, session_id: int) -> bool:
        """Is the session frozen now (as far as the backend said)?"""
        return self._held.get(session_id, False)

    def frozen_ids(self) -> set[int]:
        return {sid for sid, held in self._held.items() if held}

    def forget(self, session_id: int) -> None:
        """The session is over (its stop thawed it first: the backend's own rule)."""
        self._wanted.pop(session_id, None)
        self._held.pop(session_id, None)
        self.problems.pop(session_id, None)

    async def _work(self, session_id: int) -> None:
        """Until the session is as wanted. The worker leaves ``_workers`` in the very step
        in which it last looked at ``_wanted`` (not in a done callback, a loop turn later:
        a wish made in between found a worker that had finished, and was never carried
        out: an unlock's thaw lost, the game frozen while billed)."""
        try:
            await self._carry_out(session_id)
        finally:
            self._workers.pop(session_id, None)

    async def _carry_out(self, session_id: int) -> None:
        while True:
            wanted = self._wanted.get(session_id)
            if wanted is None or wanted == self._held.get(session_id, False):
                return
            if not wanted:
                try:
                    await self._backend.thaw(session_id)
                except Exception:  # said; a stop thaws again before its SIGTERM
                    log.exception("session %d: thawing failed", session_id)
                self._held[session_id] = False
                continue
            try:
                problem = await self._backend.freeze(session_id, self._thawed_behind)
            except Exception as exc:  # never left believing it froze: counted instead
                log.exception("session %d: freezing failed", session_id)
                problem = f"freezing failed ({exc})"
            if session_id not in self._wanted:  # ended meanwhile
                return
            if problem is None:
                self._held[session_id] = True
                continue
            self._held[session_id] = False
            self._wanted[session_id] = False
            self.problems[session_id] = problem
            self._on_failed(session_id, problem, False)

    def _thawed_behind(self, session_id: int) -> None:
        if not self._held.get(session_id, False):
            return
        self._held[session_id] = False
        self._wanted[session_id] = False
        self.problems[session_id] = THAWED_BEHIND
        self._on_failed(session_id, THAWED_BEHIND, True)
