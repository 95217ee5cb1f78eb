"""The TUI's one connection to the daemon, kept alive by a worker.

It connects, says ``hello``, subscribes, and fetches a picture (status, and for a
parent the pending requests and latest warnings). Events are passed on at once
and trigger a fresh picture; so does a known moment passing. A quiet connection is
asked ``hello`` every few seconds, so that a daemon that froze is seen as one that
stopped answering even while nothing happens. When the connection is lost it says
so and tries again with backoff (0.5 s doubling to 10 s).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.message import Message

from shepherd.ipc.client import AsyncClient, DaemonUnreachable, NoAnswer
from shepherd.ipc.protocol import RpcError
from shepherd.tui.messages import (
    Connected,
    DaemonEvent,
    Disconnected,
    RequestsFetched,
    StatusFetched,
    WarningsFetched,
)
from shepherd.words import plain_lines

Opener = Callable[[Callable[[str, dict[str, Any]], None]], Awaitable[AsyncClient]]
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0
SETTLE_S = 0.05
ACTION_TIMEOUT_S = 30.0
KEEPALIVE_S = 3.0  # a quiet connection is asked ``hello`` this often: a frozen daemon shows
KEEPALIVE_TIMEOUT_S = 5.0  # and is said to be unreachable after this long without an answer



def shown(value: Any) -> Any:
    """A daemon's answer with every text made safe to draw: a child's note or a label
    may hold escape sequences, which the terminal must show, never obey (the TUI only
    shows these texts; ids are checked by the policy and never hold any)."""
    if isinstance(value, str):
        return plain_lines(value)
    if isinstance(value, list):
        return [shown(v) for v in value]
    if isinstance(value, dict):
        return {k: shown(v) for k, v in value.items()}
    return value

class NotConnected(Exception):
    """An action while the daemon is unreachable."""


class Unanswered(NotConnected):
    """An action sent that got no answer in time: it may yet be done."""


class Lost(Unanswered):
    """An action sent on a connection that broke before its answer came: the daemon may
    have done it (it read the request, then died or was cut off)."""


class DaemonLink:
    def __init__(self, socket_path: Path, post: Callable[[Message], Any],
                 next_change: Callable[[], float], clock: Callable[[], float] = time.monotonic,
                 opener: Opener | None = None) -> None:
        self.socket_path = socket_path
        self._post = post
        self._next_change = next_change
        self._clock = clock
        self._opener = opener
        self.client: AsyncClient | None = None
        self.role = ""
        self._wanted = asyncio.Event()
        self._closing: asyncio.Future[None] | None = None
        self.action_timeout = ACTION_TIMEOUT_S
        self.keepalive = KEEPALIVE_S
        self.keepalive_timeout = KEEPALIVE_TIMEOUT_S
        self._in_flight = 0  # actions waiting for their answer (they have their own wait)
        self.instance = ""  # the daemon process that answered ``hello`` (see daemon/once.py)
        self._up = asyncio.Event()

    async def call(self, method: str, **params: Any) -> Any:
        """A call on the live connection; ``NotConnected`` while there is none."""
        client = self.client
        if client is None or client.closed.is_set():
            raise NotConnected("the daemon is not reachable right now")  # never sent
        self._in_flight += 1
        try:
            return shown(await client.call(method, self.action_timeout, **params))
        except NoAnswer as exc:
            self._up.clear()  # that connection is over: ``back`` waits for the next
            raise Unanswered(str(exc)) from None
        except DaemonUnreachable as exc:  # sent, then the connection ended: unknown
            self._up.clear()
            raise Lost(str(exc)) from None
        finally:
            self._in_flight -= 1

    async def back(self) -> str:
        """Once connected (now, or when the daemon answers again): its ``instance``."""
        await self._up.wait()
        return self.instance

    def refresh_soon(self) -> None:
        self._wanted.set()

    async def run(self) -> None:
        backoff = BACKOFF_FIRST_S
        while True:
            reason = await self._session()
            if reason is None:  # it was connected: start the backoff afresh
                backoff = BACKOFF_FIRST_S
                continue
            self._post(Disconnected(reason, backoff))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _open(self) -> AsyncClient:
        if self._opener is not None:
            return await self._opener(self._notice)
        return await AsyncClient.open(self.socket_path, self._notice)

    async def _session(self) -> str | None:
        """One connection's life; the reason it could not start (None: it ran, then ended)."""
        try:
            client = await self._open()
        except DaemonUnreachable as exc:
            return str(exc)
        try:
            hello = await client.call("hello")
            await client.call("subscribe")
        except (DaemonUnreachable, RpcError) as exc:
            await client.close()
            return str(exc)
        self.client = client
        self.role = str(hello.get("role"))
        self.instance = str(hello.get("instance") or "")
        self._up.set()
        self._post(Connected(hello))
        try:
            await self._fetch(initial=True)
            while not client.closed.is_set():
                if not await self._wait(client):  # quiet: is the daemon still there?
                    if self._in_flight == 0:
                        await client.call("hello", self.keepalive_timeout)
                    continue
                if not client.closed.is_set():  # an event, or a known moment passed
                    await asyncio.sleep(SETTLE_S)
                    self._wanted.clear()
                    await self._fetch(initial=False)
        except (DaemonUnreachable, RpcError) as exc:
            client.close_reason = client.close_reason or str(exc)
        finally:
            self.client = None
            self._up.clear()
            reason = client.close_reason or "the connection ended"
            await client.close()
        self._post(Disconnected(reason, 0.0))
        return None

    async def _wait(self, client: AsyncClient) -> bool:
        """Until an event, the connection's end or a known moment (True); False when the
        keep-alive's few seconds passed first, quietly."""
        wanted = asyncio.ensure_future(self._wanted.wait())
        closed = asyncio.ensure_future(client.closed.wait())
        change = self._next_change()
        try:
            await asyncio.wait({wanted, closed}, timeout=min(change, self.keepalive),
                               return_when=asyncio.FIRST_COMPLETED)
            return wanted.done() or closed.done() or change <= self.keepalive
        finally:
            wanted.cancel()
            closed.cancel()

    async def _fetch(self, initial: bool) -> None:
        client = self.client
        if client is None:
            return
        status = shown(await client.call("status"))
        self._post(StatusFetched(status, self._clock()))
        if self.role == "admin":
            self._post(RequestsFetched(shown(await client.call("requests"))))
            if initial:
                page = shown(await client.call("audit.query", types=["warning_issued"],
                                               limit=10))
                self._post(WarningsFetched(list(reversed(page["events"]))))

    def _notice(self, method: str, params: dict[str, Any]) -> None:
        if method == "event":
            self._post(DaemonEvent(shown(params)))
            self._wanted.set()
        elif method == "lagged" and self.client is not None:
            self.client.close_reason = "the TUI fell behind the event stream; reconnecting"
            self._closing = asyncio.ensure_future(self.client.close())
