"""A parent's action applied once, however often it is sent.

A client that gets no answer in time (the daemon stalled: a frozen store, a
``SIGSTOP``, a loaded machine) cannot know whether its grant was applied. It sends
an ``action_id`` with the action; the daemon remembers the recent ones and answers
a repeat of one with the first answer, applying nothing again. A repeat that
arrives while the first is still being applied waits for it. An action that failed
is forgotten, so it may be tried again (a failed action changed nothing: each is
persisted before it is applied, and an error means the persisting did not happen).

The memory lasts as long as the daemon process; ``instance`` names that process, so
a client can tell a restarted daemon (which would not know the id) from the one it
asked, and then checks instead of resending.
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


class OnceOnly:
    def __init__(self, remembered: int = REMEMBERED) -> None:
        self.instance = uuid.uuid4().hex
        self._remembered = remembered
        self._seen: OrderedDict[tuple[str, str, str], asyncio.Future[Any]] = OrderedDict()

    async def run(self, who: str, method: str, action_id: str | None,
                  apply: Callable[[], Awaitable[Any]]) -> Any:
        """``apply()``'s answer; for an id already seen from ``who``, its first answer."""
        if action_id is None:
            return await apply()
        key = (who, method, action_id)
        found = self._seen.get(key)
        if found is None:
            found = asyncio.ensure_future(apply())
            self._seen[key] = found
            found.add_done_callback(lambda f: self._settled(key, f))
            while len(self._seen) > self._remembered:
                self._seen.popitem(last=False)
        return await asyncio.shield(found)  # a caller gone does not cancel the action

    def _settled(self, key: tuple[str, str, str], done: asyncio.Future[Any]) -> None:
        failed = done.cancelled() or done.exception() is not None
        if failed and self._seen.get(key) is done:
            del self._seen[key]
