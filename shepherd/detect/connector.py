"""The kernel's process events: the children's execs, and the proc connector's forks.

Exec events come from the eBPF filter (``detect.ebpf``: only the children's uids,
filtered in the kernel, so nobody else's program start wakes the daemon) when it
loads (root, Linux 5.8+), else from the netlink proc connector, which sends every
exec on the machine (the daemon reads each one's uid in ``/proc``). ``source`` says
which, in words, and why the eBPF filter was not used. Forks always come from the
connector (below): they never wake the daemon either way.

The kernel sends one message per process event to every connector listener. Two
sockets:

- the *exec* socket wakes the daemon: its classic BPF filter keeps only ``exec``
  events (forks, exits, uid and comm changes are dropped inside the kernel,
  without waking it). Read on the event loop (``add_reader``), non-blocking,
  drained at each wake-up. When its buffer overflowed (``ENOBUFS``: a burst of
  execs), events were lost: the owner is told (``on_lost``) and scans ``/proc``.
- the *fork* socket never wakes it: its filter keeps only the forks of processes
  (new threads are dropped), which wait in its buffer until the daemon is awake
  anyway, at the next exec event, or when it asks (``drain_forks``: a recognised
  process is gone, what did it fork first?). Each fork is handed to ``on_fork``
  (parent, child), which keeps a short memory. A buffer that overflowed loses the
  newest forks: the owner's memory is then incomplete (counted in ``forks_lost``).

Since Linux 6.6 the listen request also names the events wanted, so the kernel
does not even copy the others to the socket; older kernels take the bare request
and the BPF filters do the same work.

Message layout (``linux/netlink.h``, ``linux/connector.h``, ``linux/cn_proc.h``;
fields in host byte order)::

    nlmsghdr  len u32, type u16, flags u16, seq u32, pid u32         16 bytes
    cn_msg    idx u32, val u32, seq u32, ack u32, len u16, flags u16  20 bytes
    proc_event what u32, cpu u32, timestamp_ns u64,                 16 bytes
               exec: process_pid u32, process_tgid u32
               fork: parent_pid u32, parent_tgid u32, child_pid u32, child_tgid u32
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable

from shepherd.detect.ebpf import RING_BYTES, ExecRing

log = logging.getLogger(__name__)

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
NLMSG_DONE = 3
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2
PROC_EVENT_FORK = 0x00000001
PROC_EVENT_EXEC = 0x00000002
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
RCVBUF = 4 * 1024 * 1024
EXECS_A_TURN = 64  # execs handled before the event loop has a turn of its own
TURN_S = 0.005  # ... or fewer: the loop has its turn once a turn's looks took this long
WAITING_AT_MOST = 16384  # execs read and waiting; past that, as lost (a /proc scan)
BEHIND_AT = 4 * EXECS_A_TURN  # execs waiting from which the log says it is behind

_NLMSGHDR = struct.Struct("=IHHII")
_CN_MSG = struct.Struct("=IIIIHH")
_EVENT = struct.Struct("=IIQ")
WHAT_OFFSET = _NLMSGHDR.size + _CN_MSG.size                      # 36
EXEC_TGID_OFFSET = WHAT_OFFSET + _EVENT.size + 4  # 56: after process_pid
FORK_PARENT_TGID_OFFSET = WHAT_OFFSET + _EVENT.size + 4  # 56
FORK_CHILD_PID_OFFSET = FORK_PARENT_TGID_OFFSET + 4     # 60
FORK_CHILD_TGID_OFFSET = FORK_CHILD_PID_OFFSET + 4      # 64

# Classic BPF: code u16, jt u8, jf u8, k u32.
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JEQ_X = 0x1D
_BPF_TAX = 0x07
_BPF_RET_K = 0x06


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


def _as_loaded(value: int) -> int:
    """BPF loads words in network byte order; the kernel writes the event in host order."""
    return int.from_bytes(value.to_bytes(4, sys.byteorder), "big")


def exec_only_filter() -> list[tuple[int, int, int, int]]:
    """Keep a message only when its ``what`` is ``PROC_EVENT_EXEC``."""
    return [
        (_BPF_LD_W_ABS, 0, 0, WHAT_OFFSET),
        (_BPF_JEQ_K, 0, 1, _as_loaded(PROC_EVENT_EXEC)),
        (_BPF_RET_K, 0, 0, 0xFFFFFFFF),
        (_BPF_RET_K, 0, 0, 0),
    ]


def process_fork_filter() -> list[tuple[int, int, int, int]]:
    """Keep a message only when it is a fork that made a process (child pid = its tgid)."""
    return [
        (_BPF_LD_W_ABS, 0, 0, WHAT_OFFSET),
        (_BPF_JEQ_K, 0, 5, _as_loaded(PROC_EVENT_FORK)),
        (_BPF_LD_W_ABS, 0, 0, FORK_CHILD_PID_OFFSET),
        (_BPF_TAX, 0, 0, 0),
        (_BPF_LD_W_ABS, 0, 0, FORK_CHILD_TGID_OFFSET),
        (_BPF_JEQ_X, 0, 1, 0),
        (_BPF_RET_K, 0, 0, 0xFFFFFFFF),
        (_BPF_RET_K, 0, 0, 0),
    ]


def _attach_filter(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    filters = (_SockFilter * len(program))(*(_SockFilter(*op) for op in program))
    fprog = struct.pack("@HP", len(program), ctypes.addressof(filters))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def kernel_filters_events(release: str | None = None) -> bool:
    """True from Linux 6.6: the listen request may name the events wanted."""
    release = release if release is not None else os.uname().release
    try:
        major, minor = (int(part) for part in release.split("-")[0].split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (6, 6)


def _control(op: int, events: int | None = None) -> bytes:
    """A listen/ignore request; with ``events`` (6.6+) a ``struct proc_input``."""
    data = struct.pack("=I", op) if events is None else struct.pack("=II", op, events)
    body = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(data), 0) + data
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), NLMSG_DONE, 0, 0, 0) + body


def exec_pids(datagram: bytes) -> list[int]:
    """The process (thread group) ids of the exec events in one datagram."""
    pids = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(datagram):
        length, _kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(datagram, offset)
        if length < _NLMSGHDR.size or offset + length > len(datagram):
            break
        if length >= EXEC_TGID_OFFSET + 4:
            what = struct.unpack_from("=I", datagram, offset + WHAT_OFFSET)[0]
            if what == PROC_EVENT_EXEC:
                pids.append(struct.unpack_from("=I", datagram, offset + EXEC_TGID_OFFSET)[0])
        offset += (length + 3) & ~3
    return pids


def process_forks(datagram: bytes) -> list[tuple[int, int]]:
    """(parent tgid, child tgid) of the forks that made a process in one datagram."""
    forks = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(datagram):
        length = _NLMSGHDR.unpack_from(datagram, offset)[0]
        if length < _NLMSGHDR.size or offset + length > len(datagram):
            break
        if length >= FORK_CHILD_TGID_OFFSET + 4:
            what, = struct.unpack_from("=I", datagram, offset + WHAT_OFFSET)
            parent, child_pid, child = struct.unpack_from(
                "=III", datagram, offset + FORK_PARENT_TGID_OFFSET)
            if what == PROC_EVENT_FORK and child_pid == child:
                forks.append((parent, child))
        offset += (length + 3) & ~3
    return forks


def _listen(program: list[tuple[int, int, int, int]], events: int) -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        _attach_filter(sock, program)
        sock.bind((0, CN_IDX_PROC))
        sock.send(_control(PROC_CN_MCAST_LISTEN,
                           events if kernel_filters_events() else None))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


EBPF = "the children's program starts filtered in the kernel (eBPF)"
CONNECTOR = "every program start on the machine (proc connector)"


class ProcConnector:
    """Exec events from the kernel, handed to ``on_exec(pid)`` on the event loop; forks
    (when ``on_fork`` is given) handed to ``on_fork(parent, child)`` as they are read.

    With ``uids`` (the children's), the execs come from the eBPF filter when it loads
    (``ring``), else from the connector's exec socket (``sock``); without, from the
    connector."""

    def __init__(self, on_exec: Callable[[int], None], on_lost: Callable[[], None],
                 on_fork: Callable[[int, int], None] | None = None,
                 ring_bytes: int = RING_BYTES) -> None:
        self.on_exec = on_exec
        self.ring_bytes = ring_bytes
        self.on_lost = on_lost
        self.on_fork = on_fork
        self.sock: socket.socket | None = None
        self.forks: socket.socket | None = None
        self.wakeups = 0  # datagram batches read (for the benchmark)
        self.forks_lost = 0
        self.ring: ExecRing | None = None
        self.source = "not open"
        self.ebpf_problem: str | None = None  # why the eBPF filter is not used
        self._lost_told = False  # on_lost is to be called soon (on the loop)
        self._waiting: deque[int] = deque()  # execs read, not handled yet (oldest first)
        self._queued: set[int] = set()  # the pids in _waiting (each waits once)
        self._behind_since: float | None = None  # monotonic: when the backlog passed BEHIND_AT
        self.most_behind = 0  # the largest backlog since it was last said caught up
        self._turn: asyncio.Handle | None = None  # the next few of them, on the loop

    def open(self, uids: Iterable[int] | None = None) -> None:
        """Subscribe; ``OSError`` (EPERM without CAP_NET_ADMIN before 6.6, EPROTONOSUPPORT...)
        if we can't. Without the fork socket, only what the forks would add is missing.
        With ``uids``, the eBPF filter is tried first (its failure is no error: the
        connector's exec socket stands in, and ``ebpf_problem`` says why)."""
        if uids is not None:
            ring = ExecRing(self.ring_bytes)
            try:
                ring.open(uids)
            except OSError as exc:
                self.ebpf_problem = exc.strerror or str(exc)
                log.info("the eBPF exec filter is not available (%s): the proc connector's "
                         "exec events stand in", self.ebpf_problem)
            else:
                self.ring = ring
        try:
            self._open_sockets()
        except OSError:
            if self.ring is not None:
                self.ring.close()
                self.ring = None
            raise
        self.source = EBPF if self.ring is not None else CONNECTOR

    def set_uids(self, uids: Iterable[int]) -> None:
        """The children are now ``uids`` (a reload): the eBPF filter's map is updated."""
        if self.ring is not None:
            self.ring.set_uids(uids)

    def _open_sockets(self) -> None:
        if self.ring is None:
            self.sock = _listen(exec_only_filter(), PROC_EVENT_EXEC)
        if self.on_fork is not None:
            try:
                self.forks = _listen(process_fork_filter(), PROC_EVENT_FORK)
            except OSError as exc:
                log.warning("fork events are not available (%s): a program that forks and "
                            "exits as it starts is found only by its own exec", exc)
        source = self.ring if self.ring is not None else self.sock
        assert source is not None
        asyncio.get_running_loop().add_reader(source.fileno(), self._readable)

    def _readable(self) -> None:
        self.wakeups += 1
        self._queue(self.drain())
        if self._turn is None:
            self._handle_some()

    def later(self, pids: Iterable[int]) -> None:
        """Execs read by the owner (``drain``): looked at in turn, after those waiting."""
        self._queue(pids)
        if self._waiting and self._turn is None:
            self._turn = asyncio.get_running_loop().call_soon(self._handle_some)

    def _queue(self, pids: Iterable[int]) -> None:
        """A pid already waiting is not queued again: its look, when its turn comes, reads
        what it runs then, after every exec read so far (review 14 s10 H1: a process
        that re-execs itself in a loop queued a look per exec)."""
        for pid in pids:
            if pid not in self._queued:
                self._queued.add(pid)
                self._waiting.append(pid)
        self._note_backlog()
        if len(self._waiting) > WAITING_AT_MOST:  # looked for in /proc instead
            self._waiting.clear()
            self._queued.clear()
            self._tell_lost()

    def _handle_some(self) -> None:
        """The oldest execs read, at most ``EXECS_A_TURN`` and ``TURN_S`` at a time: a
        storm of starts (a shell loop, a child's processes with 6 MiB command lines) is
        handled in order while the event loop gets its turns between (the socket
        answered, a refused program's stop, a deadline, the SIGKILL after the grace)."""
        self._turn = None
        until = time.monotonic() + TURN_S
        for _ in range(min(EXECS_A_TURN, len(self._waiting))):
            pid = self._waiting.popleft()
            self._queued.discard(pid)
            try:
                self.on_exec(pid)
            except Exception:  # one process must never stop the others being seen
                log.exception("handling the start of process %d failed", pid)
            if time.monotonic() >= until:
                break
        if self._waiting:
            if self._turn is None:  # (one may have been asked for by a look: ``later``)
                self._turn = asyncio.get_running_loop().call_soon(self._handle_some)
        elif self._behind_since is not None:
            log.warning("program starts are looked at as they come again, after %.1f s "
                        "behind (at most %d waited)",
                        time.monotonic() - self._behind_since, self.most_behind)
            self._behind_since, self.most_behind = None, 0

    def _note_backlog(self) -> None:
        """Said once per storm (review-10-s8 M1: nothing said that detection was behind):
        a refused program may then run until its start's turn comes."""
        waiting = len(self._waiting)
        self.most_behind = max(self.most_behind, waiting)
        if waiting >= BEHIND_AT and self._behind_since is None:
            self._behind_since = time.monotonic()
            log.warning("program starts arrive faster than they are looked at (%d waiting): "
                        "a refused program may run until its turn comes", waiting)

    def drain(self) -> list[int]:
        """The exec events waiting, read before the forks waiting are handed to
        ``on_fork``: a process's fork is sent before its exec, so every fork before
        these execs is known when they are handled (an exec handler asks what a process
        forked, and marks its own process as a start of its own: a fork read after its
        exec would lose that mark)."""
        pids = self.drain_execs()
        self.drain_forks()
        return pids

    def drain_execs(self) -> list[int]:
        """The exec events waiting in the socket (``on_lost`` told of an overflow, once
        per read and after it, as for forks: the socket may overflow again while it is
        read, and each telling is a look through all of ``/proc``)."""
        pids: list[int] = []
        lost = False
        if self.ring is not None:
            records, lost = self.ring.drain()
            pids = [pid for pid, _uid in records]
        while self.sock is not None:
            try:
                datagram = self.sock.recv(65536)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    lost = True
                    continue
                log.error("reading process events failed: %s", exc)
                break
            pids.extend(exec_pids(datagram))
        if lost:
            log.warning("process events were lost (a burst of program starts): looking "
                        "through /proc once")
            self._tell_lost()
        return pids

    def drain_forks(self) -> None:
        """Hand every fork waiting in the fork socket to ``on_fork`` (cheap when none).

        Forks lost to an overflow (the socket fills between wake-ups on a busy machine)
        leave the memory without them: a process that forked and exited, whose child
        runs on without an exec of its own, would never be looked at. So, as for lost
        execs, the owner is told (``on_lost``: it looks through ``/proc``), once per
        read and after it (it may be reading forks from inside a look)."""
        lost = False
        while self.forks is not None and self.on_fork is not None:
            try:
                datagram = self.forks.recv(65536)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self.forks_lost += 1
                    lost = True
                    continue
                log.error("reading fork events failed: %s", exc)
                break
            for parent, child in process_forks(datagram):
                self.on_fork(parent, child)
        if lost:
            log.warning("process fork events were lost (a burst of forks): looking through "
                        "/proc once")
            self._tell_lost()

    def _tell_lost(self) -> None:
        """Have ``on_lost`` called soon, on the loop, once for every loss told before it
        runs (lost execs and lost forks of one read are one look through ``/proc``)."""
        if self._lost_told:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a test reading the kernel's events by hand)
            self.on_lost()
            return
        self._lost_told = True
        loop.call_soon(self._told_lost)

    def _told_lost(self) -> None:
        self._lost_told = False
        self.on_lost()

    def close(self) -> None:
        if self._turn is not None:
            self._turn.cancel()
            self._turn = None
        self._waiting.clear()
        self._queued.clear()
        if self.sock is not None:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        if self.ring is not None:
            asyncio.get_running_loop().remove_reader(self.ring.fileno())
            self.ring.close()
            self.ring = None
        for sock in (self.sock, self.forks):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.send(_control(PROC_CN_MCAST_IGNORE))
                sock.close()
        self.sock = self.forks = None
