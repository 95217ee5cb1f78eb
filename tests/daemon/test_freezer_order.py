"""The freezer carries out the latest wish for a session, whenever it comes.

A resume (thaw) that arrives as the worker carrying out a freeze finishes must not
be lost: the child who unlocks gets their game back. The backend here is a recorder
of what the daemon asked of the kernel; the order of the calls is what is checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from shepherd.daemon.freezer import Freezer


class Recorder:
    """A backend that freezes and thaws at once, recording the order of the calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.after: Callable[[], None] | None = None  # what the loop does next, each time

    def _did(self, call: str) -> None:
        self.calls.append(call)
        if self.after is not None:  # handled in the loop turn in which the worker returns
            asyncio.get_running_loop().call_soon(self.after)

    async def freeze(self, session_id: int, on_thawed: Callable[[int], None]) -> str | None:
        self._did(f"freeze {session_id}")
        return None

    async def thaw(self, session_id: int) -> None:
        self._did(f"thaw {session_id}")


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_an_unlock_heard_as_the_freeze_finishes_thaws_the_game() -> None:
    async def main() -> tuple[list[str], bool]:
        backend = Recorder()
        freezer = Freezer(backend, lambda *_: None)  # type: ignore[arg-type]
        # The unlock is handled in the loop turn in which the freeze's worker returns.
        def unlock() -> None:
            backend.after = None
            freezer.want(1, False)

        backend.after = unlock
        freezer.want(1, True)
        await settle()
        return backend.calls, freezer.frozen(1)

    calls, frozen = asyncio.run(main())
    assert calls == ["freeze 1", "thaw 1"]
    assert not frozen


def test_every_change_of_mind_ends_in_the_latest_wish() -> None:
    async def main() -> tuple[list[str], bool]:
        backend = Recorder()
        freezer = Freezer(backend, lambda *_: None)  # type: ignore[arg-type]
        # Locked, unlocked, locked again, unlocked: each heard as the last one is done.
        wishes = iter([False, True, False])

        def next_wish() -> None:
            wish = next(wishes, None)
            if wish is not None:
                freezer.want(1, wish)

        backend.after = next_wish
        freezer.want(1, True)
        await settle()
        return backend.calls, freezer.frozen(1)

    calls, frozen = asyncio.run(main())
    assert calls == ["freeze 1", "thaw 1", "freeze 1", "thaw 1"]
    assert not frozen
