"""A parent's action applied once, however often it is sent.

A client that gets no answer in time (the daemon stalled: a frozen store, a
``SIGSTOP``, a loaded machine) cannot know whether its grant was applied. It sends
an ``action_id`` with the action; the daemon remembers the recent ones and answers
a repeat of one with the first answer, applying nothing again. A repeat that
arrives while the first is still being applied waits for it. An action that failed
is forgotten, so it may be tried again (a failed action changed nothing: each is
persisted before it is applied, and an error means the persisting did not happen).

The memory lasts as long as the daemon process; beyond it (a restart), the action's
record in the store holds its id, and ``recorded`` looks there before anything is
applied: an id found is refused as done already (``AlreadyDone``), never done again.
``instance`` names the daemon process, so a client can tell a restarted daemon.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

ACTION_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
REMEMBERED = 512  # far more than a household's parents act in a daemon's stall


class AlreadyDone(Exception):
    """The store holds this action_id: it was done before (by an earlier daemon)."""

    def __init__(self, when: str) -> None:
        super().__init__(when)
        self.when = when


Recorded = Callable[[], Awaitable[str | None]]  # when the store says it was done, else None


class OnceOnly:
    def __init__(self, remembered: int = REMEMBERED) -> None:
        self.instance = uuid.uuid4().hex
        self._remembered = remembered
        self._seen: OrderedDict[tuple[str, str, str], asyncio.Future[Any]] = OrderedDict()

    async def run(self, who: str, method: str, action_id: str | None,
                  apply: Callable[[], Awaitable[Any]], recorded: Recorded | None = None) -> Any:
        """``apply()``'s answer; for an id already seen from ``who``, its first answer;
        for one the store holds (``recorded``), ``AlreadyDone``."""
        if action_id is None:
            return await apply()
        key = (who, method, action_id)
        found = self._seen.get(key)
        if found is None:
            async def first() -> Any:
                when = await recorded() if recorded is not None else None
                if when is not None:
                    raise AlreadyDone(when)
                return await apply()

            found = asyncio.ensure_future(first())
            self._seen[key] = found
            found.add_done_callback(lambda f: self._settled(key, f))
            while len(self._seen) > self._remembered:
                self._seen.popitem(last=False)
        return await asyncio.shield(found)  # a caller gone does not cancel the action

    def _settled(self, key: tuple[str, str, str], done: asyncio.Future[Any]) -> None:
        failed = done.cancelled() or done.exception() is not None
        if failed and self._seen.get(key) is done:
            del self._seen[key]
