"""Desktop notifications over the session bus (org.freedesktop.Notifications).

One connection to the child's session bus, kept; a notification that cannot be
shown (no notification server, the bus gone) is logged and the next one tries
to connect again. Notifications about one entry replace the previous one
(a "1 minute left" replaces "5 minutes left" instead of stacking).
"""

from __future__ import annotations

import logging

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

log = logging.getLogger(__name__)

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
URGENCY = {"low": 0, "normal": 1, "critical": 2}


class Notifier:
    def __init__(self, app_name: str = "Shepherd") -> None:
        self.app_name = app_name
        self.bus: MessageBus | None = None
        self._replaces: dict[str, int] = {}

    async def _connect(self) -> MessageBus:
        if self.bus is None or not self.bus.connected:
            self.bus = await MessageBus(bus_type=BusType.SESSION).connect()
        return self.bus

    async def show(self, title: str, body: str, urgency: str = "normal",
                   about: str | None = None) -> int | None:
        """Show one notification; its id, or None when it could not be shown."""
        try:
            bus = await self._connect()
            reply = await bus.call(Message(
                destination=SERVICE, path=PATH, interface=SERVICE, member="Notify",
                signature="susssasa{sv}i",
                body=[self.app_name, self._replaces.get(about or "", 0), "dialog-information",
                      title, body, [], {"urgency": Variant("y", URGENCY.get(urgency, 1))},
                      -1]))
        except Exception as exc:  # no session bus, connection lost: the next one retries
            log.warning("could not show a notification: %s", exc)
            self.bus = None
            return None
        if reply is None or reply.message_type == MessageType.ERROR:
            problem = reply.body[0] if reply is not None and reply.body else "no answer"
            log.warning("the notification server refused a notification: %s", problem)
            return None
        notification_id = int(reply.body[0])
        if about:
            self._replaces[about] = notification_id
        return notification_id

    def close(self) -> None:
        if self.bus is not None:
            self.bus.disconnect()
            self.bus = None
