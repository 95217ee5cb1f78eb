"""The logind source: the children's sessions on the system bus, followed by signals.

At start it lists the sessions (``ListSessions``) and reads the properties of the
children's (``GetAll``); from then on it only listens: ``PropertiesChanged`` of
``org.freedesktop.login1.Session`` (``Active``, ``LockedHint``, ``IdleHint``,
``IdleSinceHintMonotonic``), ``SessionNew`` / ``SessionRemoved``, and
``PrepareForSleep`` (the machine woke: deadlines must be looked at now). No
timer runs while the bus is there, so a paused session costs no wake-ups.

Only messages from the current owner of ``org.freedesktop.login1`` are believed:
signals may be sent to any connection on the system bus, and a child could send
one saying its screen is locked. (A child can still call logind's own
``SetLockedHint``/``SetIdleHint`` on its session; the README says so.) When the
bus or logind goes away, every child is reported there (time is counted) and the
connection is tried again, less and less often.

A child may flap their own lock hint as fast as logind answers (tens of thousands of
signals a second), and so may any other account with a session (a guest): every one
would be read here, on the daemon's loop. When the sessions (anyone's: the match
delivers them all) signal more than ``STORM_SIGNALS`` changes within a second, the
watch stops hearing them (``RemoveMatch``: the bus daemon filters them out) and reads
the sessions once every ``STORM_QUIET_S`` instead, listening again in between; as soon
as it storms again it stops again. So a storm costs a bounded amount, and a change is
seen at most ``STORM_QUIET_S`` late while it lasts (a lock seen late is counted: fail
closed).

Uses ``dbus-fast``: asyncio-native, maintained, pure Python with optional
compiled parts, and it needs no libsystemd, so it works where systemd is not
PID 1 (tests run a private ``dbus-daemon``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when first connecting: a daemon whose policy never pauses
    from dbus_fast import Message  # for a locked screen never loads it (issue 13, start-up)
    from dbus_fast.aio import MessageBus

from shepherd.presence.hints import HERE, Presence, SeatSession, presence_of
from shepherd.timeouts import within

log = logging.getLogger("shepherd.presence")

LOGIND = "org.freedesktop.login1"
MANAGER_PATH = "/org/freedesktop/login1"
MANAGER = "org.freedesktop.login1.Manager"
SESSION = "org.freedesktop.login1.Session"
PROPERTIES = "org.freedesktop.DBus.Properties"
BUS = "org.freedesktop.DBus"
WATCHED = frozenset({"Active", "LockedHint", "IdleHint", "IdleSinceHintMonotonic"})
CALL_TIMEOUT_S = 5.0
STORM_SIGNALS = 200  # changes of any session within a second: a storm
STORM_QUIET_S = 1.0  # while it storms: read once this often, not by signals
STORM_SAY_S = 60.0  # a storm is logged at most this often (bursts: one line, a count)
STORM_EPISODE_S = 60.0  # storms of one account this close together are one episode
RETRY_S = (5.0, 15.0, 60.0, 300.0)  # while the bus or logind is away

RULES = (
    f"type='signal',sender='{LOGIND}',interface='{PROPERTIES}',"
    f"member='PropertiesChanged',arg0='{SESSION}'",
    f"type='signal',sender='{LOGIND}',interface='{MANAGER}',path='{MANAGER_PATH}'",
    f"type='signal',sender='{BUS}',interface='{BUS}',member='NameOwnerChanged',arg0='{LOGIND}'",
)


NOT_RUNNING = "logind is not running"
# Error replies that mean nobody owns logind's name: logind is not running.
NOBODY = frozenset({"org.freedesktop.DBus.Error.NameHasNoOwner",
                    "org.freedesktop.DBus.Error.ServiceUnknown"})


class LogindGone(Exception):
    """logind did not answer as it should (not on the bus, an error reply, no reply).

    ``str()`` is the raw error (for the log and ``--json``); ``words`` what it means to a
    parent, for the status sentence."""

    def __init__(self, detail: str, words: str = "logind did not answer") -> None:
        super().__init__(detail)
        self.words = words


@dataclass
class Flap:
    """An episode of storms of one account's sessions, kept for the parent (status).

    ``child``: the watched child's name, None for any other account (a guest).
    ``began``/``last``: monotonic; ``heard``: changes read (a floor: most are never read
    while it storms); ``storms``: how many storms the episode had."""
    child: str | None
    began: float
    last: float
    heard: int = 0
    storms: int = 0


class LogindWatch:
    """Follows the children's logind sessions and reports each child's ``Presence``.

    ``children``: login name → uid. ``on_change(name, presence)`` is called on the
    loop whenever what a child's screen says changes; ``on_problem(sentence | None)``
    when the source is lost or back; ``on_wake()`` after a suspend.
    """

    def __init__(self, children: Mapping[str, int],
                 on_change: Callable[[str, Presence], None],
                 on_problem: Callable[[str | None], None] | None = None,
                 on_wake: Callable[[], None] | None = None) -> None:
        self._names = {uid: name for name, uid in children.items()}
        self._on_change = on_change
        self._on_problem = on_problem or (lambda problem: None)
        self._on_wake = on_wake or (lambda: None)
        self._bus: MessageBus | None = None
        self._owner: str | None = None
        self._sessions: dict[str, SeatSession] = {}  # by object path
        self._reading: dict[str, bool] = {}  # being read: path -> changed meanwhile
        self._reported: dict[str, Presence] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.problem: str | None = "not started yet"  # words, for a parent
        self.problem_detail: str | None = None  # the raw error, for the log and --json
        self._burst_start = 0.0
        self._burst = 0  # changes heard since _burst_start
        self._storming: asyncio.Event | None = None  # riding out a storm (set: it goes on)
        self.storms = 0  # how many storms were ridden out (tests, logs)
        self._burst_paths: Counter[str] = Counter()  # this burst's changes, by session
        self.flaps: dict[str | None, Flap] = {}  # the latest episode, by child (None: others)
        self._said_at = -STORM_SAY_S  # monotonic: the last time a storm was logged
        self._unsaid = 0  # storms since then, not logged

    # -- life cycle -------------------------------------------------------------------
    async def start(self) -> bool:
        """Connect, subscribe and read the children's sessions. False: ``problem`` says why."""
        from dbus_fast import BusType
        from dbus_fast.aio import MessageBus

        try:
            bus = await within(MessageBus(bus_type=BusType.SYSTEM).connect(),
                                         CALL_TIMEOUT_S)
        except Exception as exc:  # no socket, refused, authentication: all the same here
            self._lost("the system bus cannot be reached", _brief(exc))
            return False
        if self._closed:  # closed while it connected (a daemon stopped right after READY=1)
            bus.disconnect()
            return False
        self._bus = bus
        bus.add_message_handler(self._on_message)
        try:
            for rule in RULES:
                await self._call(BUS, "/org/freedesktop/DBus", BUS, "AddMatch", "s", [rule])
            [owner] = await self._call(BUS, "/org/freedesktop/DBus", BUS, "GetNameOwner", "s",
                                       [LOGIND])
        except LogindGone as exc:
            self._lost(exc.words, str(exc), keep_bus=True)
            self._watch_bus(bus)
            return False
        self._owner = str(owner)
        self._watch_bus(bus)
        return await self._load_all()

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    def set_children(self, children: Mapping[str, int]) -> None:
        """The policy changed: follow these children (sessions are read again)."""
        self._names = {uid: name for name, uid in children.items()}
        self._reported = {k: v for k, v in self._reported.items() if k in children}
        if self._bus is not None and self._owner is not None:
            self._spawn(self._load_all())

    def presence(self, name: str) -> Presence:
        return self._reported.get(name, HERE)

    # -- reading ----------------------------------------------------------------------
    async def _load_all(self) -> bool:
        # Filled in place: a session that signals its arrival meanwhile is kept.
        self._sessions.clear()
        try:
            [listed] = await self._call(LOGIND, MANAGER_PATH, MANAGER, "ListSessions")
            for _id, uid, _name, _seat, path in listed:
                if int(uid) in self._names:
                    session = await self._read_fresh(str(path))
                    if session is not None:
                        self._sessions[str(path)] = session
        except LogindGone as exc:
            # After logind left, this is its name without an owner: not running.
            self._lost(exc.words if self._owner is not None else NOT_RUNNING, str(exc),
                       keep_bus=True)
            return False
        if self.problem is not None:
            self.problem = self.problem_detail = None
            self._on_problem(None)
        for name in self._names.values():
            self._report(name)
        return True

    async def _read_fresh(self, path: str) -> SeatSession | None:
        """Read a session; again if it signalled a change while the answer was on its way
        (a signal handled before the reading task resumes would otherwise be lost). None
        when it is gone, or when another task reads it already (that one keeps it)."""
        if path in self._reading:
            self._reading[path] = True
            return None
        self._reading[path] = False
        try:
            while True:
                session = await self._read(path)
                if session is None or not self._reading[path]:
                    return session
                self._reading[path] = False
        finally:
            del self._reading[path]

    async def _read(self, path: str) -> SeatSession | None:
        """A session's properties; None when it is gone already."""
        try:
            [props] = await self._call(LOGIND, path, PROPERTIES, "GetAll", "s", [SESSION])
        except LogindGone:
            return None
        values = {k: v.value for k, v in props.items()}
        try:
            since = int(values.get("IdleSinceHintMonotonic", 0))
            return SeatSession(
                id=str(values.get("Id", path.rsplit("/", 1)[-1])),
                uid=int(values["User"][0]), type=str(values.get("Type", "")),
                session_class=str(values.get("Class", "")),
                active=bool(values.get("Active", True)),
                locked=bool(values.get("LockedHint", False)),
                idle=bool(values.get("IdleHint", False)),
                idle_since_mono=since / 1e6 if since > 0 else None)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            log.warning("logind session %s: unreadable properties (%s)", path, exc)
            return None

    async def _call(self, destination: str, path: str, interface: str, member: str,
                    signature: str = "", body: list[Any] | None = None) -> list[Any]:
        from dbus_fast import Message, MessageType

        bus = self._bus
        if bus is None:
            raise LogindGone("no connection")
        try:
            reply = await within(bus.call(Message(
                destination=destination, path=path, interface=interface, member=member,
                signature=signature, body=body or [])), CALL_TIMEOUT_S)
        except Exception as exc:  # timeout, or the connection broke under the call
            raise LogindGone(_brief(exc)) from None
        if reply is None or reply.message_type == MessageType.ERROR:
            detail = reply.body[0] if reply is not None and reply.body else ""
            name = reply.error_name if reply is not None else None
            raise LogindGone(f"{name or 'no reply'} {detail}".strip(),
                             NOT_RUNNING if name in NOBODY
                             else "logind answered with an error" if name
                             else "logind did not answer")
        return list(reply.body)

    # -- listening --------------------------------------------------------------------
    def _on_message(self, message: Message) -> bool | None:
        from dbus_fast import MessageType

        if message.message_type != MessageType.SIGNAL:
            return None
        try:
            self._signal(message)
        except Exception:  # a malformed signal must not hurt the daemon
            log.exception("could not read a %s signal", message.member)
        return None

    def _signal(self, message: Message) -> None:
        if message.interface == BUS and message.member == "NameOwnerChanged":
            if message.sender != BUS or not message.body or message.body[0] != LOGIND:
                return
            self._owner = str(message.body[2]) or None
            if self._owner is None:
                self._lost(NOT_RUNNING, "logind left the system bus", keep_bus=True)
            else:
                log.info("logind is back on the system bus: reading the sessions again")
                self._spawn(self._load_all())
            return
        if self._owner is None or message.sender != self._owner:
            return  # not from logind: believed from nobody else
        if message.interface == PROPERTIES and message.member == "PropertiesChanged":
            interface, changed, invalidated = message.body
            if interface == SESSION:
                # Every session's, a child's or not: the match delivers them all, so a
                # guest account's flood costs as much to read (and is ridden out the same).
                self._counted(str(message.path))
            if interface == SESSION and message.path in self._reading:
                self._reading[message.path] = True  # being read: read it once more
            elif interface == SESSION and message.path in self._sessions:
                self._changed(message.path, {k: v.value for k, v in changed.items()},
                              set(invalidated))
        elif message.interface == MANAGER and message.path == MANAGER_PATH:
            if message.member == "SessionNew":
                self._spawn(self._added(str(message.body[1])))
            elif message.member == "SessionRemoved":
                gone = self._sessions.pop(str(message.body[1]), None)
                if gone is not None:
                    self._report(self._names.get(gone.uid))
            elif message.member == "PrepareForSleep" and message.body == [False]:
                self._on_wake()

    def _changed(self, path: str, changed: dict[str, Any], invalidated: set[str]) -> None:
        session = self._sessions[path]
        since = changed.get("IdleSinceHintMonotonic")
        self._sessions[path] = SeatSession(
            session.id, session.uid, session.type, session.session_class,
            active=bool(changed.get("Active", session.active)),
            locked=bool(changed.get("LockedHint", session.locked)),
            idle=bool(changed.get("IdleHint", session.idle)),
            idle_since_mono=session.idle_since_mono if since is None
            else (int(since) / 1e6 if int(since) > 0 else None))
        self._report(self._names.get(session.uid))
        if invalidated & WATCHED:  # told only that they changed: read them
            self._spawn(self._added(path))

    async def _added(self, path: str) -> None:
        session = await self._read_fresh(path)
        if session is None or session.uid not in self._names:
            return
        self._sessions[path] = session
        self._report(self._names[session.uid])

    def _report(self, name: str | None) -> None:
        if name is None:
            return
        uid = next((u for u, n in self._names.items() if n == name), None)
        now = presence_of(s for s in self._sessions.values() if s.uid == uid)
        if self._reported.get(name, HERE) != now or name not in self._reported:
            self._reported[name] = now
            self._on_change(name, now)

    # -- a storm of changes ------------------------------------------------------------
    def _counted(self, path: str) -> None:
        now = time.monotonic()
        if now - self._burst_start >= 1.0:
            self._burst_start, self._burst = now, 0
            self._burst_paths.clear()
        self._burst += 1
        self._burst_paths[path] += 1
        if self._burst <= STORM_SIGNALS:
            return
        if self._storming is None:
            self._storming = asyncio.Event()
            self._spawn(self._ride_out())
        else:
            self._storming.set()

    async def _ride_out(self) -> None:
        """Stop hearing the sessions' changes; read them once every ``STORM_QUIET_S``, and
        listen again in between, until a period passes without a storm."""
        self.storms += 1
        who = self._note_flap(new_storm=True)
        now = time.monotonic()
        if now - self._said_at >= STORM_SAY_S:  # bursts of storms: one line a minute
            more = (f"; {self._unsaid} more storm(s) since the last such line"
                    if self._unsaid else "")
            log.warning("presence: %s's sessions change more than %d times a second (a lock "
                        "or idle flapped on purpose?): read once a second while it lasts%s",
                        who or "an account that is not a child's", STORM_SIGNALS, more)
            self._said_at, self._unsaid = now, 0
        else:
            self._unsaid += 1
        deaf = False
        try:
            while not self._closed:
                self._note_flap(new_storm=False)
                await self._call(BUS, "/org/freedesktop/DBus", BUS, "RemoveMatch", "s",
                                 [RULES[0]])
                deaf = True
                await asyncio.sleep(STORM_QUIET_S)
                assert self._storming is not None
                self._storming.clear()
                self._burst_start, self._burst = time.monotonic(), 0
                self._burst_paths.clear()
                await self._call(BUS, "/org/freedesktop/DBus", BUS, "AddMatch", "s",
                                 [RULES[0]])
                deaf = False
                if not await self._load_all():
                    return
                try:
                    await within(self._storming.wait(), STORM_QUIET_S)
                except TimeoutError:
                    log.debug("presence: the storm of changes is over: following signals")
                    return
        except LogindGone:
            # The bus broke under the call: a new connection subscribes afresh. Else
            # never left deaf to the sessions' changes: listen again at once.
            if deaf and self._bus is not None and not self._closed:
                self._lost("the system bus did not answer",
                           "a call failed while changes stormed")
                self._spawn(self._retry())  # counted meanwhile; then subscribed afresh
        finally:
            self._storming = None

    def _note_flap(self, new_storm: bool) -> str | None:
        """Put this burst's changes on the episode of whoever changed most (a child, or
        None for any other account); the one who storms now."""
        if not self._burst_paths:
            return None
        now = time.monotonic()
        path, _ = self._burst_paths.most_common(1)[0]
        session = self._sessions.get(path)
        who = self._names.get(session.uid) if session is not None else None
        flap = self.flaps.get(who)
        if flap is None or now - flap.last > STORM_EPISODE_S:
            flap = self.flaps[who] = Flap(who, began=now, last=now)
        flap.last = now
        flap.heard += sum(self._burst_paths.values())
        flap.storms += new_storm
        self._burst_paths.clear()
        return who

    # -- losing it --------------------------------------------------------------------
    def _lost(self, problem: str, detail: str, keep_bus: bool = False) -> None:
        """Cannot see: every child is there (counted), and say so once. ``problem`` is
        read by a parent (status); ``detail``, the raw error, goes to the log and --json."""
        if not keep_bus and self._bus is not None:
            self._bus.disconnect()
            self._bus = None
        self._sessions.clear()
        for name in self._names.values():
            self._report(name)
        if problem != self.problem:
            self.problem, self.problem_detail = problem, detail
            log.warning("presence: %s (%s); counting running time", problem, detail)
            self._on_problem(problem)
        else:
            log.info("presence: still %s (%s)", problem, detail)

    def _watch_bus(self, bus: MessageBus) -> None:
        async def watch() -> None:
            with contextlib.suppress(Exception):
                await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
            if self._closed or self._bus is not bus:
                return
            self._bus = None
            self._owner = None
            self._lost("the system bus connection was lost", "disconnected")
            await self._retry()

        self._spawn(watch())

    async def _retry(self) -> None:
        for delay in (*RETRY_S, *([RETRY_S[-1]] * 10_000)):
            await asyncio.sleep(delay)
            if self._closed or await self.start() or self._bus is not None:
                return  # connected (logind itself is awaited through NameOwnerChanged)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _brief(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
