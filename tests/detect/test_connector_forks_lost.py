"""Fork events lost to an overflow are not lost silently.

The fork socket is read only when the daemon wakes for something else; on a busy
machine it can fill in between and the kernel drops the newest forks. A process that
forked and exited at once, whose child runs the program on without an exec of its own
(``fork; exit; setsid; fork; exit`` in a library's constructor), is then found by
nothing: its fork is gone and it never execs. So a lost fork, like a lost exec, has
the owner look through ``/proc`` (``on_lost``). Real kernel events (root), a real
burst of forks into a socket made small.
"""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from shepherd.detect.connector import SO_RCVBUFFORCE, ProcConnector

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the kernel's process events as root")


def test_forks_lost_to_an_overflow_have_the_owner_look_through_proc() -> None:
    told: list[str] = []
    forks: list[tuple[int, int]] = []

    async def run() -> None:
        conn = ProcConnector(on_exec=lambda pid: None, on_lost=lambda: told.append("lost"),
                             on_fork=lambda parent, child: forks.append((parent, child)))
        conn.open()
        try:
            # Only the fork socket made small (fills after a few dozen forks): the exec
            # socket, read on the loop, would overflow with the machine's other execs.
            assert conn.forks is not None
            conn.forks.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 4096)
            for _ in range(400):  # forks nobody reads until the burst is over
                pid = os.fork()
                if pid == 0:
                    os._exit(0)
                os.waitpid(pid, 0)
            conn.drain_forks()
            await asyncio.sleep(0)  # told after the read, on the loop
            await asyncio.sleep(0)
            assert conn.forks_lost > 0, "the burst did not overflow the socket"
        finally:
            conn.close()

    asyncio.run(run())
    assert told == ["lost"]  # once for the read, however many datagrams were dropped
