"""The daemon's socket: framing, peer credentials, limits, subscriptions.

- The peer's uid comes from ``SO_PEERCRED``; nothing the client says changes it.
- A line longer than ``MAX_LINE`` is answered with an error and the connection is
  closed; any other bad input is answered and the connection stays usable.
- Each connection has a bounded outgoing queue drained by its own task, so a slow
  reader never blocks the daemon: a subscriber that falls behind is sent a
  ``lagged`` notice and dropped.
- Connections per uid and requests per second per connection are bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shepherd.ipc.protocol import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    LINE_TOO_LONG,
    MAX_LINE,
    RATE_LIMITED,
    TOO_MANY_CONNECTIONS,
    Request,
    RpcError,
    encode,
    error_response,
    notification,
    parse_line,
    parse_request,
    response,
)

log = logging.getLogger(__name__)

MAX_CONNECTIONS_PER_UID = 32
RATE_PER_SECOND = 100.0
RATE_BURST = 200.0
QUEUE_LIMIT = 1000


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int


def peer_credentials(sock: socket.socket) -> Peer:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return Peer(pid, uid, gid)


@dataclass(eq=False)
class Connection:
    peer: Peer
    writer: asyncio.StreamWriter
    outgoing: asyncio.Queue[bytes | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    subscribed: bool = False
    tokens: float = RATE_BURST
    refilled: float = field(default_factory=time.monotonic)
    closed: bool = False
    context: dict[str, Any] = field(default_factory=dict)  # the daemon's per-connection notes

    def send(self, message: Any) -> bool:
        """Queue a message; False (and the connection is dropped) when it cannot keep up."""
        if self.closed:
            return False
        try:
            self.outgoing.put_nowait(encode(message))
            return True
        except asyncio.QueueFull:
            self.drop_lagging()
            return False

    def drop_lagging(self) -> None:
        self.closed = True
        # Make room for the notice, then the end marker.
        while not self.outgoing.empty():
            self.outgoing.get_nowait()
        self.outgoing.put_nowait(encode(notification("lagged", {
            "message": "you fell too far behind the event stream; reconnect"})))
        self.outgoing.put_nowait(None)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(asyncio.QueueFull):
                self.outgoing.put_nowait(None)

    def take_token(self) -> bool:
        now = time.monotonic()
        self.tokens = min(RATE_BURST, self.tokens + (now - self.refilled) * RATE_PER_SECOND)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


Handler = Callable[[Request, Connection], Awaitable[Any]]


class RpcServer:
    def __init__(self, path: Path, handler: Handler, mode: int = 0o600) -> None:
        self.path = path
        self.handler = handler
        self.mode = mode
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.path), limit=MAX_LINE + 1)
        os.chmod(self.path, self.mode)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def broadcast(self, method: str, params: dict[str, Any],
                  audience: Callable[[Connection], bool] = lambda c: True) -> None:
        for connection in list(self.connections):
            if connection.subscribed and audience(connection):
                connection.send(notification(method, params))

    async def _drain(self, connection: Connection) -> None:
        writer = connection.writer
        try:
            while True:
                data = await connection.outgoing.get()
                if data is None:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            connection.closed = True
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        peer = peer_credentials(sock)
        connection = Connection(peer, writer)
        drain = asyncio.create_task(self._drain(connection))
        same_uid = sum(1 for c in self.connections if c.peer.uid == peer.uid)
        if same_uid >= MAX_CONNECTIONS_PER_UID:
            connection.send(error_response(None, RpcError(
                TOO_MANY_CONNECTIONS, "too many connections from your user")))
            connection.close()
            await drain
            return
        self.connections.add(connection)
        try:
            while not connection.closed:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    if exc.partial.strip():
                        await self._handle_line(connection, exc.partial)
                    break
                except asyncio.LimitOverrunError:
                    connection.send(error_response(None, RpcError(
                        LINE_TOO_LONG, f"line longer than {MAX_LINE} bytes; closing")))
                    break
                except (ConnectionError, OSError, asyncio.CancelledError):
                    break  # cancelled: the daemon is shutting down
                if line.strip():
                    await self._handle_line(connection, line)
        finally:
            self.connections.discard(connection)
            connection.close()
            await drain

    async def _handle_line(self, connection: Connection, line: bytes) -> None:
        if not connection.take_token():
            connection.send(error_response(None, RpcError(
                RATE_LIMITED, "too many requests; slow down")))
            return
        try:
            message = parse_line(line)
        except RpcError as exc:
            connection.send(error_response(None, exc))
            return
        if isinstance(message, list):
            if not message:
                connection.send(error_response(None, RpcError(INVALID_REQUEST, "empty batch")))
                return
            answers = [a for a in [await self._answer(connection, item) for item in message]
                       if a is not None]
            if answers:
                connection.send(answers)
            return
        answer = await self._answer(connection, message)
        if answer is not None:
            connection.send(answer)

    async def _answer(self, connection: Connection, item: Any) -> dict[str, Any] | None:
        try:
            request = parse_request(item)
        except RpcError as exc:
            request_id = item.get("id") if isinstance(item, dict) else None
            return error_response(request_id if isinstance(request_id, str | int) else None, exc)
        try:
            result = await self.handler(request, connection)
        except RpcError as exc:
            return None if request.is_notification else error_response(request.id, exc)
        except Exception:  # the daemon never crashes on input
            log.exception("internal error answering %s", request.method)
            error = RpcError(INTERNAL_ERROR, f"internal error in {request.method}")
            return None if request.is_notification else error_response(request.id, error)
        return None if request.is_notification else response(request.id, result)
