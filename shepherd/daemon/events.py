"""What the daemon tells the world: events published to a sink it is given.

The daemon never knows who listens. ``methods.py`` gives it a sink that sends
each event to subscribed connections: every admin, and the child the event is
about (events about no child go to admins only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class DaemonEvent:
    kind: str  # session_started, warning_issued, store_recovered, ...
    data: Mapping[str, Any] = field(default_factory=dict)
    user: str | None = None  # the child it is about; None: for admins only

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "user": self.user, **self.data}


class EventSink(Protocol):
    def publish(self, event: DaemonEvent) -> None:
        """Deliver without waiting: enforcement never waits on a listener."""

    def has_agent(self, user: str) -> bool:
        """True while a ``shepherd agent`` of that child listens (it shows the desktop
        notifications, so the daemon does not run ``notify-send`` too)."""


class Discard:
    """A sink for a daemon nobody listens to (tests, tools)."""

    def publish(self, event: DaemonEvent) -> None:
        pass

    def has_agent(self, user: str) -> bool:
        return False
