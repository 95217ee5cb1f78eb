"""The kernel's process events: the netlink proc connector (root only), exec events.

The kernel sends one message per process event to every listener; the socket
carries a classic BPF filter, so only ``exec`` events ever reach the daemon
(forks, exits, uid and comm changes are dropped inside the kernel, without
waking it). Read on the event loop (``add_reader``), non-blocking, drained at
each wake-up. When the socket's buffer overflowed (``ENOBUFS``: a burst of
execs), events were lost: the owner is told (``on_lost``) and scans ``/proc``
once.

Message layout (``linux/netlink.h``, ``linux/connector.h``, ``linux/cn_proc.h``;
fields in host byte order)::

    nlmsghdr  len u32, type u16, flags u16, seq u32, pid u32         16 bytes
    cn_msg    idx u32, val u32, seq u32, ack u32, len u16, flags u16  20 bytes
    proc_event what u32, cpu u32, timestamp_ns u64,                 16 bytes
               exec: process_pid u32, process_tgid u32
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import socket
import struct
import sys
from collections.abc import Callable

log = logging.getLogger(__name__)

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
NLMSG_DONE = 3
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2
PROC_EVENT_EXEC = 0x00000002
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
RCVBUF = 4 * 1024 * 1024

_NLMSGHDR = struct.Struct("=IHHII")
_CN_MSG = struct.Struct("=IIIIHH")
_EVENT = struct.Struct("=IIQ")
WHAT_OFFSET = _NLMSGHDR.size + _CN_MSG.size                      # 36
EXEC_TGID_OFFSET = WHAT_OFFSET + _EVENT.size + 4  # 56: after process_pid

# Classic BPF: code u16, jt u8, jf u8, k u32.
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
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


def _attach_filter(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    filters = (_SockFilter * len(program))(*(_SockFilter(*op) for op in program))
    fprog = struct.pack("@HP", len(program), ctypes.addressof(filters))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def _control(op: int) -> bytes:
    body = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, 4, 0) + struct.pack("=I", op)
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


class ProcConnector:
    """Exec events from the kernel, handed to ``on_exec(pid)`` on the event loop."""

    def __init__(self, on_exec: Callable[[int], None], on_lost: Callable[[], None]) -> None:
        self.on_exec = on_exec
        self.on_lost = on_lost
        self.sock: socket.socket | None = None
        self.wakeups = 0  # datagram batches read (for the benchmark)

    def open(self) -> None:
        """Subscribe; ``OSError`` (EPERM without CAP_NET_ADMIN, EPROTONOSUPPORT...) if we can't."""
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            _attach_filter(sock, exec_only_filter())
            sock.bind((0, CN_IDX_PROC))
            sock.send(_control(PROC_CN_MCAST_LISTEN))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        assert self.sock is not None
        self.wakeups += 1
        while True:
            try:
                datagram = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    log.warning("process events were lost (a burst of program starts): "
                                "looking through /proc once")
                    self.on_lost()
                    continue
                log.error("reading process events failed: %s", exc)
                return
            for pid in exec_pids(datagram):
                try:
                    self.on_exec(pid)
                except Exception:  # one process must never stop the others being seen
                    log.exception("handling the start of process %d failed", pid)

    def close(self) -> None:
        if self.sock is None:
            return
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        with contextlib.suppress(OSError):
            self.sock.send(_control(PROC_CN_MCAST_IGNORE))
        self.sock.close()
        self.sock = None
