"""The socket server on its own: slow subscribers are dropped, any input is answered."""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shepherd.ipc.protocol import Request
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
