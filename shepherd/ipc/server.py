"""The daemon's socket: framing, peer credentials, limits, subscriptions.

- The peer's uid comes from ``SO_PEERCRED``; nothing the client says changes it.
  The daemon's ``admit`` decides at once whether that uid may talk at all: a
  stranger's first line is answered with one ``forbidden`` error, unread, and
  the connection is closed, so a stranger costs no parsing and no answers.
- Everything about a connection that can be decided without reading it is decided the
  moment it is taken (``accept``), with no task, no transport and no buffer: its uid's
  connect rate, who the uid is (``admit``, which keeps its answer a few seconds), and the
  caps below. A stranger's ``forbidden``, and the "too many connections" of a uid at its
  cap, are written straight to the socket; what the peer had sent is dropped unread.
- Parents have a door of their own (review 14 s10 M1, the answer's time): in system mode
  a second socket beside the first (``parents_socket_path``: ``shepherd-parents.sock``),
  which only root and the admin group may open (``0660``, the admin group's). The
  kernel's queue of connections is one per socket and first come, first taken: a flood
  of a child's or a stranger's connections fills the common one, and a parent's
  connection waited behind thousands of them (8-14 s at nice 19). No one but a parent
  can queue at the parents' door, and the daemon takes from it every loop turn.
  Clients knock there first when they may (``Client``); who a connection's peer is
  still comes from its credentials alone, whichever door it came by.
- Connections are bounded so the daemon always keeps descriptors for its own work
  (opening ``cgroup.kill``, ``/proc``, the store): at most ``max_connections`` in
  all (half the descriptor limit, at most ``MAX_CONNECTIONS``), ``MAX_CONNECTIONS_PER_UID``
  per admitted uid, and strangers at most ``MAX_STRANGERS_PER_UID`` per uid and
  ``MAX_STRANGERS`` in all, each waited for at most ``STRANGER_WAIT_S``; past a
  bound a connection is answered at once and closed (past ``max_connections`` it
  waits in the kernel's queue: the daemon takes no more until one ends).
- One uid's flood of connections cannot keep the others out (review 14 s10 M1). The
  kernel's queue is as long as it allows (``LISTEN_BACKLOG``), and the daemon drains it
  in a tight loop (at most ``ACCEPTS_PER_TURN`` a loop turn). Each uid may open
  ``CONNECTS_PER_SECOND`` connections a second (``CONNECTS_BURST`` at once), a stranger
  ``STRANGER_CONNECTS_PER_SECOND`` (``STRANGER_CONNECTS_BURST``), a parent without bound:
  past its rate a connection is closed the moment it is taken, unread and unanswered, so
  a flood costs the daemon an ``accept`` and a ``close`` each and the queue empties
  faster than a flood fills it. Whether a uid is a stranger or a parent is what the
  daemon last decided for one of its connections (a new uid is rated as a child).
- A line longer than ``MAX_LINE`` is answered with an error and the connection is
  closed; any other bad input (not JSON, nested too deeply, numbers too large,
  not a request) is answered and the connection stays usable.
- Requests are rate limited per uid (a token bucket shared by its connections),
  and a batch costs one token per item; a batch holds at most ``MAX_BATCH`` items.
- Answers and events are written to the connection's socket at once, in the call
  that sends them (an event is on every subscriber's socket when ``broadcast``
  returns; no task and no loop turn stand between them). What the kernel does not
  take waits in the connection's transport, which sends it as the reader makes
  room; it is never awaited, so a slow reader never blocks the daemon. What waits
  is bounded (``MAX_UNSENT`` bytes): past the bound the connection is sent one
  last message (``lagged`` for a subscriber, an error otherwise) and closed, and
  a peer that has not taken it ``LINGER_S`` later is cut off. An answer larger
  than the bound is replaced by an error.
- After each line the server yields to the event loop, so no connection can keep
  the loop from its timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import socket
import stat
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shepherd.ipc.protocol import (
    ANSWER_TOO_LARGE,
    FORBIDDEN,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    LINE_TOO_LONG,
    MAX_ANSWER,
    MAX_LINE,
    RATE_LIMITED,
    TOO_MANY_CONNECTIONS,
    TOO_MUCH_UNREAD,
    Request,
    RpcError,
    SharedResult,
    encode,
    error_response,
    notification,
    parents_socket_path,
    parse_line,
    parse_request,
    response,
)

log = logging.getLogger(__name__)

MAX_CONNECTIONS_PER_UID = 32
MAX_CONNECTIONS = 1024  # in all, and never more than half the descriptor limit
MAX_STRANGERS_PER_UID = 4
MAX_STRANGERS = 16
LISTEN_BACKLOG = max(socket.SOMAXCONN, 4096)  # the kernel cuts it to net.core.somaxconn
ACCEPTS_PER_TURN = 8  # connections given work (a task, a wait), then the loop's other work
CLOSES_PER_TURN = 16  # in all, with those closed at once (past a rate or a cap, strangers)
PARENTS_MODE = 0o660  # the parents' socket: root and the admin group
PARENTS_RESERVE = 16  # connections a parent may still open by its door at max_connections
CONNECTS_PER_SECOND = 20.0
CONNECTS_BURST = 100.0
STRANGER_CONNECTS_PER_SECOND = 4.0
STRANGER_CONNECTS_BURST = 64.0
ACCEPT_RETRY_S = 0.2  # out of descriptors: accept again this much later
RATE_PER_SECOND = 100.0
RATE_BURST = 200.0
MAX_BATCH = 100
MAX_UNSENT = MAX_ANSWER  # what waits unsent, and the largest answer the clients read
STRANGER_WAIT_S = 2.0
CLOSE_WAIT_S = 2.0
LINGER_S = 10.0  # a closed connection's unsent bytes wait this long for its reader
QUEUE_LIMIT = MAX_UNSENT // 1024  # kept for callers that size floods by it


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int


@dataclass(frozen=True)
class Admission:
    """What the daemon says about a peer it lets in."""

    context: dict[str, Any]
    limited: bool = True  # subject to the per-uid request rate


def peer_credentials(sock: socket.socket) -> Peer:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return Peer(pid, uid, gid)


@dataclass
class TokenBucket:
    tokens: float = RATE_BURST
    refilled: float = field(default_factory=time.monotonic)
    rate: float = RATE_PER_SECOND
    burst: float = RATE_BURST

    def take(self, count: int) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens < count:
            return False
        self.tokens -= count
        return True


LAGGED = notification("lagged", {"message": "you fell too far behind the event stream; "
                                            "reconnect"})
UNREAD = error_response(None, RpcError(TOO_MUCH_UNREAD, "too many answers wait unread; "
                                                        "closing the connection"))


@dataclass(eq=False)
class Connection:
    peer: Peer
    writer: asyncio.StreamWriter
    subscribed: bool = False
    closed: bool = False
    bucket: TokenBucket | None = None  # None: not rate limited
    context: dict[str, Any] = field(default_factory=dict)  # the daemon's per-connection notes

    @property
    def unsent(self) -> int:
        """Bytes written but not yet taken by the kernel: they wait in the transport."""
        return self.writer.transport.get_write_buffer_size()

    def send(self, message: Any, last_words: Any = UNREAD) -> bool:
        """Send a message now; past ``MAX_UNSENT``, send ``last_words`` instead and close."""
        return self.send_bytes(encode(message), last_words)

    def send_bytes(self, data: bytes, last_words: Any = UNREAD) -> bool:
        if self.closed:
            return False
        if self.writer.transport.is_closing():  # the peer is gone
            self.closed = True
            return False
        if self.unsent + len(data) > MAX_UNSENT:
            self.give_up(last_words)
            return False
        return self._write(data)

    def _write(self, data: bytes) -> bool:
        # The transport sends at once what the socket takes, keeps the rest in order and
        # sends it as the reader makes room: it is never awaited here.
        try:
            self.writer.write(data)
        except (RuntimeError, OSError):  # the transport is shutting down
            self.closed = True
            return False
        return True

    def give_up(self, last_words: Any) -> None:
        """Send one last message (past the bound: it is small), then close."""
        if self.closed:
            return
        self._write(encode(last_words))
        self.close()

    def drop_lagging(self) -> None:
        self.give_up(LAGGED)

    def close(self) -> None:
        """Close once what was sent has gone out; a peer that does not take it within
        ``LINGER_S`` is cut off, so its bytes are not kept for ever."""
        if self.closed and self.writer.transport.is_closing():
            return
        self.closed = True
        transport = self.writer.transport
        self.writer.close()
        if transport.get_write_buffer_size():
            asyncio.get_running_loop().call_later(LINGER_S, transport.abort)

    async def ended(self) -> None:
        """Until the connection is closed, at most ``LINGER_S`` after ``close``."""
        try:
            await self.writer.wait_closed()
        except Exception as exc:
            # The error that closed it (a peer gone while an answer was written) is kept by
            # asyncio, in the reader and the closing future; its traceback's frames hold
            # that answer (a `status`: 40 KB of text, 150 lines) in reference cycles only a
            # full garbage collection frees. Let go of them now.
            exc.__traceback__ = None

    def take_tokens(self, count: int = 1) -> bool:
        return self.bucket is None or self.bucket.take(count)


Handler = Callable[[Request, Connection], Awaitable[Any]]


_SLOW_DOWN = RpcError(RATE_LIMITED, "too many requests; slow down (each item of a batch "
                      "counts)")


_FORBIDDEN = encode(error_response(None, RpcError(FORBIDDEN, "forbidden")))
_TOO_MANY = encode(error_response(None, RpcError(TOO_MANY_CONNECTIONS,
                                                 "too many connections from your user")))


def _drained(sock: socket.socket) -> bool:
    """Drop, unread, what the peer has sent so far (at most ``MAX_LINE`` bytes); True
    when it had sent something or hung up."""
    got = False
    with contextlib.suppress(OSError):
        for _ in range(4):
            data = sock.recv(MAX_LINE // 4, socket.MSG_DONTWAIT)
            got = True
            if not data:
                break
    return got


def _say_and_close(sock: socket.socket, data: bytes) -> None:
    """One short message straight to a socket the daemon gives no task, and close it.
    A peer that does not take it at once (or is gone) goes without."""
    with contextlib.suppress(OSError):
        sock.send(data, socket.MSG_DONTWAIT)
    sock.close()


def _request_id(item: Any) -> str | int | None:
    """The id a request carries, when it is one JSON-RPC allows (else null)."""
    request_id = item.get("id") if isinstance(item, dict) else None
    return (request_id if isinstance(request_id, str | int)
            and not isinstance(request_id, bool) else None)


def _admit_everyone(peer: Peer) -> Admission | None:
    return Admission({})


def connection_limit() -> int:
    """How many connections the daemon holds at most: half its descriptor limit (the
    rest are its own), at most ``MAX_CONNECTIONS``."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(8, min(MAX_CONNECTIONS, soft // 2))


def socket_directory_problem(path: Path, uid: int | None = None) -> str | None:
    """Why the socket must not live at ``path`` (None: it may), in words.

    Anyone who can write the socket's directory can put a socket of their own in
    its place, or one the daemon's clients will trust: a child must not be able to.
    So the directory (made if missing) and every directory above it belong to
    root or the daemon's user and no one else may write them; above it, a sticky
    directory of root's (``/tmp``) is allowed, as it only lets others add names.
    """
    uid = os.geteuid() if uid is None else uid
    here = path.parent
    while not here.exists() and here != here.parent:
        here = here.parent
    first = here == path.parent
    for directory in [here, *here.parents]:
        info = directory.stat()
        mode = info.st_mode
        others_write = mode & (stat.S_IWGRP | stat.S_IWOTH)
        sticky_root = mode & stat.S_ISVTX and info.st_uid == 0 and not first
        if info.st_uid not in (0, uid):
            return (f"the socket's directory {directory} belongs to uid {info.st_uid}, "
                    f"who could replace the socket; use a directory of root's or your own")
        if others_write and not sticky_root:
            return (f"others can write to {directory} (mode {stat.S_IMODE(mode):o}), so they "
                    f"could replace the socket; use a directory only its owner can write")
        first = False
    return None


class RpcServer:
    """``parents_gid``: open the parents' socket too (system mode), its group this gid."""

    def __init__(self, path: Path, handler: Handler, mode: int = 0o600,
                 admit: Callable[[Peer], Admission | None] = _admit_everyone,
                 parents_gid: int | None = None) -> None:
        self.path = path
        self.parents_path = None if parents_gid is None else parents_socket_path(path)
        self.parents_gid = parents_gid
        self.handler = handler
        self.mode = mode
        self.admit = admit
        self.connections: set[Connection] = set()
        self._buckets: dict[int, TokenBucket] = {}
        self._per_uid: dict[int, int] = {}
        self._strangers: dict[int, int] = {}  # uid: connections waiting for their forbidden
        self._open = 0  # every connection held, strangers too
        self.max_connections = connection_limit()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listeners: list[socket.socket] = []  # the parents' first, when it is open
        self._door: socket.socket | None = None  # the parents' socket
        self._reading: set[int] = set()  # the listeners the loop takes connections from
        self._waiting: dict[int, tuple[socket.socket, int, asyncio.TimerHandle]] = {}
        self.served: dict[int, int] = {}  # uid: requests it was answered (or refused)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._said_short = float("-inf")
        self._connects: dict[int, TokenBucket] = {}  # uid: its rate of new connections
        self._kind: dict[int, str] = {}  # uid: "stranger" or "parent", as last decided
        self._turned_away: dict[int, int] = {}  # uid: connections closed unread, unsaid
        self._said_flood = float("-inf")
        self._shared: tuple[SharedResult, bytes] | None = None  # the last one encoded

    async def start(self) -> None:
        self.path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        self._loop = asyncio.get_running_loop()
        if self.parents_path is not None and self.parents_gid is not None:
            try:
                self._door = self._listen(self.parents_path, PARENTS_MODE, self.parents_gid)
                self._listeners.append(self._door)
            except (OSError, ValueError) as exc:  # a path too long for a socket, say
                log.warning("no parents' socket at %s (%s): parents queue with everyone "
                            "else on %s", self.parents_path, exc, self.path)
                self.parents_path = None
        self._listeners.append(self._listen(self.path, self.mode))
        self._resume_accepting()

    @staticmethod
    def _listen(path: Path, mode: int, gid: int | None = None) -> socket.socket:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.setblocking(False)
            listener.bind(str(path))
            if gid is not None:
                try:
                    os.chown(path, -1, gid)
                except PermissionError:  # no CAP_CHOWN (the unit gives it): root's alone
                    log.warning("the parents' socket %s is root's alone: the daemon may not "
                                "give it the admin group (gid %d)", path, gid)
                    mode = 0o600
            os.chmod(path, mode)
            listener.listen(LISTEN_BACKLOG)
        except BaseException:
            listener.close()
            raise
        return listener

    async def close(self) -> None:
        """Stop listening, hang up on everyone and wait (briefly) for their tasks to end."""
        self._pause_accepting()
        for listener in self._listeners:
            listener.close()
        self._listeners, self._door = [], None
        for fd in list(self._waiting):
            self._stranger_said(fd)
        for connection in list(self.connections):
            connection.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=CLOSE_WAIT_S)
        for path in (self.path, self.parents_path):
            with contextlib.suppress(FileNotFoundError):
                if path is not None:
                    path.unlink()

    def _bound(self, listener: socket.socket) -> int:
        """How many connections may be held when one more is taken from ``listener``: the
        parents' door keeps ``PARENTS_RESERVE`` past ``max_connections``."""
        return self.max_connections + (PARENTS_RESERVE if listener is self._door else 0)

    def _resume_accepting(self) -> None:
        """Take connections again from each listener under its bound."""
        if self._loop is None:
            return
        for listener in self._listeners:
            fd = listener.fileno()
            if fd not in self._reading and self._open < self._bound(listener):
                self._reading.add(fd)
                self._loop.add_reader(fd, self._accept, listener)

    def _pause_accepting(self, listener: socket.socket | None = None) -> None:
        """Take no more connections from ``listener`` (None: from any)."""
        if self._loop is None:
            return
        for each in self._listeners if listener is None else [listener]:
            if each.fileno() in self._reading:
                self._reading.discard(each.fileno())
                self._loop.remove_reader(each.fileno())

    def _accept(self, listener: socket.socket) -> None:
        """Take waiting connections while fewer than ``max_connections`` are held (by the
        parents' door: ``PARENTS_RESERVE`` more); at the bound, the rest wait in the
        kernel's queue until one ends. Each is counted the moment it has a descriptor,
        so the daemon's own stay free. Each is decided here,
        unread: one over its uid's rate of connections is closed at once; a stranger is
        told ``forbidden`` and a uid at its cap "too many connections" (both without a
        task); only an admitted connection gets a task that reads it."""
        assert self._loop is not None
        given_work, bound = 0, self._bound(listener)
        for _ in range(CLOSES_PER_TURN):
            if given_work >= ACCEPTS_PER_TURN:
                return
            if self._open >= bound:
                self._pause_accepting(listener)
                return
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:  # out of descriptors or memory: try again soon
                self._pause_accepting()
                self._loop.call_later(ACCEPT_RETRY_S, self._resume_accepting)
                if time.monotonic() - self._said_short > 60:
                    self._said_short = time.monotonic()
                    log.error("cannot take a connection (%s); trying again every %.1f s "
                              "(said once a minute)", exc, ACCEPT_RETRY_S)
                return
            try:
                peer = peer_credentials(sock)
            except OSError:
                sock.close()
                continue
            if not self._within_connect_rate(peer.uid):
                sock.close()
                continue
            given_work += self._take(sock, peer, listener is self._door)

    def _take(self, sock: socket.socket, peer: Peer, door: bool = False) -> int:
        """Decide about a connection just taken; 1 when it was given work to do."""
        assert self._loop is not None
        try:
            admission = self.admit(peer)
        except Exception:  # a lookup that fails admits no one
            log.exception("could not decide who uid %d is", peer.uid)
            admission = None
        if admission is None:
            self._decided(peer.uid, "stranger")
            return self._stranger(sock, peer.uid)
        self._decided(peer.uid, "child" if admission.limited else "parent")
        if door and admission.limited and self._open >= self.max_connections:
            _say_and_close(sock, _TOO_MANY)  # the door's reserve is a parent's
            return 0
        # At its cap the uid may have just hung up one whose end the loop has not read
        # yet (a client's calls one after another): that is asked again in the task.
        counted = self._per_uid.get(peer.uid, 0) < MAX_CONNECTIONS_PER_UID
        if counted:
            self._per_uid[peer.uid] = self._per_uid.get(peer.uid, 0) + 1
        self._open += 1
        task = self._loop.create_task(self._serve_socket(sock, peer, admission, counted))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return 1

    def _stranger(self, sock: socket.socket, uid: int) -> int:
        """A peer the daemon does not know: ``forbidden``, written straight to its socket.
        What it sent is dropped unread. One that has sent nothing yet is waited for (so
        a client that writes first reads the answer), only for a few strangers at a
        time and briefly, with no task: past those, the answer is at once."""
        assert self._loop is not None
        if (_drained(sock) or self._strangers.get(uid, 0) >= MAX_STRANGERS_PER_UID
                or len(self._waiting) >= MAX_STRANGERS):
            _say_and_close(sock, _FORBIDDEN)
            return 0
        fd = sock.fileno()
        self._open += 1  # its descriptor is held
        self._strangers[uid] = self._strangers.get(uid, 0) + 1
        timer = self._loop.call_later(STRANGER_WAIT_S, self._stranger_said, fd)
        self._waiting[fd] = (sock, uid, timer)
        self._loop.add_reader(fd, self._stranger_said, fd)
        return 1

    def _stranger_said(self, fd: int) -> None:
        """A waited-for stranger wrote, hung up or waited long enough: ``forbidden``."""
        waiting = self._waiting.pop(fd, None)
        if waiting is None or self._loop is None:
            return
        sock, uid, timer = waiting
        timer.cancel()
        self._loop.remove_reader(fd)
        self._strangers[uid] -= 1
        if not self._strangers[uid]:
            del self._strangers[uid]
        _drained(sock)
        _say_and_close(sock, _FORBIDDEN)
        self._open -= 1
        self._resume_accepting()

    def _within_connect_rate(self, uid: int) -> bool:
        """Whether ``uid`` may open another connection now (a parent always may)."""
        kind = self._kind.get(uid)
        if kind == "parent":
            return True
        bucket = self._connects.get(uid)
        if bucket is None:
            if len(self._connects) >= 4096:  # forget the uids that have been quiet
                self._connects = {u: b for u, b in self._connects.items()
                                  if b.take(0) and b.tokens < b.burst}
            stranger = kind == "stranger"
            rate = STRANGER_CONNECTS_PER_SECOND if stranger else CONNECTS_PER_SECOND
            burst = STRANGER_CONNECTS_BURST if stranger else CONNECTS_BURST
            bucket = self._connects[uid] = TokenBucket(burst, rate=rate, burst=burst)
        if bucket.take(1):
            return True
        self._turned_away[uid] = self._turned_away.get(uid, 0) + 1
        if time.monotonic() - self._said_flood > 60:
            self._said_flood = time.monotonic()
            counts = ", ".join(f"uid {u}: {n}" for u, n in sorted(self._turned_away.items()))
            self._turned_away.clear()
            log.warning("someone is flooding the socket with connections; closed unread "
                        "past the rate of a uid (%s) (said once a minute)", counts)
        return False

    def _decided(self, uid: int, kind: str) -> None:
        """What the daemon decided about ``uid``: it sets the uid's rate of connections."""
        if self._kind.get(uid, "child") != kind:  # a new uid was rated as a child
            if len(self._kind) >= 65536:
                self._kind.clear()
            self._connects.pop(uid, None)  # rated anew, as what it is
        self._kind[uid] = kind

    async def _serve_socket(self, sock: socket.socket, peer: Peer, admission: Admission,
                            counted: bool) -> None:
        """Serve an admitted connection; ``counted``: already in its uid's connections
        (else it is counted once the loop has had its turn, or told "too many")."""

        def uncount() -> None:
            nonlocal counted
            if counted:
                counted = False
                self._per_uid[peer.uid] -= 1
                if not self._per_uid[peer.uid]:
                    del self._per_uid[peer.uid]
                    self._buckets.pop(peer.uid, None)

        try:
            sock.setblocking(False)
            reader, writer = await asyncio.open_unix_connection(sock=sock, limit=MAX_LINE + 1)
            if not counted:
                if self._per_uid.get(peer.uid, 0) >= MAX_CONNECTIONS_PER_UID:
                    writer.write(_TOO_MANY)
                    writer.close()
                    with contextlib.suppress(Exception):
                        await writer.wait_closed()
                    return
                counted = True
                self._per_uid[peer.uid] = self._per_uid.get(peer.uid, 0) + 1
            await self._serve(reader, writer, peer, admission, uncount)
        except Exception:  # a connection that breaks at its start breaks only itself
            log.debug("a connection failed", exc_info=True)
            sock.close()
        finally:
            uncount()
            self._open -= 1
            self._resume_accepting()

    def broadcast(self, method: str, params: dict[str, Any],
                  audience: Callable[[Connection], bool] = lambda c: True) -> None:
        data: bytes | None = None
        for connection in list(self.connections):
            if connection.subscribed and not connection.closed and audience(connection):
                data = data or encode(notification(method, params))
                connection.send_bytes(data, LAGGED)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     peer: Peer, admission: Admission, uncount: Callable[[], None]) -> None:
        connection = Connection(peer, writer)
        connection.context.update(admission.context)
        if admission.limited:
            connection.bucket = self._buckets.setdefault(peer.uid, TokenBucket(
                RATE_BURST, rate=RATE_PER_SECOND, burst=RATE_BURST))
        self.connections.add(connection)
        try:
            await self._read_lines(reader, connection)
        finally:
            self.connections.discard(connection)
            uncount()  # read no more: its uid may open another (its descriptor stays counted)
            connection.close()
            await connection.ended()

    async def _read_lines(self, reader: asyncio.StreamReader, connection: Connection) -> None:
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
            await asyncio.sleep(0)  # one line at a time: timers and other peers go first

    def _encoded(self, answer: Any) -> bytes:
        """``encode(answer)``; a ``SharedResult`` is encoded once for all its answers."""
        if not (isinstance(answer, dict) and isinstance(answer.get("result"), SharedResult)
                and list(answer) == ["jsonrpc", "id", "result"]):
            return encode(answer)
        result = answer["result"]
        if self._shared is None or self._shared[0] is not result:
            self._shared = (result, encode(result)[:-1])  # (kept: its id is never reused)
        return (b'{"jsonrpc":"2.0","id":' + encode(answer["id"])[:-1] + b',"result":'
                + self._shared[1] + b"}\n")

    def _answer_with(self, connection: Connection, answer: Any) -> None:
        data = self._encoded(answer)
        if len(data) > MAX_UNSENT:
            connection.give_up(error_response(None, RpcError(
                ANSWER_TOO_LARGE, f"the answer would be larger than {MAX_UNSENT} bytes; "
                "ask for less (a smaller batch or page); closing the connection")))
            return
        connection.send_bytes(data)

    async def _handle_line(self, connection: Connection, line: bytes) -> None:
        allowed = connection.take_tokens()
        try:
            message = parse_line(line)
        except RpcError as exc:
            connection.send(error_response(None, exc if allowed else _SLOW_DOWN))
            return
        if not allowed:
            self._refuse_each(connection, message)
            return
        if isinstance(message, list):
            if not message or len(message) > MAX_BATCH:
                connection.send(error_response(None, RpcError(
                    INVALID_REQUEST, f"a batch holds from 1 to {MAX_BATCH} requests")))
                return
            if not connection.take_tokens(len(message) - 1):
                self._refuse_each(connection, message)
                return
            answers = []
            for item in message:
                answer = await self._answer(connection, item)
                if answer is not None:
                    answers.append(answer)
            if answers and not connection.closed:
                self._answer_with(connection, answers)
            return
        answer = await self._answer(connection, message)
        if answer is not None and not connection.closed:
            self._answer_with(connection, answer)

    def _count(self, connection: Connection) -> None:
        uid = connection.peer.uid
        if uid not in self.served and len(self.served) >= 4096:
            self.served.clear()
        self.served[uid] = self.served.get(uid, 0) + 1

    def _refuse_each(self, connection: Connection, message: Any) -> None:
        """Rate limited: each request refused under its own id, so its caller knows."""
        items = message if isinstance(message, list) else [message]
        refusals = [error_response(_request_id(item), _SLOW_DOWN) for item in items
                    if not (isinstance(item, dict) and "id" not in item)]  # notifications
        if isinstance(message, list) and refusals:
            self._answer_with(connection, refusals[:MAX_BATCH])
        elif refusals or message == []:
            connection.send(refusals[0] if refusals else error_response(None, _SLOW_DOWN))

    async def _answer(self, connection: Connection, item: Any) -> dict[str, Any] | None:
        try:
            request = parse_request(item)
        except RpcError as exc:
            return error_response(_request_id(item), exc)
        self._count(connection)
        try:
            result = await self.handler(request, connection)
        except RpcError as exc:
            return None if request.is_notification else error_response(request.id, exc)
        except Exception:  # the daemon never crashes on input
            log.exception("internal error answering %s", request.method)
            error = RpcError(INTERNAL_ERROR, f"internal error in {request.method}")
            return None if request.is_notification else error_response(request.id, error)
        return None if request.is_notification else response(request.id, result)
