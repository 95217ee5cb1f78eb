"""The daemon's side of the alarm: deadlines kept by a process of their own (issue 9 F3).

The deadline guard's thread (``daemon/guard.py``) sends a session's SIGTERM from the
daemon's own interpreter, so it needs the GIL: while the event loop parses a flood
of 64 KiB lines in C, the thread waited for it, and the SIGTERM left up to 140 ms
late. The alarm (``alarm_helper.py``) is a small process of its own, started by the
daemon as its own user, that holds the armed deadlines and sends the SIGTERM itself.
The daemon's books are kept as before (the guard's thread and the loop's timer still
see each deadline pass and carry out the stop); the alarm only makes the SIGTERM
punctual, and is told of every change (arm, re-arm, disarm) by a request it answers.

Any failure of the alarm (it exited, or did not answer within ``REPLY_TIMEOUT_S``) is
``AlarmDown``: the caller signals from the daemon, as before, and the alarm is started
again. Requests come from the guard's thread (every change of the deadlines), from a
thread that gives a new alarm every deadline, and from the loop (a stop takes its
session's deadline back), one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from shepherd.supervisor import alarm_helper, ends

log = logging.getLogger(__name__)

HELPER = str(Path(alarm_helper.__file__).resolve())
REPLY_TIMEOUT_S = 0.5  # a live alarm answers in microseconds; past this it is broken
READY_TIMEOUT_S = 10.0  # a new alarm not ready by then (stopped, stuck) is replaced
RESTART_S = 1.0  # the least time between two starts, doubled while each dies young
RESTART_MAX_S = 60.0  # (a user-mode child may stop or kill it: same uid)
DISABLE_ENV = "SHEPHERD_ALARM"  # "off": the guard's thread alone (measurements, tests)
# A deadline the alarm holds is its to signal: the daemon's own senders (the deadline
# guard's thread, the loop's stop) are its backup this long after the deadline (issue 13:
# a program woken by the busy daemon got a core later than one the alarm woke).
ALARM_FIRST_S = 0.010


class AlarmDown(Exception):
    """The alarm did not answer: the caller sends the signal itself."""


class Alarm:
    """The alarm process, started (and started again) on the event loop."""

    def __init__(self, on_ready: Callable[[], None], ends: Path | None = None,
                 instance: str = "", home: Path | None = None,
                 on_down: Callable[[], None] | None = None) -> None:
        """``on_ready``: called on the loop each time a (new) alarm process is serving;
        ``on_down``: each time one stopped serving (or failed to start).
        ``ends``: the file where the alarm notes the sessions' ends once the daemon is
        gone (``ends.py``), for this ``instance``; None: it exits with the daemon."""
        self._on_ready = on_ready
        self._on_down = on_down
        self._ends = ends
        self._instance = instance
        self._home = home  # the instance's cgroup: its session groups are looked for too
        self._lock = threading.Lock()  # one request at a time, its reply read before the next
        self._sock: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._pidfd: int | None = None
        self._stat: tuple[subprocess.Popen[bytes], int] | None = None  # its /proc stat, open
        self._loop: asyncio.AbstractEventLoop | None = None
        self._restart: asyncio.TimerHandle | None = None
        self._ready_by: asyncio.TimerHandle | None = None
        self._last_start = -RESTART_S
        self._backoff = RESTART_S
        self._closed = False
        self.ready = False
        self.starts = 0
        self.failures = 0  # times it stopped serving (``state``)
        self.cannot_start: str | None = None  # why its last start failed (None: it did not)
        # ``ends`` still holds what the last daemon's alarms noted (read, but it could not
        # be emptied then: ``ends.take_over``): emptied by the first start that opens it.
        self.unemptied = False

    @staticmethod
    def wanted() -> bool:
        return os.environ.get(DISABLE_ENV) != "off"

    @property
    def state(self) -> str:
        """``serving``; ``starting`` (the first one, not ready yet); ``restarting``
        (it stopped serving: the daemon's own thread keeps the deadlines meanwhile);
        ``cannot_start`` (its last start failed, ``cannot_start`` says why: tried again
        after its backoff; review-9-s15 L-3)."""
        if self.ready:
            return "serving"
        if self.cannot_start is not None:
            return "cannot_start"
        return "restarting" if self.failures else "starting"

    @property
    def stopped(self) -> bool:
        """A serving alarm frozen by a signal (SIGSTOP; state ``T``, or ``t`` when traced
        in ``/proc/PID/stat``): it answers nothing and fires nothing until continued (one
        file read, when ``status`` asks)."""
        process = self._process
        if process is None or not self.ready:
            return False
        if self._stat is None or self._stat[0] is not process:
            # Opened once per process and read again each time (a pread: a sixth of an
            # open, read and close; ``status`` asks it at every answer, warn16).
            self._forget_stat()
            try:
                self._stat = (process, os.open(f"/proc/{process.pid}/stat",
                                               os.O_RDONLY | os.O_CLOEXEC))
            except OSError:
                return False
        try:
            state = os.pread(self._stat[1], 4096, 0).rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):  # gone (ESRCH): a new process is opened anew
            return False
        return state in (b"T", b"t")

    def _forget_stat(self) -> None:
        if self._stat is not None:
            os.close(self._stat[1])
            self._stat = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self.ready else None

    def start(self) -> None:
        """On the loop: start the process; it serves once it has said it is ready."""
        self._loop = asyncio.get_running_loop()
        self._restart = None
        if self._closed or self._process is not None:
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        noted: int | None = None
        try:
            args = [sys.executable, "-I", "-S", HELPER, str(theirs.fileno())]
            if self._ends is not None:
                noted = ends.open_for_alarm(self._ends)
                if self.unemptied:  # what the last daemon's alarms noted, read already
                    os.ftruncate(noted, 0)
                    self.unemptied = False
                args += [str(noted), self._instance,
                         *([str(self._home)] if self._home is not None else [])]
            process = subprocess.Popen(
                args, pass_fds=tuple(fd for fd in (theirs.fileno(), noted) if fd is not None),
                env={}, cwd="/", stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                # A session of its own: where the kernel schedules each session as one
                # group (autogroup), the alarm's priority is its group's, not shared
                # with a busy daemon's (shepherd.priority, issue 13).
                start_new_session=True)
            pidfd = os.pidfd_open(process.pid)
        except OSError as exc:
            ours.close()
            log.error("the deadline alarm could not be started (%s): deadlines are kept by "
                      "the daemon's own thread", exc)
            # A start that failed counts as one, so the next waits its backoff (review-9-s14b
            # M-A: without this, tried again at once, forever: a core and the log flooded).
            self._last_start = self._loop.time()
            self.cannot_start = str(exc)
            self._later()
            return
        finally:
            theirs.close()
            if noted is not None:
                os.close(noted)
        if self._ends is not None:  # the next daemon stops it (``ends.take_over``)
            try:
                ends.note_alarm(self._ends, process.pid)
            except OSError as exc:
                log.error("could not note the deadline alarm's pid in %s (%s): a restarted "
                          "daemon will not stop it", self._ends, exc)
        self._last_start = self._loop.time()
        self.cannot_start = None
        self.starts += 1
        self._sock, self._process, self._pidfd = ours, process, pidfd
        ours.setblocking(False)
        self._loop.add_reader(ours.fileno(), self._hello)
        self._loop.add_reader(pidfd, self._exited)
        # A process stopped (SIGSTOP) or stuck before it said it is ready neither answers
        # nor exits: without this wait it would be waited for forever (review-9-s8 M3).
        self._ready_by = self._loop.call_later(READY_TIMEOUT_S, self._not_ready)

    def _not_ready(self) -> None:
        self._ready_by = None
        if not self.ready and self._process is not None:
            self._down(f"it did not say it was ready within {READY_TIMEOUT_S:g} s")

    def _hello(self) -> None:
        """The process's first message: it serves from now on."""
        assert self._loop is not None and self._sock is not None
        self._loop.remove_reader(self._sock.fileno())
        self._no_deadline()
        try:
            message = json.loads(self._sock.recv(alarm_helper.MESSAGE_MAX))
        except (OSError, ValueError):
            message = None
        if not isinstance(message, dict) or "ready" not in message:
            self._down("it did not start properly")
            return
        self._sock.setblocking(True)
        self._sock.settimeout(REPLY_TIMEOUT_S)
        with self._lock:
            self.ready = True
        log.info("deadline alarm serving (pid %s)", message["ready"])
        self._on_ready()

    def _exited(self) -> None:
        self._down("it exited")

    def _down(self, why: str) -> None:
        """On the loop: forget the process (killed if still alive); start another later."""
        self._no_deadline()
        with self._lock:
            self.ready = False
            sock, process, pidfd = self._sock, self._process, self._pidfd
            self._sock = self._process = self._pidfd = None
        self._forget_stat()
        if self._loop is not None and sock is not None:
            self._loop.remove_reader(sock.fileno())
            sock.close()
        if pidfd is not None:
            assert self._loop is not None
            self._loop.remove_reader(pidfd)
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            os.close(pidfd)
        if process is not None:
            code = process.wait()
            if not self._closed:
                self.failures += 1
                log.error("the deadline alarm (pid %d) stopped serving: %s (exit status %s); "
                          "deadlines are kept by the daemon's own thread until it is back",
                          process.pid, why, code)
                if self._on_down is not None:
                    self._on_down()
        self._later()

    def _no_deadline(self) -> None:
        if self._ready_by is not None:
            self._ready_by.cancel()
            self._ready_by = None

    def _later(self) -> None:
        if self._closed or self._loop is None or self._restart is not None:
            return
        lived = self._loop.time() - self._last_start
        self._backoff = (RESTART_S if lived > RESTART_MAX_S
                         else min(self._backoff * 2, RESTART_MAX_S))
        delay = max(0.0, self._last_start + self._backoff - self._loop.time())
        self._restart = self._loop.call_later(delay, self.start)

    def broken(self, why: str) -> None:
        """From any thread: the alarm failed a request; dropped and started again."""
        if self._loop is not None and not self._closed:
            self._loop.call_soon_threadsafe(self._down, why)

    def request(self, message: dict[str, object], fds: Sequence[int] = ()) -> dict[str, object]:
        """One request (with ``fds`` passed along) and its reply (any thread);
        ``AlarmDown`` when not served. The reply's ``state`` is a string (checked)."""
        with self._lock:
            if not self.ready or self._sock is None:
                raise AlarmDown("not serving")
            try:
                socket.send_fds(self._sock, [json.dumps(message).encode()], list(fds))
                reply = json.loads(self._sock.recv(alarm_helper.MESSAGE_MAX))
                state = reply["state"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self.ready = False  # no request is sent on a stream out of step
                # Named by what was asked (an arm when a deadline moved, the disarm
                # at a deadline): the log says which request went unanswered.
                why = (f"no answer to its {message.get('op')} of session "
                       f"{message.get('session')}" if isinstance(exc, TimeoutError)
                       else f"{exc!r}")
                self.broken(why)
                raise AlarmDown(why) from exc
        if not isinstance(state, str) or state == "bad request":
            raise AlarmDown(f"it refused {message['op']}")
        return dict(reply)

    def arm(self, session: int, at: float, group: Path | None = None,
            keeper: int | None = None, token: int | None = None) -> dict[str, object]:
        """``armed``, or ``fired`` (its SIGTERM went already, with ``sent_ms``). The
        SIGTERM goes to the members of ``group``, or to ``keeper`` (a pidfd: the alarm
        is given its own copy, and the caller's may be closed once this returns); with a
        ``token`` (a pipe's read end), only if the alarm reads its byte first (the daemon
        sends it otherwise: the programs hear one SIGTERM)."""
        fds = [fd for fd in (keeper, token) if fd is not None]
        message: dict[str, object] = {"op": "arm", "session": session, "at": at}
        if keeper is not None:
            message["keeper"] = True
        else:
            message["group"] = str(group)
        if token is not None:
            message["token"] = True
        return self.request(message, fds)

    def watch(self, session: int, group: Path | None = None,
              keeper: int | None = None) -> dict[str, object]:
        """``watching``: should the daemon die, the alarm notes when the session's
        programs end (``ends.py``): the members of ``group``, or ``keeper`` (a pidfd,
        of which it keeps its own copy). Deadline or none; until ``unwatch``."""
        if keeper is not None:
            return self.request({"op": "watch", "session": session, "keeper": True}, [keeper])
        return self.request({"op": "watch", "session": session, "group": str(group)})

    def unwatch(self, session: int) -> dict[str, object]:
        """``unwatched`` (or ``unknown``): the daemon saw it end."""
        return self.request({"op": "unwatch", "session": session})

    def disarm(self, session: int) -> dict[str, object]:
        """``disarmed``, ``fired`` (its SIGTERM went, ``sent_ms`` after the deadline by
        the alarm's clock, ``woke_ms`` when it woke for it) or ``unknown``."""
        return self.request({"op": "disarm", "session": session})

    def close(self) -> None:
        """On the loop, at a clean exit: the process exits as its socket closes."""
        self._closed = True
        if self._restart is not None:
            self._restart.cancel()
        if self._process is not None:
            self._down("the daemon is stopping")
