"""Following what gone processes forked is done a turn of the loop at a time, and has an
end (review-14-s17 H2): a chain of processes each forking the next and exiting kept the
following going on the loop for as long as it kept up (16-31 s of the loop at a time).

A unit test of the watcher's following alone: the kernel's fork events are an endless
chain (each read of them brings one more generation), the pids are of no process (each
is read from /proc as gone, as a generation is by the time it is looked at).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from shepherd.daemon import outside
from shepherd.daemon.outside import OutsideWatch
from shepherd.detect.forks import ForkMemory

LOOKS = 3000  # the bound, lowered for the test (the daemon's: 20,000)
BASE = 4_000_000_000  # no process has such a pid (pid_max is at most 4,194,304)


class EndlessChain:
    """The fork events of a chain that never ends: one more generation at each read."""

    def __init__(self, forks: ForkMemory) -> None:
        self.forks, self.generations = forks, 0

    def drain_forks(self) -> None:
        if self.generations > 3 * LOOKS:  # (before: followed in one turn, without end)
            raise AssertionError("the chain was followed past the bound, in one turn")
        self.forks.forked(BASE + self.generations, BASE + self.generations + 1)
        self.generations += 1


def watcher() -> tuple[OutsideWatch, EndlessChain]:
    watch = object.__new__(OutsideWatch)  # the following needs only these
    watch.forks = ForkMemory()
    chain = EndlessChain(watch.forks)
    watch.connector = chain  # type: ignore[assignment]
    watch.uids = {}
    watch._said_short = float("-inf")
    watch.going_on = 0
    return watch, chain


def test_an_endless_chain_is_followed_a_turn_at_a_time_and_then_let_go(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outside, "CHASE_LOOKS", LOOKS)
    watch, chain = watcher()
    turns = 0

    async def run() -> None:
        nonlocal turns
        loop = asyncio.get_running_loop()
        stop = loop.create_future()

        def other_work() -> None:  # the loop's other work: a turn of its own each time
            nonlocal turns
            turns += 1
            if not stop.done():
                loop.call_soon(other_work)

        loop.call_soon(other_work)
        watch._look_at_forked(BASE, True, 0.0, set())
        returned_after = chain.generations
        assert returned_after < LOOKS  # it gave the loop its turn before the end
        while chain.generations < LOOKS and turns < 1_000_000:
            await asyncio.sleep(0)
        for _ in range(100):  # and it stops: no generation read after the bound
            await asyncio.sleep(0)
        assert chain.generations <= LOOKS + 1
        stop.set_result(None)

    with caplog.at_level(logging.WARNING, logger=outside.__name__):
        asyncio.run(run())
    assert turns > 2, turns  # the loop ran its other work while the chain was followed
    assert "stopped following what" in caplog.text
