"""Exec events lost to an overflow are told once per read, after it (as lost forks are).

Each telling has the owner look through all of ``/proc`` (``on_lost``). A burst of
program starts that goes on while the exec socket is read overflows it again: each
overflow was told at once, inside the read, one look through ``/proc`` per ``ENOBUFS``,
on the loop, while the burst went on. Real kernel events (root) into a socket made small;
the burst that goes on is started when the read first finds the socket empty.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import subprocess
from typing import Any

import pytest

from shepherd.detect.connector import RCVBUF, SO_RCVBUFFORCE, ProcConnector

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the kernel's process events as root")

SMALL = 4096  # fills after a few exec events


def burst() -> None:
    for _ in range(100):
        subprocess.run(["/bin/true"], check=True)


class BurstWhileRead:
    """The exec socket; the first time a read finds it empty, a burst of program starts
    fills it again (the kernel reports that overflow at the next read)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.burst, self.overflows = sock, False, 0

    def recv(self, size: int) -> bytes:
        try:
            try:
                return self.sock.recv(size)
            except BlockingIOError:
                if self.burst:
                    raise
                self.burst = True
                burst()
                return self.sock.recv(size)
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                self.overflows += 1
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def test_execs_lost_twice_in_one_read_are_told_once_after_it() -> None:
    told: list[str] = []

    async def run() -> None:
        conn = ProcConnector(on_exec=lambda pid: None, on_lost=lambda: told.append("lost"))
        conn.open()
        assert conn.sock is not None
        real = conn.sock
        try:
            real.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, SMALL)
            burst()  # nobody reads until it is over
            reading = BurstWhileRead(real)
            conn.sock = reading  # type: ignore[assignment]
            conn.drain_execs()
            real.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)  # no more losses
            assert reading.overflows == 2, "the socket did not overflow twice in one read"
            assert told == [], "told inside the read (a look through /proc per overflow)"
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        finally:
            conn.sock = real
            conn.close()

    asyncio.run(run())
    assert told == ["lost"]
