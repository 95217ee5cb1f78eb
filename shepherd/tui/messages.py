"""The app's own messages, all in one place.

The daemon link posts these to the app; the app updates its ``LiveState`` and
tells the screens with ``StateChanged``. Widgets ask for actions with ``Act``.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

Json = dict[str, Any]


class Connected(Message):
    """The daemon answered ``hello`` (who we are) and the event stream is on."""

    def __init__(self, hello: Json) -> None:
        super().__init__()
        self.hello = hello


class Disconnected(Message):
    """The daemon cannot be reached; the link tries again in ``retry_in`` seconds."""

    def __init__(self, reason: str, retry_in: float) -> None:
        super().__init__()
        self.reason = reason
        self.retry_in = retry_in


class StatusFetched(Message):
    def __init__(self, status: Json, received: float) -> None:
        super().__init__()
        self.status = status
        self.received = received


class RequestsFetched(Message):
    def __init__(self, requests: list[Json]) -> None:
        super().__init__()
        self.requests = requests


class WarningsFetched(Message):
    def __init__(self, warnings: list[Json]) -> None:
        super().__init__()
        self.warnings = warnings


class DaemonEvent(Message):
    """One ``event`` notification from the daemon (``type`` says which)."""

    def __init__(self, event: Json) -> None:
        super().__init__()
        self.event = event


class StateChanged(Message):
    """Sent to screens: the app's ``LiveState`` has news; redraw from it."""
