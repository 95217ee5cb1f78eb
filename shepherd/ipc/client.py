"""The one client, in two forms on one codec: ``Client`` (blocking, for the CLI)
and ``AsyncClient`` (asyncio, for the TUI: calls matched to answers by id while
``event`` notifications stream in on the same connection)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import os
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shepherd.ipc.protocol import (
    MAX_ANSWER,
    RpcError,
    encode,
    parents_socket_path,
    parse_line,
    request,
    result_of,
)
from shepherd.timeouts import within

SYSTEM_SOCKET = Path("/run/shepherd/shepherd.sock")


def user_socket_path() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/shepherd-{os.getuid()}"
    return Path(runtime) / "shepherd" / "shepherd.sock"


def find_socket(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--socket``, else ``$SHEPHERD_SOCKET``, else the user socket if it exists, else system."""
    if explicit:
        return Path(explicit)
    if os.environ.get("SHEPHERD_SOCKET"):
        return Path(os.environ["SHEPHERD_SOCKET"])
    user = user_socket_path()
    return user if user.exists() else SYSTEM_SOCKET


def why_unreachable(exc: BaseException) -> str:
    """Why a connection to the daemon's socket failed, in words (never the OS's text)."""
    code = getattr(exc, "errno", None)
    if isinstance(exc, TimeoutError) or code == errno.ETIMEDOUT:
        return "it did not take the connection (it may be stuck)"
    if code == errno.ENOENT:
        return "it is not running (there is no socket there)"
    if code == errno.ECONNREFUSED:
        return "it is not running (nothing answers on that socket)"
    if code in (errno.EACCES, errno.EPERM):
        return "you may not use that socket"
    if code == errno.EAGAIN:
        return "it is too busy to take the connection"
    detail = getattr(exc, "strerror", None) or "no answer"
    return str(detail)[:1].lower() + str(detail)[1:]


def queue_full(path: Path, waited: float) -> str:
    return (f"the daemon at {path} is running, but its queue of connections stayed full "
            f"for {waited:.0f} seconds (someone may be flooding its socket with "
            "connections); try again, and see the daemon's log")


class DaemonUnreachable(Exception):
    pass


def unreachable(path: Path, exc: BaseException) -> DaemonUnreachable:
    return DaemonUnreachable(f"cannot reach the daemon at {path}: {why_unreachable(exc)}")


class QueueFullRetry:
    """The one rule both clients follow while the daemon's queue of connections is full
    (its listen backlog, which others may keep full: a flood, a busy moment). The wait
    is in the kernel: a blocking connect with a send timeout, woken the moment the
    daemon takes a connection (a client that slept between tries lost every race to
    a flood's). Each wait lasts a slice that doubles from 5 ms to 100 ms, then the
    connection is asked again on a new socket, until ``timeout`` has passed; then it
    says the queue stayed full. Nothing else is asked again: a refused connection
    (ECONNREFUSED: nothing listens there) or a missing socket is said at once."""

    FIRST_SLICE_S = 0.005
    MAX_SLICE_S = 0.1

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._give_up = time.monotonic() + timeout
        self._slice = self.FIRST_SLICE_S

    def connect(self, sock: socket.socket) -> bool:
        """Connect ``sock`` (blocking) to the daemon: True once connected; False (``sock``
        closed) to ask again on a new socket; ``DaemonUnreachable`` once given up."""
        left = max(min(self._slice, self._give_up - time.monotonic()), 0.001)
        try:
            seconds = int(left)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                            struct.pack("ll", seconds, int((left - seconds) * 1e6)))
            sock.connect(str(self.path))  # blocking: a full queue waits here
            return True
        except OSError as exc:
            sock.close()
            if not self.again_after(exc):
                if exc.errno == errno.EAGAIN:
                    raise DaemonUnreachable(queue_full(self.path, self.timeout)) from None
                raise unreachable(self.path, exc) from None
            return False

    def again_after(self, exc: OSError) -> bool:
        """Whether to ask again after ``exc`` (the queue was full, time is left)."""
        if exc.errno not in (errno.EAGAIN, errno.EINTR) or time.monotonic() >= self._give_up:
            return False
        self._slice = min(self._slice * 2, self.MAX_SLICE_S)
        return True


def parents_door(path: Path, timeout: float) -> socket.socket | None:
    """A connection by the parents' socket beside ``path`` (``parents_socket_path``), when
    there is one this user may open (root, the admin group) and a daemon takes it at
    once; else None, and the caller goes by ``path`` (a stale socket, an older daemon).
    No one else can queue there, so a flood on the common socket never stands in front."""
    door = parents_socket_path(Path(path))  # (some callers hand a str)
    if not os.access(door, os.W_OK):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(str(door))
    except OSError:
        sock.close()
        return None
    return sock


class NoAnswer(DaemonUnreachable):
    """A call sent that got no answer in time: what it asked may yet be done."""


class Client:
    """A blocking JSON-RPC client on the daemon's socket."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._ids = itertools.count(1)
        self.sock = self._connect(path, timeout)
        self._buffer = bytearray()

    @staticmethod
    def _connect(path: Path, timeout: float) -> socket.socket:
        """A connection: by the parents' socket when this user may open it, else by
        ``path``; while the daemon's queue of connections is full, waited for in the
        kernel and asked again as ``QueueFullRetry`` says."""
        door = parents_door(path, timeout)
        if door is not None:
            return door
        retry = QueueFullRetry(path, timeout)
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            if retry.connect(sock):
                sock.settimeout(timeout)
                return sock

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_message(self) -> Any:
        """The next message from the daemon (``TimeoutError`` after the socket's timeout)."""
        return self._read()

    def _read(self) -> Any:
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_ANSWER:  # the daemon never sends a longer one
                raise DaemonUnreachable("the daemon sent a line that is too long")
            chunk = self.sock.recv(65536)  # a timeout leaves the buffer intact
            if not chunk:
                raise DaemonUnreachable("the daemon closed the connection")
            self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        return parse_line(line)

    def call(self, method: str, **params: Any) -> Any:
        request_id = next(self._ids)
        self.sock.sendall(encode(request(request_id, method, params)))
        while True:
            try:
                message = self._read()
            except TimeoutError:  # a daemon stuck on something: said in words
                raise NoAnswer(
                    f"the daemon did not answer within {self.timeout:.0f} seconds; "
                    "what you asked may not have been done, so check with "
                    "'shepherd status' and try again") from None
            if isinstance(message, dict) and (message.get("id") == request_id or (
                    message.get("id") is None and "error" in message)):
                # an error without an id answers the call (forbidden, too many connections)
                return result_of(message)


EventHandler = Callable[[str, dict[str, Any]], None]


class AsyncClient:
    """The asyncio form: one reader task answers calls and hands notifications on.

    ``on_notice(method, params)`` receives every notification (``event``, ``lagged``).
    When the connection ends, every waiting call raises ``DaemonUnreachable`` and
    ``closed`` is set; a new connection is the caller's decision.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 on_notice: EventHandler | None = None) -> None:
        self._reader = reader
        self._writer = writer
        self._on_notice = on_notice
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.closed = asyncio.Event()
        self.close_reason = ""
        self._task = asyncio.get_running_loop().create_task(self._read_loop())

    @classmethod
    async def open(cls, path: Path, on_notice: EventHandler | None = None,
                   sock: socket.socket | None = None, timeout: float = 10.0) -> AsyncClient:
        """Connect to ``path`` (or use ``sock``, already connected); a full queue of
        connections is asked again as ``QueueFullRetry`` says, within ``timeout``."""
        if sock is None:  # a full queue is waited for in the kernel, off the loop
            sock = await asyncio.to_thread(Client._connect, path, timeout)
            sock.setblocking(False)
        try:
            # Any answer the daemon sends is read whole: it bounds one at MAX_ANSWER
            # (asyncio's own 64 KiB limit once failed a large household's status).
            reader, writer = await within(
                asyncio.open_unix_connection(sock=sock, limit=MAX_ANSWER + 1), timeout)
        except (OSError, TimeoutError) as exc:
            sock.close()
            raise unreachable(path, exc) from None
        return cls(reader, writer, on_notice)

    async def call(self, method: str, timeout: float = 30.0, **params: Any) -> Any:
        if self.closed.is_set():
            raise DaemonUnreachable(self.close_reason or "the connection is closed")
        request_id = next(self._ids)
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = answer
        try:
            self._writer.write(encode(request(request_id, method, params)))
            await self._writer.drain()
            message = await within(answer, timeout)
        except TimeoutError:
            self._end(f"it stopped answering (nothing came in {timeout:.0f} seconds)")
            raise NoAnswer(self.close_reason) from None
        except OSError as exc:
            self._end(f"the connection broke: {exc.strerror or 'no answer'}")
            raise DaemonUnreachable(self.close_reason) from None
        finally:
            self._waiting.pop(request_id, None)
        return result_of(message)

    async def _read_loop(self) -> None:
        reason = "the daemon closed the connection"
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                message = parse_line(line)
                if not isinstance(message, dict):
                    continue
                if message.get("id") is None and "error" in message:
                    # an error without an id answers every waiting call (forbidden, too many)
                    for pending in self._waiting.values():
                        if not pending.done():
                            pending.set_result(message)
                elif "id" in message and "method" not in message:
                    waiting = self._waiting.get(message["id"])
                    if waiting is not None and not waiting.done():
                        waiting.set_result(message)
                elif isinstance(message.get("method"), str) and self._on_notice is not None:
                    params = message.get("params")
                    self._on_notice(message["method"], params if isinstance(params, dict) else {})
        except RpcError as exc:
            reason = f"the daemon sent something unreadable: {exc.message}"
        except (OSError, ValueError) as exc:  # ValueError: a line over the limit
            reason = f"the connection failed: {exc}"
        finally:
            self._end(reason)

    def _end(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.close_reason = reason
        self.closed.set()
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(DaemonUnreachable(reason))
        with contextlib.suppress(Exception):
            self._writer.close()

    async def close(self) -> None:
        self._end("closed by the client")
        self._task.cancel()
        # asyncio.wait, not ``await self._task``: the reader's own end (cancelled, or an
        # error already said in close_reason) is not raised here, while a cancel of the
        # task that is closing still is: swallowing that would keep a cancelled caller
        # running (the TUI's link reconnected forever, and the TUI never ended).
        await asyncio.wait({self._task})
        if not self._task.cancelled():
            self._task.exception()  # retrieved: its end is already in close_reason

