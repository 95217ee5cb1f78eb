"""The kernel's exec events are handed on only once the forks before them are known.

The daemon reads exec events as they come and fork events only when it needs them;
each exec marks its process as "a start of its own" in the fork memory, which only
knows a process once its fork was read. An exec read before its fork lost that mark,
and the process counted as a fork its parent made for the program it was deciding
about (``later_siblings``): in the reliability run a refused start was killed with
another start's refusal and never refused by its own name ("the dynamic loader:
neither refused nor running"). Real kernel events (root), a burst of real starts.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

from shepherd.detect.connector import ProcConnector
from shepherd.detect.forks import ForkMemory

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the kernel's process events as root")



def asleep(pid: int) -> bool:
    """The process runs ``sleep`` and sleeps in it: its exec has returned."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return (os.readlink(f"/proc/{pid}/exe") == os.path.realpath("/bin/sleep")
            and stat.rsplit(")", 1)[1].split()[0] == "S")


def test_a_start_between_reading_forks_and_reading_execs_keeps_its_mark() -> None:
    # A process that forks and execs just as the connector has read the forks waiting
    # (here: started at that very moment, from inside the read) is still marked as a
    # start of its own: its exec is handed on only once its fork was read.
    memory = ForkMemory()
    handed: dict[int, bool] = {}  # exec handed on: was its fork known then?

    def on_exec(pid: int) -> None:
        handed[pid] = pid in memory.parent
        memory.ran_program(pid)

    started: list[subprocess.Popen[bytes]] = []

    async def read() -> None:
        connector = ProcConnector(on_exec, lambda: None, memory.forked)
        connector.open()
        original = connector.drain_forks

        def drain_then_start() -> None:
            original()
            if not started:
                child = subprocess.Popen(["/bin/sleep", "1000"])
                started.append(child)
                while not asleep(child.pid):
                    time.sleep(0.001)  # its fork and its exec are both sent now

        connector.drain_forks = drain_then_start  # type: ignore[method-assign]
        try:
            connector._readable()  # starts it between the two reads
            end = time.monotonic() + 30
            while started[0].pid not in handed and time.monotonic() < end:
                time.sleep(0.01)  # its exec event may be sent a moment after its exe changed
                connector._readable()
        finally:
            connector.close()

    try:
        asyncio.run(read())
        child = started[0].pid
        assert child in handed, "the exec was never handed on"
        assert handed[child], "its exec was handed on before its fork was read"
        assert child in memory.execed
    finally:
        for process in started:
            process.kill()
            process.wait()


def test_a_storm_of_starts_is_handled_in_order_with_the_loops_turns_between() -> None:
    """Review 10 (s8) F1: a batch of thousands of starts was handled in one go, the
    daemon deaf meanwhile. Now a few at a time, in order, none lost, and what else
    waits on the event loop (an answer, a stop) runs between."""
    import asyncio

    from shepherd.detect.connector import EXECS_A_TURN, ProcConnector

    happened: list[object] = []
    connector = ProcConnector(happened.append, lambda: happened.append("lost"))
    batches = [list(range(1000, 1000 + 3 * EXECS_A_TURN)), [7, 8]]
    connector.drain = lambda: batches.pop(0) if batches else []  # type: ignore[method-assign]

    async def storm() -> None:
        loop = asyncio.get_running_loop()
        connector._readable()
        loop.call_soon(happened.append, "answered")
        await asyncio.sleep(0)
        connector._readable()  # more read while some still wait: after them
        for _ in range(10):
            await asyncio.sleep(0)

    asyncio.run(storm())
    execs = [event for event in happened if isinstance(event, int)]
    assert execs == [*range(1000, 1000 + 3 * EXECS_A_TURN), 7, 8]
    assert "lost" not in happened
    assert EXECS_A_TURN <= happened.index("answered") < 3 * EXECS_A_TURN


def test_a_backlog_of_starts_past_the_bound_is_looked_for_in_proc() -> None:
    import asyncio

    from shepherd.detect.connector import WAITING_AT_MOST, ProcConnector

    happened: list[object] = []
    connector = ProcConnector(happened.append, lambda: happened.append("lost"))
    batches = [list(range(WAITING_AT_MOST + 1))]
    connector.drain = lambda: batches.pop(0) if batches else []  # type: ignore[method-assign]

    async def storm() -> None:
        connector._readable()
        for _ in range(3):
            await asyncio.sleep(0)

    asyncio.run(storm())
    assert happened == ["lost"]  # one look through /proc, not a backlog of minutes


def test_a_backlog_of_starts_is_said_in_the_log_and_so_is_its_end(
        caplog: pytest.LogCaptureFixture) -> None:
    """Review 10 (s8) M1: nothing said that the daemon looked at starts minutes late."""
    import asyncio

    from shepherd.detect.connector import BEHIND_AT, ProcConnector

    happened: list[object] = []
    connector = ProcConnector(happened.append, lambda: happened.append("lost"))
    batches = [list(range(BEHIND_AT + 10))]
    connector.drain = lambda: batches.pop(0) if batches else []  # type: ignore[method-assign]

    async def storm() -> None:
        connector._readable()
        for _ in range(BEHIND_AT):
            await asyncio.sleep(0)

    with caplog.at_level("WARNING", logger="shepherd.detect.connector"):
        asyncio.run(storm())
    said = [r.getMessage() for r in caplog.records]
    assert len(happened) == BEHIND_AT + 10 and "lost" not in happened
    assert any(f"faster than they are looked at ({BEHIND_AT + 10} waiting)" in m
               for m in said), said
    assert any("as they come again" in m and f"at most {BEHIND_AT + 10} waited" in m
               for m in said), said
    assert said.index(next(m for m in said if "faster" in m)) < said.index(
        next(m for m in said if "as they come again" in m))


def test_a_pid_that_execs_again_while_it_waits_is_looked_at_once() -> None:
    """Review 14 s10 H1: a process that re-execs itself in a loop queued a look per exec
    (each read its 6 MiB command line). Its look reads what it runs when its turn comes,
    after every exec read so far: one look is enough."""
    import asyncio

    from shepherd.detect.connector import ProcConnector

    happened: list[object] = []
    connector = ProcConnector(happened.append, lambda: happened.append("lost"))
    batches = [[5, 6, 5, 5, 6, 7], [5, 5]]
    connector.drain = lambda: batches.pop(0) if batches else []  # type: ignore[method-assign]

    async def storm() -> None:
        connector._readable()
        connector._readable()  # 5 was looked at: its exec after that is looked at again
        for _ in range(3):
            await asyncio.sleep(0)

    asyncio.run(storm())
    assert happened == [5, 6, 7, 5]


def test_a_turn_of_slow_looks_gives_the_loop_its_turn_early() -> None:
    """A turn of looks ends once it has taken ``TURN_S`` (not only after EXECS_A_TURN): a
    look that costs more than that is followed by the loop's own turn."""
    import asyncio
    import time

    from shepherd.detect.connector import TURN_S, ProcConnector

    happened: list[object] = []

    def slow(pid: int) -> None:
        time.sleep(2 * TURN_S)
        happened.append(pid)

    connector = ProcConnector(slow, lambda: happened.append("lost"))
    batches = [[1, 2, 3]]
    connector.drain = lambda: batches.pop(0) if batches else []  # type: ignore[method-assign]

    async def storm() -> None:
        loop = asyncio.get_running_loop()
        connector._readable()
        loop.call_soon(happened.append, "answered")
        for _ in range(5):
            await asyncio.sleep(0)

    asyncio.run(storm())
    assert happened == [1, 2, "answered", 3]  # one look a turn (its own was queued first)
