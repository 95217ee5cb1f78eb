"""A small org.freedesktop.Notifications service for tests (dbus-fast), on the session bus
named by DBUS_SESSION_BUS_ADDRESS. Prints "ready", then one JSON line per notification."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

INTERFACE = "org.freedesktop.Notifications"
count = 0


def answer(message: Message) -> Message | None:
    """Notify, GetCapabilities and GetServerInformation; an error for anything else."""
    global count
    if message.message_type != MessageType.METHOD_CALL or message.interface != INTERFACE:
        return None
    if message.member == "Notify":
        app, replaces, _icon, summary, body, _actions, hints, _timeout = message.body
        count += 1
        urgency = hints.get("urgency")
        print(json.dumps({"app": app, "replaces": replaces, "summary": summary, "body": body,
                          "urgency": urgency.value if urgency else None, "id": count}),
              flush=True)
        return Message.new_method_return(message, "u", [count])
    if message.member == "GetCapabilities":
        return Message.new_method_return(message, "as", [["body"]])
    if message.member == "GetServerInformation":
        return Message.new_method_return(message, "ssss", ["fake", "shepherd-tests", "1", "1.2"])
    return Message.new_error(message, "org.freedesktop.DBus.Error.UnknownMethod", "unknown")


async def main() -> None:
    bus = await MessageBus(bus_type=BusType.SESSION).connect()
    bus.add_message_handler(answer)
    await bus.request_name(INTERFACE)
    print("ready", flush=True)
    await bus.wait_for_disconnect()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    sys.exit(0)
