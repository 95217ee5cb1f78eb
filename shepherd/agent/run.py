"""The agent's loop: subscribe to the daemon, show the child's events, reconnect.

As a notifier (``shepherd agent``) it subscribes as the child's agent, so the
daemon stops running ``notify-send`` for that child while it is connected. As a
status line (``--status-line``) it only prints the time left, once at start,
after every event about the child and every 30 s while a session runs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from shepherd.agent.notifications import Notifier
from shepherd.agent.status_line import status_line
from shepherd.ipc.client import AsyncClient, DaemonUnreachable
from shepherd.localtime import local_zone
from shepherd.words import answer_notes, granted_words

log = logging.getLogger(__name__)

REFRESH_S = 30.0      # the status line while a session runs
RETRY_MAX_S = 30.0    # reconnecting to a daemon that is away
SEVERITY = {"info": "low", "warning": "normal", "critical": "critical"}


def notification_for(event: dict[str, Any], labels: dict[str, str]
                     ) -> tuple[str, str, str] | None:
    """(title, body, urgency) for an event the child should see, else None."""
    kind = event.get("type")
    entry = str(event.get("entry", ""))
    label = str(event.get("label") or labels.get(entry) or entry or "Shepherd")
    if kind == "warning_issued":
        return label, str(event.get("text") or event.get("message") or ""), SEVERITY.get(
            str(event.get("severity")), "normal")
    if kind == "launch_denied":
        return label, str(event.get("text") or f"{label} can't start now"), "normal"
    if kind == "launch_failed":  # its program is missing or closed to the child
        return label, str(event.get("text") or f"{label} could not start"), "normal"
    if kind == "request_answered":
        if event.get("state") == "approved":
            zone = local_zone()
            budget = event.get("budget")  # given in the budget that limits the entry
            notes = answer_notes({**event, "label": budget or label}, datetime.now(zone),
                                 zone, to_child=True)  # a lock, a budget: what it can't use
            said = f"Yes: {granted_words(event, label)}."
            return label, f"{said} {notes}" if notes else said, "normal"
        return label, f"No more time for {label} this time.", "normal"
    return None


class Agent:
    def __init__(self, socket: Path, *, status: bool, out: TextIO = sys.stdout,
                 notifier: Notifier | None = None) -> None:
        self.socket = socket
        self.status = status
        self.out = out
        self.notifier = notifier if notifier is not None else (None if status else Notifier())
        self.child = ""
        self.labels: dict[str, str] = {}
        self.connected = asyncio.Event()  # for tests: subscribed

    async def run(self) -> None:
        retry = 1.0
        while True:
            try:
                await self._session()
                retry = 1.0
            except DaemonUnreachable as exc:
                log.info("the daemon is away (%s): trying again in %.0fs", exc, retry)
                if self.status:
                    self._print({"text": "", "tooltip": "Shepherd is not running",
                                 "class": "away", "full_text": ""})
            self.connected.clear()
            await asyncio.sleep(retry)
            retry = min(retry * 2, RETRY_MAX_S)

    async def _session(self) -> None:
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def notice(method: str, params: dict[str, Any]) -> None:
            if method == "event":
                events.put_nowait(params)

        client = await AsyncClient.open(self.socket, notice)
        try:
            hello = await client.call("hello")
            self.child = str(hello.get("child") or hello.get("name"))
            self.labels = {e["id"]: e.get("label") or e["id"]
                           for e in await client.call("entries")}
            await client.call("subscribe", agent=not self.status)
            self.connected.set()
            running = await self._refresh(client)
            closed = asyncio.ensure_future(client.closed.wait())
            try:
                while not client.closed.is_set():
                    waiting = asyncio.ensure_future(events.get())
                    done, _ = await asyncio.wait(
                        {waiting, closed}, return_when=asyncio.FIRST_COMPLETED,
                        timeout=REFRESH_S if running else None)
                    if waiting not in done:
                        waiting.cancel()
                        if closed in done:
                            break
                        running = await self._refresh(client)
                        continue
                    event = waiting.result()
                    if event.get("user") not in (None, self.child):
                        continue
                    if self.status:
                        running = await self._refresh(client)
                    else:
                        await self._show(event)
            finally:
                closed.cancel()
        finally:
            await client.close()
        raise DaemonUnreachable(client.close_reason or "the connection ended")

    async def _show(self, event: dict[str, Any]) -> None:
        shown = notification_for(event, self.labels)
        if shown is None or self.notifier is None:
            return
        title, body, urgency = shown
        await self.notifier.show(title, body, urgency, about=str(event.get("entry", "")))

    async def _refresh(self, client: AsyncClient) -> bool:
        """Print the status line (status mode); True while a session of the child runs."""
        if not self.status:
            return False
        status = await client.call("status")
        zone = local_zone()
        self.out.write(status_line(status, self.child, datetime.now(zone), zone) + "\n")
        self.out.flush()
        return any(s.get("user") == self.child for s in status.get("sessions", []))

    def _print(self, line: dict[str, Any]) -> None:
        import json

        self.out.write(json.dumps(line) + "\n")
        self.out.flush()
