"""A full queue of connections (the daemon's listen backlog, EAGAIN on a unix socket)
is asked again, within a bound, by both clients: the CLI's and the TUI's.

The queue is filled for real: a listening socket with a backlog of 1 that accepts
nothing until the test drains it. No timing is asserted: the drain waits for the
client's first "queue full" retry (an event), and the bound is shown by an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shepherd.ipc import client as client_module
from shepherd.ipc.client import AsyncClient, Client, DaemonUnreachable


@contextlib.contextmanager
def full_queue(path: Path) -> Iterator[tuple[socket.socket, list[socket.socket]]]:
    """A listener at ``path`` that never accepts, its queue filled until the kernel says
    EAGAIN: (the listener, the connections that fill it)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    fillers: list[socket.socket] = []
    try:
        while True:
            filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            filler.setblocking(False)
            try:
                filler.connect(str(path))
            except BlockingIOError as exc:  # EAGAIN: the queue is full
                filler.close()
                assert exc.errno == errno.EAGAIN
                break
            fillers.append(filler)
            assert len(fillers) < 64, "the queue never filled"
        yield listener, fillers
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def drain(listener: socket.socket, count: int) -> None:
    """Take ``count`` queued connections off the queue (and close them)."""
    for _ in range(count):
        accepted, _ = listener.accept()
        accepted.close()


def answer_one_line(listener: socket.socket) -> None:
    """The next connection gets one answer: what a daemon says to the first call."""
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(30)
        data = b""
        while b"\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        conn.sendall(b'{"jsonrpc": "2.0", "id": 1, "result": {"role": "admin"}}\n')
        with contextlib.suppress(OSError):
            conn.recv(1)  # until the client closes


def drain_then_answer(listener: socket.socket, count: int) -> None:
    drain(listener, count)
    answer_one_line(listener)


@pytest.fixture
def first_retry(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set when a client's first wait for a full queue ends and it asks again (the
    rule's one owner)."""
    seen = threading.Event()
    rule = client_module.QueueFullRetry.again_after

    def noted(self: Any, exc: OSError) -> bool:
        again = rule(self, exc)
        if again:
            seen.set()
        return again

    monkeypatch.setattr(client_module.QueueFullRetry, "again_after", noted)
    return seen


def test_the_tui_client_connects_once_a_full_queue_drains(
        tmp_path: Path, first_retry: threading.Event) -> None:
    path = tmp_path / "s.sock"
    with full_queue(path) as (listener, fillers):

        async def scenario() -> Any:
            opening = asyncio.create_task(AsyncClient.open(path, timeout=30))
            while not first_retry.is_set():  # it met the full queue, and waits
                assert not opening.done(), opening.result() if not opening.exception() \
                    else opening.exception()
                await asyncio.sleep(0.01)
            server = threading.Thread(target=drain_then_answer, args=(listener, len(fillers)))
            server.start()
            client = await opening
            try:
                return await client.call("hello", timeout=30)
            finally:
                await client.close()
                await asyncio.to_thread(server.join, 30)

        assert asyncio.run(scenario()) == {"role": "admin"}


def test_the_cli_client_connects_once_a_full_queue_drains(
        tmp_path: Path, first_retry: threading.Event) -> None:
    path = tmp_path / "s.sock"
    with full_queue(path) as (listener, fillers):

        def server() -> None:
            assert first_retry.wait(30)
            drain(listener, len(fillers))
            answer_one_line(listener)

        serving = threading.Thread(target=server)
        serving.start()
        with Client(path, timeout=30) as client:
            assert client.call("hello") == {"role": "admin"}
        serving.join(30)


OPENERS: dict[str, Callable[[Path], object]] = {
    "tui": lambda path: asyncio.run(AsyncClient.open(path, timeout=0.3)),
    "cli": lambda path: Client(path, timeout=0.3),
}


@pytest.mark.parametrize("which", OPENERS)
def test_a_client_says_the_daemon_is_too_busy_after_its_bound(
        tmp_path: Path, first_retry: threading.Event, which: str) -> None:
    path = tmp_path / "s.sock"
    with full_queue(path), pytest.raises(DaemonUnreachable) as refused:
        OPENERS[which](path)
    assert first_retry.is_set()
    assert str(refused.value) == client_module.queue_full(path, 0.3)
    assert "queue of connections stayed full" in str(refused.value)


def test_a_socket_with_nothing_behind_it_is_not_asked_again(
        tmp_path: Path, first_retry: threading.Event) -> None:
    """Only a full queue is waited for: a refused connection (no daemon) fails at once."""
    path = tmp_path / "s.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nothing listens: ECONNREFUSED
    with pytest.raises(DaemonUnreachable, match="nothing answers on that socket"):
        asyncio.run(AsyncClient.open(path, timeout=30))
    with pytest.raises(DaemonUnreachable, match="nothing answers on that socket"):
        Client(path, timeout=30)
    assert not first_retry.is_set()
