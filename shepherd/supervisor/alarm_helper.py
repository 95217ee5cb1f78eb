"""The alarm's own process: SIGTERM to a session's programs at its deadline (issue 9 F3).

    python -I -S alarm_helper.py FD

Started by the daemon (``alarm.Alarm``), as the daemon's own user, with one end of a
``SOCK_SEQPACKET`` socket pair as FD. It has its own interpreter, so a daemon whose
event loop holds its GIL (parsing a flood of long lines) cannot delay it. It holds
the armed deadlines (``CLOCK_MONOTONIC``, shared by every process) and each
session's cgroup, and at a deadline signals the group's members through pidfds,
each checked to be in the group once its pidfd is open (``cgroups.signal_all``): a
pid used again by a process elsewhere is never signalled. It signals nothing else.

One JSON message each way, a reply to every request, in order:

- ``{"op": "arm", "session": N, "at": MONO, "group": PATH}`` → ``armed``, or
  ``fired`` when this session's SIGTERM has already gone (a later deadline does not
  take it back);
- ``{"op": "arm", "session": N, "at": MONO, "keeper": true}`` with one pidfd passed
  along (``SCM_RIGHTS``): the same for a process-tree session (the fallback without
  cgroups): SIGTERM to its keeper, through that pidfd, which passes it on to every
  descendant. A pidfd names one process for good: once the keeper exited, the
  signal reaches nobody (never a process that got its pid again). The alarm keeps
  its own copy of the descriptor until the deadline fires or is disarmed.
- ``"token": true`` in an arm, with one more descriptor passed along (the last): a
  pipe's read end holding one byte, which the daemon holds too. At the deadline the
  alarm sends the SIGTERM only if it reads that byte; if the daemon read it first (it
  sent the SIGTERM itself: this alarm was stopped or late, or a parent stopped the
  session), the alarm sends nothing and forgets the session. So the programs hear the
  deadline's SIGTERM once, and nobody waits for anybody to decide who sends it.
- ``{"op": "disarm", "session": N}`` → ``disarmed``, ``fired`` or ``unknown``.
- ``{"op": "watch", "session": N, "group": PATH}`` (or ``"keeper": true`` with its
  pidfd) → ``watching``; ``{"op": "unwatch", "session": N}`` → ``unwatched`` or
  ``unknown``: the sessions the daemon knows, deadline or none, whose ends this
  process notes should the daemon die (``outlive``, ``ends.py``).

Each reply is ``{"state": ...}``. A fire is told once, in the reply to the next request
that names the session, and then forgotten; that reply also says how late, by this
process's clock, it woke for the deadline (``woke_ms``) and sent the SIGTERM (``sent_ms``;
a group's: when its signalling began), and the same is written on its stderr (the
daemon's log) as it fires: a late session can be told apart as the alarm's (or the
machine's) lateness or the program's own. As root it runs at nice ``ALARM_NICE`` (a
core as soon as it wakes).

Which wins when a request races a deadline: every deadline passed
by this process's clock fires before the next request is read (fail closed: a
grant or a stop that reaches the alarm after the deadline finds the SIGTERM sent).
A group's members are signalled by a thread of this process while it goes on
answering (a session's thousands of processes must not make it look dead).
The first message it sends is ``{"ready": PID}``. When the daemon's end of the socket
closes (the daemon stopped or died) it exits, unless it was started with a file to
note ends in (``FD ENDS_FD INSTANCE``) and sessions are still watched: then it notes
each one's end as it comes, and goes on sending the deadlines' SIGTERMs, until all
have ended or the next daemon stops it (``outlive``; ``ends.py``). SIGINT, SIGTERM
and SIGHUP are ignored (they are the daemon's). With that file, each deadline's SIGTERM it
sends is noted there too (``ends.note_sigterms``, once every SIGTERM due has left): a
daemon that dies before it hears of it, restarted, sends none again.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import select
import signal
import socket
import stat
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

if __name__ == "__main__":  # -I -S: the package is found next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


from shepherd.priority import ALARM_NICE, hold_autogroup, set_nice
from shepherd.supervisor.cgroups import populated, signal_all
from shepherd.supervisor.ends import boot_id, note_end, note_sigterms, stopping
from shepherd.supervisor.instance import keeper_at, keepers

MESSAGE_MAX = 65536
FDS_MAX = 4  # descriptors read with one request (one is used: more is a bad request)
# The longest single wait: poll's timeout is a C int of milliseconds (24.8 days), and a
# deadline far ahead (a clock far from the daemon's) is simply waited for in steps.
WAIT_MAX_S = 3600.0
CAP_KILL = 5
CAPABILITY_VERSION_3 = 0x20080522
PR_SET_NO_NEW_PRIVS = 38
IN_MODIFY = 0x00000002  # (inotify.py's, without its asyncio)
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
IN_Q_OVERFLOW = 0x00004000
POLL_S = 0.05  # how often an end is looked for where inotify could not be had
# How long an empty session group found at the daemon's end is waited on for its program
# to move in (the starter, a Python process of its own, may take seconds at load).
PENDING_S = 30.0
PENDING_LOOK_S = 0.5  # how often such a group is looked at (its removal is not heard)
# The process-tree fallback: how long, and how often, keepers it was not told of are looked
# for again after the daemon's end (a keeper the daemon forked just before it was killed
# is recognised only once it has exec'd its starter: review-14-s23 F3). Nothing tells of
# such a launch (no empty group, as with cgroups), so the look goes on a little while.
KEEPER_LOOK_S = 2.0
KEEPER_POLL_S = 0.1
SIGNAL_SAY = 100  # a group of more processes is also logged once all are signalled


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def keep_only_kill() -> bool:
    """Of root's powers keep only CAP_KILL (signal another user's programs); reading
    ``cgroup.procs`` and ``/proc/PID/cgroup`` needs none. True when done."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    header = _CapHeader(CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    data[0].effective = data[0].permitted = 1 << CAP_KILL
    return bool(libc.capset(ctypes.byref(header), data) == 0)


def hurry() -> bool:
    """As root: a higher priority (``ALARM_NICE``) than every child's program and the
    daemon (``shepherd.priority``), ahead of them for a core on a loaded machine, its
    scheduling group's too (it leads a session of its own). True when done; not root
    (user mode): as the daemon's own user, at its priority."""
    if not set_nice(ALARM_NICE):
        return False
    hold_autogroup()
    return True


def is_pidfd(fd: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[pidfd]"
    except OSError:
        return False


Target = Path | int  # a session's cgroup, or a pidfd on its keeper (the tree fallback)


def _let_go(target: Target, token: int | None = None) -> None:
    if isinstance(target, int):
        os.close(target)
    if token is not None:
        os.close(token)


def is_pipe(fd: int) -> bool:
    try:
        return stat.S_ISFIFO(os.fstat(fd).st_mode)
    except OSError:
        return False


def claim(token: int | None) -> bool:
    """True when this alarm is the one to send the SIGTERM: it read the token's byte (or
    there is no token). False once the daemon read it (it sent the SIGTERM itself)."""
    if token is None:
        return True
    try:
        return os.read(token, 1) == b"T"
    except OSError:  # (never expected) sent rather than not at all
        return True


class Alarms:
    def __init__(self, report: TextIO | None = None) -> None:
        self.armed: dict[int, tuple[float, Target, int | None]] = {}  # (at, whom, token)
        # A fired session: how late (ms, this process's CLOCK_MONOTONIC) it woke for
        # the deadline and had its SIGTERM sent; told once, with ``fired``.
        self.fired: dict[int, tuple[float, float]] = {}
        self._report = report
        self.workers: list[threading.Thread] = []  # groups being signalled
        # Every session armed and not disarmed, fired or not: where its programs run (a
        # keeper: this process's own copy of its pidfd), for ``outlive``.
        self.watched: dict[int, Target] = {}
        # Told the SIGTERMs sent, (session, monotonic, ms late), once each round's have all
        # left (``Ends.sent``: the next daemon sends none again).
        self.on_sent: Callable[[list[tuple[int, float, float]]], None] | None = None
        # Its daemon gone: the sessions a next daemon said it is stopping (``outlive``;
        # their SIGTERM is that daemon's: review-14-s20 F6), read when a deadline is due.
        self.taken: Callable[[], set[int]] | None = None

    def fire_due(self) -> None:
        """Every deadline passed fires now. A group's members are signalled by a thread
        of their own (thousands of them take a second or more: review-9-s8 H1): this
        one goes on answering requests meanwhile, and a request naming the session is
        told ``fired`` at once (its SIGTERM is on its way and cannot be taken back)."""
        now = time.monotonic()
        sent: list[tuple[int, float, float]] = []
        taken: set[int] | None = None
        for session, (at, target, token) in sorted(self.armed.items(),
                                                   key=lambda item: item[1][0]):
            if at <= now:
                woke = time.monotonic()
                if self.taken is not None and taken is None:
                    taken = self.taken()
                del self.armed[session]
                if taken is not None and session in taken:  # being stopped: not again
                    if token is not None:
                        os.close(token)
                    _let_go(target)
                    self._say(f"shepherd alarm: session {session}: no SIGTERM at its "
                              "deadline: the next daemon is stopping it")
                    continue
                ours = claim(token)
                if token is not None:
                    os.close(token)
                if not ours:  # the daemon sent it (and knows it did): nothing to tell
                    _let_go(target)
                    continue
                if isinstance(target, int):
                    with contextlib.suppress(OSError):  # it is gone: nothing to stop
                        signal.pidfd_send_signal(target, signal.SIGTERM)
                    _let_go(target)
                    sent.append(self._fired(session, at, woke, time.monotonic()))
                    continue
                # (rounded once: the log and the reply say the same figures)
                sent.append(self._fired(session, at, woke, time.monotonic()))
                worker = threading.Thread(target=self._signal_group,
                                          args=(session, at, target), daemon=True)
                self.workers = [w for w in self.workers if w.is_alive()] + [worker]
                worker.start()
        if sent and self.on_sent is not None:  # (after every SIGTERM due has left)
            self.on_sent(sent)

    def _fired(self, session: int, at: float, woke: float,
               sent: float) -> tuple[int, float, float]:
        """``sent``: when its SIGTERM left (a group's: when its signalling began). The
        session, ``sent`` and how late (ms), for ``on_sent``."""
        late = self.fired[session] = (round((woke - at) * 1000, 3),
                                      round((sent - at) * 1000, 3))
        self._say(f"shepherd alarm: session {session}: SIGTERM sent {late[1]:.1f} ms "
                  f"after its deadline (woke {late[0]:.1f} ms late)")
        return session, sent, late[1]

    def _signal_group(self, session: int, at: float, group: Path) -> None:
        with contextlib.suppress(OSError):  # it is gone: nothing to stop
            sent = signal_all(group, signal.SIGTERM)
            if sent > SIGNAL_SAY:
                self._say(f"shepherd alarm: session {session}: SIGTERM sent to all its "
                          f"{sent} processes {(time.monotonic() - at) * 1000:.1f} ms "
                          "after its deadline")

    def _say(self, line: str) -> None:
        if self._report is not None:
            with contextlib.suppress(OSError, ValueError):
                print(line, file=self._report, flush=True)

    def settle(self) -> None:
        """Let every group being signalled be signalled to the end."""
        for worker in self.workers:
            worker.join()

    def wait(self) -> float | None:
        """Seconds until the next deadline (None: none armed)."""
        if not self.armed:
            return None
        left = min(at for at, _, _ in self.armed.values()) - time.monotonic()
        return min(max(0.0, left), WAIT_MAX_S)

    def handle(self, request: dict[str, object], fds: list[int]) -> dict[str, object]:
        """The reply: ``{"state": ...}``; a fire also says ``woke_ms`` and ``sent_ms``.
        ``fds``: the descriptors that came with the request, each kept or closed here."""
        if request.get("op") in ("watch", "unwatch"):  # (a fire is told to the next
            return self._watch(request, fds)           # arm or disarm, not to these)
        token: int | None = None
        target: Target | None = None
        if request.get("op") == "arm":
            rest = fds
            if request.get("token") is True:  # the last descriptor (``claim``)
                if fds and is_pipe(fds[-1]):
                    token, rest = fds[-1], fds[:-1]
                else:
                    rest = [-1]  # a bad request: no target
            target = self._target(request, rest)
            if target is None and token is not None:
                token = None  # (closed below with the rest)
        for fd in fds:
            if fd != target and fd != token:
                os.close(fd)
        session = request.get("session")
        if not isinstance(session, int):
            if target is not None:
                _let_go(target, token)
            return {"state": "bad request"}
        if session in self.fired:
            if target is not None:
                _let_go(target, token)
            woke, sent = self.fired.pop(session)
            return {"state": "fired", "woke_ms": woke, "sent_ms": sent}
        if request.get("op") == "disarm":
            armed = self.armed.pop(session, None)
            if armed is not None:
                _let_go(armed[1], armed[2])
            return {"state": "disarmed" if armed is not None else "unknown"}
        at = request.get("at")
        if (request.get("op") != "arm" or not isinstance(at, (int, float))
                or not math.isfinite(at) or target is None):  # (JSON reads Infinity, NaN)
            if target is not None:
                _let_go(target, token)
            return {"state": "bad request"}
        replaced = self.armed.pop(session, None)
        if replaced is not None:
            _let_go(replaced[1], replaced[2])
        self.armed[session] = (float(at), target, token)
        return {"state": "armed"}

    def _watch(self, request: dict[str, object], fds: list[int]) -> dict[str, object]:
        """``watch`` (its target as an arm's, kept until ``unwatch``) or ``unwatch``."""
        session = request.get("session")
        target = self._target(request, fds) if request["op"] == "watch" else None
        for fd in fds:
            if fd != target:
                os.close(fd)
        if not isinstance(session, int) or (request["op"] == "watch" and target is None):
            if target is not None:
                _let_go(target)
            return {"state": "bad request"}
        watched = self.watched.pop(session, None)
        if watched is not None:
            _let_go(watched)
        if target is None:
            return {"state": "unwatched" if watched is not None else "unknown"}
        self.watched[session] = target
        return {"state": "watching"}

    @staticmethod
    def _target(request: dict[str, object], fds: list[int]) -> Target | None:
        """What an arm request names: a cgroup's absolute path, or the keeper's pidfd."""
        group = request.get("group")
        if request.get("keeper") is True:
            return fds[0] if len(fds) == 1 and group is None and is_pidfd(fds[0]) else None
        if fds or not isinstance(group, str) or not group.startswith("/") or ".." in group:
            return None
        return Path(group)


class Ends:
    """Where the sessions' ends are noted once the daemon is gone (``ends.py``)."""

    def __init__(self, fd: int, instance: str, home: str | None = None) -> None:
        self.fd, self.instance = fd, instance
        self.writers: list[threading.Thread] = []  # (``sent``: waited for before exiting)
        self.boot_id = boot_id()
        # The instance's cgroup (``cgroups.CgroupHome``): its session groups are looked
        # for at the daemon's end too, for one the daemon had not told of yet.
        self.home = (Path(home) if home and home.startswith("/") and ".." not in home
                     else None)

    def found(self) -> dict[int, Path]:
        """The session groups of the instance now, empty or not."""
        groups: dict[int, Path] = {}
        if self.home is None:
            return groups
        with contextlib.suppress(OSError):
            for child in self.home.iterdir():
                number = child.name[len("session-"):]
                if child.name.startswith("session-") and number.isdigit():
                    groups[int(number)] = child
        return groups

    def keepers(self, known: set[int]) -> dict[int, int]:
        """The instance's process-tree keepers (the fallback without cgroups) the daemon
        had not told of (it was killed just after a launch: ends13): session → a pidfd on
        each, opened before the keeper was checked again, so a pid used again meanwhile
        is never watched. (A keeper still between the daemon's fork and its exec cannot
        be recognised yet: that launch is charged until the next daemon looks.)"""
        found: dict[int, int] = {}
        for session, pid in keepers(self.instance).items():
            if session in known:
                continue
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                continue  # gone already: no end can be noted for it
            if keeper_at(pid) == (self.instance, session) and not _ended(pidfd):
                found[session] = pidfd
            else:
                os.close(pidfd)
        return found

    def taken(self) -> set[int]:
        """The sessions a next daemon said it is stopping (``ends.stopping``)."""
        return stopping(self.fd, self.instance, self.boot_id)

    def note(self, session: int) -> None:
        with contextlib.suppress(OSError):  # (a full disk: charged as if never noted)
            note_end(self.fd, session, self.instance, self.boot_id)

    def sent(self, sigterms: list[tuple[int, float, float]]) -> None:
        """Deadlines' SIGTERMs sent (session, monotonic, ms late): the next daemon sends
        none again. Written by a thread of its own: a stalled disk (a frozen or failing
        file system) must never hold up this process's answers and next deadlines (the
        daemon would take it for dead)."""
        writer = threading.Thread(target=self._note_sent, args=(sigterms,), daemon=True,
                                  name="note-sigterms")
        self.writers = [w for w in self.writers if w.is_alive()] + [writer]
        writer.start()

    def _note_sent(self, sigterms: list[tuple[int, float, float]]) -> None:
        with contextlib.suppress(OSError):  # (a full disk: sent again by the next daemon)
            note_sigterms(self.fd, sigterms, self.instance, self.boot_id)


def _ended(target: Target) -> bool:
    if isinstance(target, Path):
        return not populated(target)
    poller = select.poll()
    poller.register(target, select.POLLIN)
    return bool(poller.poll(0))  # a pidfd is readable once its process exited


def _modified(inotify: int) -> set[int]:
    """The watch descriptors whose file was modified since the last read (-1: events
    were lost, any may have been)."""
    seen: set[int] = set()
    with contextlib.suppress(BlockingIOError):
        while True:
            data = os.read(inotify, 65536)
            at = 0
            while at + 16 <= len(data):
                wd, mask, _, size = struct.unpack_from("iIII", data, at)
                if mask & IN_Q_OVERFLOW:
                    seen.add(-1)
                elif mask & IN_MODIFY:
                    seen.add(wd)
                at += 16 + size
    return seen


def outlive(alarms: Alarms, ends: Ends) -> None:
    """The daemon is gone: note each watched session's end as it comes (``ends.py``),
    and go on sending each deadline's SIGTERM, until every session has ended (or a new
    daemon stops this process: ``ends.take_over``). A group is heard through inotify on
    its ``cgroup.events``, a keeper through its pidfd; the time noted is when this
    process saw the end (never before it).

    The instance's session groups, or process-tree keepers, the daemon had not told of
    (it was killed just after a launch) are watched too. A group that holds a process
    is watched as any; an empty one (``pending``) may be a launch whose starter has not
    moved in yet: its end is noted only once it was seen to hold a process (populated,
    or its ``cgroup.events`` changed), so a program that runs on until the next daemon's
    sweep is never given an end before it. It is given up once removed, or after ``PENDING_S``.
    Keepers are looked for again for ``KEEPER_LOOK_S`` (one forked just before the kill
    is recognised once its starter runs)."""
    pending: dict[int, Path] = {}
    alarms.taken = ends.taken
    alarms.fire_due()  # (what is due first: the scans below read /proc)
    alarms.watched.update(ends.keepers(set(alarms.watched)))
    seen = set(alarms.watched)  # (a keeper's session, once watched: never looked for again)
    keepers_until = time.monotonic() + KEEPER_LOOK_S if ends.home is None else 0.0
    for session, group in ends.found().items():
        if session in alarms.watched:
            continue
        if populated(group):
            alarms.watched[session] = group
        else:
            pending[session] = group
    if not alarms.watched and not pending and ends.home is not None:
        return
    if alarms.watched or pending:
        alarms._say(f"shepherd alarm: the daemon is gone; noting the ends of sessions "
                    f"{sorted(alarms.watched)}" + (f" (and of {sorted(pending)} once their "
                                                    f"programs are in)" if pending else ""))
    libc = ctypes.CDLL(None, use_errno=True)
    inotify = int(libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC))
    poller = select.poll()
    heard = inotify >= 0
    if heard:
        poller.register(inotify, select.POLLIN)
    for target in alarms.watched.values():
        if isinstance(target, int):
            poller.register(target, select.POLLIN)
        elif not heard or libc.inotify_add_watch(
                inotify, os.fsencode(target / "cgroup.events"), IN_MODIFY) < 0:
            heard = False  # (gone already: seen below) polled, as a last resort
    wds: dict[int, int] = {}  # a pending group's watch descriptor → its session
    for session, group in pending.items():
        wd = (int(libc.inotify_add_watch(inotify, os.fsencode(group / "cgroup.events"),
                                         IN_MODIFY)) if inotify >= 0 else -1)
        if wd < 0:
            heard = False
        else:
            wds[wd] = session
    given_up = time.monotonic() + PENDING_S
    while alarms.watched or pending or time.monotonic() < keepers_until:
        alarms.fire_due()
        if time.monotonic() < keepers_until:
            late = ends.keepers(seen)
            for session, pidfd in late.items():
                alarms.watched[session] = pidfd
                poller.register(pidfd, select.POLLIN)
            if late:
                seen.update(late)
                alarms._say(f"shepherd alarm: noting the ends of sessions {sorted(late)} "
                            "too (their keepers started as the daemon went)")
            alarms.fire_due()  # (a scan of /proc takes ~50 ms with 2,000 processes: a
            # deadline that fell due meanwhile is not left until the next turn, rev14s24)
        changed = _modified(inotify) if inotify >= 0 else set()
        for session, group in list(pending.items()):
            its = next((w for w, s in wds.items() if s == session), None)
            if populated(group) or (its is not None and (its in changed or -1 in changed)):
                alarms.watched[session] = group  # (an end already come: noted below)
                del pending[session]
            elif not group.is_dir() or time.monotonic() >= given_up:
                del pending[session]
        for session, target in list(alarms.watched.items()):
            if _ended(target):
                ends.note(session)
                del alarms.watched[session]
                armed = alarms.armed.pop(session, None)
                if armed is not None:
                    _let_go(armed[1], armed[2])
                if isinstance(target, int):
                    poller.unregister(target)
                _let_go(target)
        looking = keepers_until - time.monotonic()
        if not alarms.watched and not pending and looking <= 0:
            break
        wait = alarms.wait()
        if not heard:
            wait = POLL_S if wait is None else min(wait, POLL_S)
        if looking > 0:
            step = min(KEEPER_POLL_S, looking)
            wait = step if wait is None else min(wait, step)
        if pending:
            left = min(PENDING_LOOK_S, max(0.0, given_up - time.monotonic()))
            wait = left if wait is None else min(wait, left)
        poller.poll(None if wait is None else wait * 1000 + 0.5)
    if inotify >= 0:
        os.close(inotify)
    alarms.settle()


def serve(sock: socket.socket, report: TextIO | None = None,
          ends: Ends | None = None) -> None:
    alarms = Alarms(report)
    if ends is not None:
        alarms.on_sent = ends.sent
    sock.send(json.dumps({"ready": os.getpid()}).encode())
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    while True:
        alarms.fire_due()
        wait = alarms.wait()
        if not poller.poll(None if wait is None else wait * 1000 + 0.5):
            continue
        alarms.fire_due()  # a deadline passed while the request came: it fires first
        try:
            message, fds, _, _ = socket.recv_fds(sock, MESSAGE_MAX, FDS_MAX)
        except ConnectionResetError:
            message, fds = b"", []
        if not message:
            if ends is not None:
                outlive(alarms, ends)
            alarms.settle()
            if ends is not None:  # what it sent, noted before it goes
                for writer in ends.writers:
                    writer.join()
            return  # the daemon's end closed
        try:
            request = json.loads(message)
        except ValueError:
            request = None
        if isinstance(request, dict):
            reply = alarms.handle(request, fds)
        else:
            for fd in fds:
                os.close(fd)
            reply = {"state": "bad request"}
        try:
            sock.send(json.dumps(reply).encode())
        except (BrokenPipeError, ConnectionResetError):
            continue  # the daemon died before the answer: its EOF is read next


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    # A terminal's Ctrl+C or hang-up, or a service manager's SIGTERM to the whole group,
    # is meant for the daemon: this one goes when the daemon's end closes, not before.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    hurry()  # before the powers go: raising one's priority is one of them
    keep_only_kill()  # at worst it keeps what the daemon has
    ends = (Ends(int(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
            if len(sys.argv) > 3 else None)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        serve(sock, sys.stderr, ends)


if __name__ == "__main__":
    main()
