"""The socket server on its own: slow subscribers are dropped, any input is answered."""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shepherd.ipc import server as server_module
from shepherd.ipc.protocol import Request, encode
from shepherd.ipc.server import QUEUE_LIMIT, Connection, RpcServer


async def _echo(request: Request, connection: Connection) -> Any:
    if request.method == "subscribe":
        connection.subscribed = True
    return {"method": request.method, "uid": connection.peer.uid}


def test_a_slow_subscriber_is_sent_lagged_and_dropped_without_blocking() -> None:
    async def scenario() -> list[Any]:
        path = Path(tempfile.mkdtemp(prefix="shp")) / "s.sock"
        server = RpcServer(path, _echo)
        await server.start()
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b'{"jsonrpc":"2.0","id":1,"method":"subscribe"}\n')
        await writer.drain()
        first = json.loads(await reader.readline())
        # The subscriber stops reading; the daemon broadcasts far more than fits.
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # broadcast() is a plain call (it cannot wait on a reader): all of them return
        # while the subscriber reads nothing.
        for n in range(QUEUE_LIMIT * 20):
            server.broadcast("event", {"n": n, "pad": "x" * 200})
        await asyncio.sleep(0.2)
        tail: list[Any] = []
        while True:
            line = await asyncio.wait_for(reader.readline(), 5)
            if not line:
                break
            tail.append(json.loads(line))
        await server.close()
        return [first, *tail[-1:]]

    first, last = asyncio.run(scenario())
    assert first["result"]["method"] == "subscribe"
    assert last["method"] == "lagged"  # the last thing it got, then the connection closed


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)
requests = st.fixed_dictionaries(
    {}, optional={"jsonrpc": st.sampled_from(["2.0", "1.0", 2]),
                  "id": st.none() | st.integers() | st.text(max_size=5) | st.booleans(),
                  "method": st.sampled_from(["hello", "subscribe", "", "x"]) | st.integers(),
                  "params": json_values})
lines = st.one_of(
    st.binary(max_size=200).filter(lambda b: b"\n" not in b),
    json_values.map(lambda v: json.dumps(v).encode()),
    requests.map(lambda r: json.dumps(r).encode()),
    st.lists(requests, max_size=4).map(lambda r: json.dumps(r).encode()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=st.lists(lines, min_size=1, max_size=8))
def test_any_input_gets_answers_and_never_takes_the_server_down(garbage: list[bytes]) -> None:
    async def scenario() -> Any:
        path = Path(tempfile.mkdtemp(prefix="shp")) / "s.sock"
        server = RpcServer(path, _echo)
        await server.start()
        reader, writer = await asyncio.open_unix_connection(str(path))
        for line in garbage:
            writer.write(line + b"\n")
        # After all of it, the same connection still answers a good request.
        writer.write(b'{"jsonrpc":"2.0","id":"last","method":"hello"}\n')
        await writer.drain()
        while True:
            reply = json.loads(await asyncio.wait_for(reader.readline(), 5))
            if isinstance(reply, dict) and reply.get("id") == "last":
                break
        writer.close()
        await server.close()
        return reply

    reply = asyncio.run(scenario())
    assert reply["result"]["method"] == "hello"


async def _subscribed(server: RpcServer, path: Path, rcvbuf: int | None = None
                      ) -> socket.socket:
    """A plain socket, subscribed: the test reads it without giving the loop a turn."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await loop.sock_connect(sock, str(path))
    await loop.sock_sendall(sock, b'{"jsonrpc":"2.0","id":1,"method":"subscribe"}\n')
    answer = b""
    while not answer.endswith(b"\n"):
        answer += await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)
    assert json.loads(answer)["result"]["method"] == "subscribe"
    return sock


def test_an_event_is_on_the_subscribers_socket_when_broadcast_returns() -> None:
    # Events used to wait in a queue for the connection's drain task, so a warning
    # reached its subscriber a loop turn (and every callback queued before it) late.
    async def scenario() -> bytes:
        path = Path(tempfile.mkdtemp(prefix="shp")) / "s.sock"
        server = RpcServer(path, _echo)
        await server.start()
        sock = await _subscribed(server, path)
        server.broadcast("event", {"type": "warning_issued", "n": 1})
        try:  # no await between the broadcast and the read: the loop has not turned
            return sock.recv(4096, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return b""
        finally:
            sock.close()
            await server.close()

    data = asyncio.run(scenario())
    assert json.loads(data)["params"] == {"type": "warning_issued", "n": 1}


def test_events_and_answers_arrive_whole_and_in_order_to_a_slow_reader() -> None:
    # Far more than the kernel's buffer holds, less than the bound: the rest waits in
    # the daemon, and nothing is lost, split or reordered when the reader catches up.
    async def scenario() -> list[Any]:
        loop = asyncio.get_running_loop()
        path = Path(tempfile.mkdtemp(prefix="shp")) / "s.sock"
        server = RpcServer(path, _echo)
        await server.start()
        sock = await _subscribed(server, path, rcvbuf=4096)
        for connection in server.connections:  # the kernel holds little on either side
            connection.writer.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        for n in range(600):
            server.broadcast("event", {"n": n, "pad": "x" * 1000})
            if n % 100 == 50:  # an answer between the events
                await loop.sock_sendall(sock, json.dumps(
                    {"jsonrpc": "2.0", "id": n, "method": "hello"}).encode() + b"\n")
                await asyncio.sleep(0.05)
        assert [c for c in server.connections if c.unsent]  # some of it waits in the daemon
        data = b""
        while data.count(b"\n") < 606:
            data += await asyncio.wait_for(loop.sock_recv(sock, 65536), 10)
        sock.close()
        await server.close()
        return [json.loads(line) for line in data.splitlines()]

    messages = asyncio.run(scenario())
    events = [m["params"]["n"] for m in messages if m.get("method") == "event"]
    assert events == list(range(600))
    answers = [(i, m["id"]) for i, m in enumerate(messages) if "id" in m]
    assert [answer_id for _, answer_id in answers] == [50, 150, 250, 350, 450, 550]
    for index, answer_id in answers:  # each answer comes after the events sent before it
        assert messages[index - 1]["params"]["n"] <= answer_id


def test_a_subscriber_that_never_reads_nor_hangs_up_is_let_go(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Past the bound it is sent "lagged" and dropped; if it never reads even that, the
    # daemon does not keep its connection (and the bytes waiting for it) forever.
    monkeypatch.setattr(server_module, "LINGER_S", 0.2, raising=False)

    async def scenario() -> tuple[int, int]:
        path = Path(tempfile.mkdtemp(prefix="shp")) / "s.sock"
        server = RpcServer(path, _echo)
        await server.start()
        sock = await _subscribed(server, path, rcvbuf=4096)
        most = 0
        for n in range(QUEUE_LIMIT * 20):
            server.broadcast("event", {"n": n, "pad": "x" * 200})
            most = max([most, *(c.unsent for c in server.connections)])
            if n % 50 == 0:
                await asyncio.sleep(0)  # the daemon goes on living while it floods
        for _ in range(200):  # until its connection's task has ended (at most 10 s)
            if not server._tasks:
                break
            await asyncio.sleep(0.05)
        left = len(server._tasks)
        sock.close()
        await server.close()
        return most, left

    most, left = asyncio.run(scenario())
    assert most <= server_module.MAX_UNSENT + len(encode(server_module.LAGGED))  # + last words
    assert left == 0


class _Answer(dict[str, Any]):
    """An answer the test can watch (a weak reference) after the server dropped it."""


def test_an_answer_to_a_caller_gone_is_not_kept_after_its_connection_ends() -> None:
    # A caller that asks for a large answer (`status`, 40 KB) and hangs up before it is
    # written: the write's BrokenPipeError was kept by asyncio (the reader, the closing
    # future) with its traceback, whose frames held the whole answer, in reference
    # cycles only a full garbage collection frees. 32 such callers a round made the
    # daemon's memory grow by megabytes (bench/memory.py).
    import gc
    import weakref

    hung_up = asyncio.Event()
    kept: list[weakref.ref[_Answer]] = []

    async def handler(request: Request, connection: Connection) -> Any:
        await hung_up.wait()
        answer = _Answer(text="x" * 100_000)
        kept.append(weakref.ref(answer))
        return answer

    async def scenario() -> None:
        path = Path(tempfile.mkdtemp(prefix="shp")) / "s.sock"
        server = RpcServer(path, handler)
        await server.start()
        try:
            _, writer = await asyncio.open_unix_connection(str(path))
            writer.write(b'{"jsonrpc":"2.0","id":1,"method":"big"}\n')
            await writer.drain()
            await asyncio.sleep(0.05)  # the server has read the request
            writer.transport.abort()
            hung_up.set()
            for _ in range(200):  # until the server is done with the connection
                await asyncio.sleep(0.01)
                if kept and not server.connections:
                    break
            await asyncio.sleep(0.05)
        finally:
            await server.close()

    gc.disable()  # only what reference counting frees counts
    try:
        asyncio.run(scenario())
        assert kept and kept[0]() is None, "the answer is still alive"
    finally:
        gc.enable()
