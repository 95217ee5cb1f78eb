"""Hearing the other machines: ``LISTEN shepherd`` on a connection and a thread of its own.

A machine that changes shared state ends its transaction with ``NOTIFY
shepherd`` (see ``store.py``); the payload names the machine, the kind of
change and the child. This thread waits on the connection's socket (and on a
pipe that wakes it to stop), so it costs nothing while the household is quiet,
and hands each other machine's notification to the event loop at once. After
every (re)connection it reports ``{"k": "connected"}``: notifications sent while
it was away are lost, so the daemon reads the household again. A machine's own
notifications are dropped (it knows what it did), but for ``migrated``: ``store
migrate`` copies history in under this machine's name while its daemon runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from shepherd.store.connection import StoreUnavailable
from shepherd.store.household.connect import connect, describe
from shepherd.store.household.store import CHANNEL

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0


class Listener:
    def __init__(self, url: str, machine: str, loop: asyncio.AbstractEventLoop,
                 on_change: Callable[[dict[str, Any]], None]) -> None:
        self.url = url
        self.machine = machine
        self.loop = loop
        self.on_change = on_change
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="household-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _tell(self, payload: dict[str, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed
            self.loop.call_soon_threadsafe(self.on_change, payload)

    def _run(self) -> None:
        backoff = RETRY_FIRST_S
        while not self._stop.is_set():
            try:
                conn = connect(self.url, self.machine, "listen")
            except StoreUnavailable as exc:
                log.debug("household listener: %s", exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
                continue
            try:
                conn.execute(f"LISTEN {CHANNEL}")
                backoff = RETRY_FIRST_S
                self._tell({"k": "connected"})
                self._listen(conn)
            except psycopg.Error as exc:
                if not self._stop.is_set():
                    log.warning("household listener lost its connection: %s", describe(exc))
                    self._tell({"k": "disconnected"})
                    self._stop.wait(backoff)
            finally:
                with contextlib.suppress(psycopg.Error):
                    conn.close()

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([conn.fileno(), self._wake_r], [], [])
            if self._wake_r in readable:
                return
            while True:
                batch = list(conn.notifies(timeout=0))
                if not batch:
                    break
                for note in batch:
                    try:
                        payload = json.loads(note.payload)
                    except ValueError:
                        continue
                    if isinstance(payload, dict) and (payload.get("m") != self.machine
                                                      or payload.get("k") == "migrated"):
                        self._tell(payload)
