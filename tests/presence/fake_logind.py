"""A small fake logind on a private bus, driven line by line on stdin (tests, bench).

    python -m tests.presence.fake_logind        # DBUS_SYSTEM_BUS_ADDRESS names the bus

Owns ``org.freedesktop.login1`` and serves what Shepherd reads: ``ListSessions``,
session objects with ``User``, ``Type``, ``Class``, ``Active``, ``LockedHint``,
``IdleHint``, ``IdleSinceHint(Monotonic)``, and the signals logind sends
(``PropertiesChanged`` with the new values, ``SessionNew``, ``SessionRemoved``,
``PrepareForSleep``). Commands, each answered ``ok`` once its signals are sent:

    new ID UID [TYPE [CLASS]]   a session (default wayland, user), active and unlocked
    lock ID | unlock ID         LockedHint
    flap ID N                   LockedHint on and off N times, as fast as the bus takes it
    idle ID [AGO_S] | input ID  IdleHint (the idle began AGO_S seconds ago)
    seat ID 0|1                 Active (another session took the seat, or it is back)
    remove ID                   the session ends
    sleep 0|1                   PrepareForSleep
"""

import asyncio
import sys
import time

from dbus_fast import BusType, Message
from dbus_fast.aio import MessageBus
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method, signal

ROOT = "/org/freedesktop/login1"


class Session(ServiceInterface):
    def __init__(self, session_id: str, uid: int, kind: str, session_class: str) -> None:
        super().__init__("org.freedesktop.login1.Session")
        self.session_id, self.uid, self.kind, self.session_class = (
            session_id, uid, kind, session_class)
        self.path = f"{ROOT}/session/_3{session_id}"
        self.active, self.locked, self.idle = True, False, False
        self.idle_since_us, self.idle_since_mono_us = 0, 0

    @dbus_property(access=PropertyAccess.READ)
    def Id(self) -> "s":  # noqa: F821
        return self.session_id

    @dbus_property(access=PropertyAccess.READ)
    def User(self) -> "(uo)":  # noqa: F821
        return [self.uid, f"{ROOT}/user/_{self.uid}"]

    @dbus_property(access=PropertyAccess.READ)
    def Type(self) -> "s":  # noqa: F821
        return self.kind

    @dbus_property(access=PropertyAccess.READ)
    def Class(self) -> "s":  # noqa: F821
        return self.session_class

    @dbus_property(access=PropertyAccess.READ)
    def Active(self) -> "b":  # noqa: F821
        return self.active

    @dbus_property(access=PropertyAccess.READ)
    def LockedHint(self) -> "b":  # noqa: F821
        return self.locked

    @dbus_property(access=PropertyAccess.READ)
    def IdleHint(self) -> "b":  # noqa: F821
        return self.idle

    @dbus_property(access=PropertyAccess.READ)
    def IdleSinceHint(self) -> "t":  # noqa: F821
        return self.idle_since_us

    @dbus_property(access=PropertyAccess.READ)
    def IdleSinceHintMonotonic(self) -> "t":  # noqa: F821
        return self.idle_since_mono_us

    def set_idle(self, idle: bool, ago: float = 0.0) -> None:
        self.idle = idle
        self.idle_since_us = int((time.time() - ago) * 1e6)
        self.idle_since_mono_us = int((time.monotonic() - ago) * 1e6)
        self.emit_properties_changed({"IdleHint": idle, "IdleSinceHint": self.idle_since_us,
                                      "IdleSinceHintMonotonic": self.idle_since_mono_us})


class Manager(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.freedesktop.login1.Manager")
        self.sessions: dict[str, Session] = {}

    @method()
    def ListSessions(self) -> "a(susso)":  # noqa: F821
        return [[s.session_id, s.uid, f"user{s.uid}", "seat0", s.path]
                for s in self.sessions.values()]

    @signal()
    def SessionNew(self, session_id: str, path: str) -> "so":  # noqa: F821
        return [session_id, path]

    @signal()
    def SessionRemoved(self, session_id: str, path: str) -> "so":  # noqa: F821
        return [session_id, path]

    @signal()
    def PrepareForSleep(self, start: bool) -> "b":  # noqa: F821
        return start


async def serve() -> None:
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    manager = Manager()
    bus.export(ROOT, manager)
    await bus.request_name("org.freedesktop.login1")
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode():
        words = line.split()
        if not words:
            continue
        command, args = words[0], words[1:]
        session = manager.sessions.get(args[0]) if args else None
        if command == "new":
            kind = args[2] if len(args) > 2 else "wayland"
            session = Session(args[0], int(args[1]), kind, args[3] if len(args) > 3 else "user")
            manager.sessions[args[0]] = session
            bus.export(session.path, session)
            manager.SessionNew(session.session_id, session.path)
        elif command == "remove" and session is not None:
            del manager.sessions[args[0]]
            bus.unexport(session.path)
            manager.SessionRemoved(session.session_id, session.path)
        elif command in ("lock", "unlock") and session is not None:
            session.locked = command == "lock"
            session.emit_properties_changed({"LockedHint": session.locked})
        elif command == "flap" and session is not None:
            for n in range(int(args[1])):
                for locked in (not session.locked, session.locked):
                    session.emit_properties_changed({"LockedHint": locked})
                if n % 10 == 9:  # dbus-fast's writer fails (EAGAIN) on a longer queue
                    await bus.call(Message(destination="org.freedesktop.DBus",
                                           path="/org/freedesktop/DBus",
                                           interface="org.freedesktop.DBus", member="GetId"))
        elif command == "idle" and session is not None:
            session.set_idle(True, float(args[1]) if len(args) > 1 else 0.0)
        elif command == "input" and session is not None:
            session.set_idle(False)
        elif command == "seat" and session is not None:
            session.active = args[1] == "1"
            session.emit_properties_changed({"Active": session.active})
        elif command == "sleep":
            manager.PrepareForSleep(args[0] == "1")
        else:
            print(f"error: {line.strip()}", flush=True)
            continue
        # A round trip through the bus: every signal above has left by now.
        await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                               interface="org.freedesktop.DBus", member="GetId"))
        print("ok", flush=True)
    bus.disconnect()


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
