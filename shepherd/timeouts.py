"""Waiting with a time limit, without losing a cancel.

Python 3.11's ``asyncio.wait_for`` returns the result when the task waiting is
cancelled in the same turn as the awaited thing finishes: the cancel is lost
(CPython gh-86296, fixed in 3.12), and a task that was told to end goes on. The
TUI hung that way on a crash (its daemon link, cancelled as an answer arrived,
reconnected forever), and a daemon's shutdown could have too. ``asyncio.timeout``
keeps the cancel; ``within`` is ``wait_for``'s shape on top of it. ``ruff`` bans
``asyncio.wait_for`` in ``shepherd/`` (pyproject.toml).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """Await it for at most ``seconds`` (``TimeoutError`` after); a cancel is never lost."""
    async with asyncio.timeout(seconds):
        return await awaitable
