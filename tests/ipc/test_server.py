"""The socket server on its own: a slow subscriber is dropped, never waited for."""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from shepherd.ipc.protocol import Request
from shepherd.ipc.server import QUEUE_LIMIT, Connection, RpcServer


async def _echo(request: Request, connection: Connection) -> Any:
    if request.method == "subscribe":
        connection.subscribed = True
    return {"method": request.method, "uid": connection.peer.uid}


def test_a_slow_subscriber_is_sent_lagged_and_dropped_without_blocking() -> None:
    async def scenario() -> tuple[float, list[Any]]:
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
        started = time.monotonic()
        for n in range(QUEUE_LIMIT * 20):
            server.broadcast("event", {"n": n, "pad": "x" * 200})
        spent = time.monotonic() - started
        await asyncio.sleep(0.2)
        tail: list[Any] = []
        while True:
            line = await asyncio.wait_for(reader.readline(), 5)
            if not line:
                break
            tail.append(json.loads(line))
        await server.close()
        return spent, [first, *tail[-1:]]

    spent, (first, last) = asyncio.run(scenario())
    assert first["result"]["method"] == "subscribe"
    assert last["method"] == "lagged"  # the last thing it got, then the connection closed
    assert spent < 5  # broadcasting never waited on the slow reader
