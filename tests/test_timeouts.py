"""A cancel that arrives as the awaited thing finishes is never lost (CPython gh-86296).

On Python 3.11 ``asyncio.wait_for`` returns the result then, and the task told to end
goes on: the crashed TUI's daemon link reconnected forever that way, so the TUI never
ended. ``within`` is what the code uses instead (ruff bans ``asyncio.wait_for``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from shepherd.timeouts import within


def cancelled_as_it_finishes(wait: Callable[[Awaitable[Any], float], Awaitable[Any]]) -> bool:
    """Whether a task waiting through ``wait`` ends cancelled when it is cancelled in the
    same turn as the future it waits for gets its result."""

    async def scenario() -> bool:
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def waiter() -> int:
            return await wait(answer, 10)

        task = asyncio.create_task(waiter())
        for _ in range(3):
            await asyncio.sleep(0)  # it is waiting now
        answer.set_result(1)
        task.cancel()
        await asyncio.wait({task}, timeout=5)
        return task.cancelled()

    return asyncio.run(scenario())


def test_within_keeps_a_cancel_that_arrives_as_the_answer_does() -> None:
    assert cancelled_as_it_finishes(within)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12's asyncio.wait_for keeps it")
def test_the_flaw_it_avoids_is_real_on_python_3_11() -> None:
    # The scenario above does tell: the standard library's form loses the cancel.
    assert not cancelled_as_it_finishes(asyncio.wait_for)


def test_within_still_times_out() -> None:
    async def scenario() -> None:
        await within(asyncio.sleep(5), 0.01)

    with pytest.raises(TimeoutError):
        asyncio.run(scenario())
