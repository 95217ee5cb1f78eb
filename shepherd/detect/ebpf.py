"""The children's program starts, filtered by uid inside the kernel (eBPF, as root).

The proc connector sends every exec on the machine, and its messages carry no uid:
the daemon wakes for each and reads ``/proc/PID/status`` to drop the ones that are
not a child's. Here a small eBPF program on the ``sched_process_exec``
tracepoint does that in the kernel: it looks the exec'ing task's real uid up in a
hash map of the children's uids (updated when the policy is reloaded), and only
for a child writes ``(pid, uid)`` to a ring buffer, whose fd wakes the event loop.
Execs of everybody else never wake the daemon.

No library: the ``bpf()`` system call through ctypes, the bytecode assembled by
hand (``bpfasm``). Needs root (``CAP_BPF`` and ``CAP_PERFMON``, or
``CAP_SYS_ADMIN``) and Linux 5.8+ (ring buffer). The program is attached as a raw
tracepoint (``BPF_RAW_TRACEPOINT_OPEN`` by name), so tracefs is neither needed nor
mounted. Any failure is an ``OSError`` saying why: the caller falls back to the
connector's exec events.

Maps: ``uids`` (hash, u32 uid -> u8), ``ring`` (ring buffer, records of u32 pid,
u32 uid), ``lost`` (one u64, mmap-able: execs the ring had no room for; the reader
compares it at each wake-up and, when it grew, its owner looks through ``/proc``).

Ring buffer layout (``kernel/bpf/ringbuf.c``): page 0 the consumer position (ours
to write), page 1 the producer position, then the data pages mapped twice in a row
(a record never needs unwrapping). Each record: u32 length (bit 31 busy, bit 30
discarded), u32 page offset, the data, padded to 8 bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import mmap
import os
import struct
from collections.abc import Iterable

from shepherd.detect import bpfasm as a

_SYSCALLS = {"x86_64": 321, "aarch64": 280}  # bpf()

BPF_MAP_CREATE, BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM, BPF_PROG_LOAD = 0, 2, 3, 5
BPF_RAW_TRACEPOINT_OPEN = 17
BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_RINGBUF = 1, 2, 27
BPF_PROG_TYPE_RAW_TRACEPOINT = 17
BPF_F_MMAPABLE = 1 << 10
_ATTR_SIZE = 128  # bytes of union bpf_attr passed (the fields we use; the rest zero)

RING_BYTES = 256 * 1024  # 16384 records of 16 bytes
MAX_CHILDREN = 1024
TRACEPOINT = "sched_process_exec"
_BUSY, _DISCARD = 1 << 31, 1 << 30
_RECORD = struct.Struct("=II")  # pid, uid

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall() -> int:
    machine = os.uname().machine
    if machine not in _SYSCALLS:
        raise OSError(errno.ENOSYS, f"no bpf() system call number known for {machine}")
    return _SYSCALLS[machine]


def bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    """The ``bpf()`` system call; its answer, or ``OSError``."""
    result = _libc.syscall(ctypes.c_long(_syscall()), ctypes.c_int(cmd), attr,
                           ctypes.c_uint(len(attr)))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(result)


def _attr(fmt: str, *values: object) -> ctypes.Array[ctypes.c_char]:
    buf = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into(fmt, buf, 0, *values)
    return buf


def create_map(kind: int, key_size: int, value_size: int, entries: int, flags: int = 0,
               name: bytes = b"") -> int:
    return bpf(BPF_MAP_CREATE, _attr("=IIIIIII16s", kind, key_size, value_size, entries,
                                     flags, 0, 0, name[:15]))


def _address(buf: ctypes.Array[ctypes.c_char]) -> int:
    return ctypes.addressof(buf)


def update(map_fd: int, key: bytes, value: bytes) -> None:
    k, v = ctypes.create_string_buffer(key, len(key)), ctypes.create_string_buffer(value,
                                                                                    len(value))
    bpf(BPF_MAP_UPDATE_ELEM, _attr("=IIQQQ", map_fd, 0, _address(k), _address(v), 0))


def delete(map_fd: int, key: bytes) -> None:
    k = ctypes.create_string_buffer(key, len(key))
    bpf(BPF_MAP_DELETE_ELEM, _attr("=IIQ", map_fd, 0, _address(k)))


def load_program(kind: int, code: bytes, name: bytes = b"") -> int:
    """Load ``code``; a verifier refusal raises ``OSError`` with the verifier's last words."""
    insns = ctypes.create_string_buffer(code, len(code))
    licence = ctypes.create_string_buffer(b"GPL")
    try:
        return bpf(BPF_PROG_LOAD, _attr("=IIQQIIQII16s", kind, len(code) // 8,
                                        _address(insns), _address(licence), 0, 0, 0, 0, 0,
                                        name[:15]))
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EACCES):
            raise
        log_buf = ctypes.create_string_buffer(65536)
        with contextlib.suppress(OSError):
            bpf(BPF_PROG_LOAD, _attr("=IIQQIIQII16s", kind, len(code) // 8,
                                     _address(insns), _address(licence), 1, len(log_buf),
                                     _address(log_buf), 0, 0, name[:15]))
        words = log_buf.value.decode(errors="replace").strip().splitlines()[-3:]
        raise OSError(exc.errno, f"the kernel's verifier refused the program: "
                                 f"{' / '.join(words) or exc.strerror}") from None


def attach_raw_tracepoint(prog_fd: int, name: str = TRACEPOINT) -> int:
    """``BPF_RAW_TRACEPOINT_OPEN``: the program runs at every ``name`` tracepoint, on
    every CPU. No tracefs (its id is not needed) and no perf event. The answer is the
    link's fd: closing it detaches the program."""
    tp_name = ctypes.create_string_buffer(name.encode())
    try:
        return bpf(BPF_RAW_TRACEPOINT_OPEN, _attr("=QI", _address(tp_name), prog_fd))
    except OSError as exc:
        raise OSError(exc.errno, f"attaching the program to the {name} tracepoint failed: "
                                 f"{exc.strerror}") from None


def exec_filter(uids_fd: int, ring_fd: int, lost_fd: int) -> bytes:
    """The program: on each exec, the task's real uid looked up in ``uids``; for a child,
    ``(tgid, uid)`` written to ``ring``, or ``lost`` counted when it is full.

    Stack (below R10): -4 the uid (map key), -16 the record (pid at -16, uid at -12),
    -20 the key of ``lost`` (0)."""
    p = a.Program()
    p.emit(a.call(a.GET_CURRENT_UID_GID),          # R0 = gid << 32 | uid (real ids)
           a.store_reg(a.W, a.R10, -4, a.R0),
           a.store_reg(a.W, a.R10, -12, a.R0),
           a.ld_map_fd(a.R1, uids_fd),
           a.mov_reg(a.R2, a.R10),
           a.add_imm(a.R2, -4),
           a.call(a.MAP_LOOKUP_ELEM))
    p.jump("jeq", "out", a.R0, 0)                     # not a child's: nothing more
    p.emit(a.call(a.GET_CURRENT_PID_TGID),          # R0 = tgid << 32 | pid
           a.rsh_imm(a.R0, 32),
           a.store_reg(a.W, a.R10, -16, a.R0),
           a.ld_map_fd(a.R1, ring_fd),
           a.mov_reg(a.R2, a.R10),
           a.add_imm(a.R2, -16),
           a.mov_imm(a.R3, _RECORD.size),
           a.mov_imm(a.R4, 0),                        # flags 0: wake the reader adaptively
           a.call(a.RINGBUF_OUTPUT))
    p.jump("jsge", "out", a.R0, 0)                    # written
    p.emit(a.store_imm(a.W, a.R10, -20, 0),
           a.ld_map_fd(a.R1, lost_fd),
           a.mov_reg(a.R2, a.R10),
           a.add_imm(a.R2, -20),
           a.call(a.MAP_LOOKUP_ELEM))
    p.jump("jeq", "out", a.R0, 0)
    p.emit(a.mov_imm(a.R1, 1),
           a.atomic_add(a.DW, a.R0, 0, a.R1))
    p.label("out")
    p.emit(a.mov_imm(a.R0, 0), a.exit_())
    return p.assemble()


class ExecRing:
    """The children's execs from the kernel: ``open()``, then ``fileno()`` is readable
    when records wait; ``drain()`` answers their ``(pid, uid)`` and whether some were
    lost since the last drain. ``set_uids`` puts the children's uids in the filter."""

    def __init__(self, ring_bytes: int = RING_BYTES) -> None:
        self.ring_bytes = ring_bytes  # a power of 2, a multiple of the page size
        self.fds: list[int] = []
        self.ring_fd = self.uids_fd = -1
        self.uids: set[int] = set()
        self._consumer: mmap.mmap | None = None
        self._data: mmap.mmap | None = None
        self._lost: mmap.mmap | None = None
        self._lost_seen = 0

    def open(self, uids: Iterable[int]) -> None:
        try:
            self._open(uids)
        except OSError:
            self.close()
            raise

    def _open(self, uids: Iterable[int]) -> None:
        self.uids_fd = create_map(BPF_MAP_TYPE_HASH, 4, 1, MAX_CHILDREN, name=b"shepherd_uids")
        self.fds.append(self.uids_fd)
        self.ring_fd = create_map(BPF_MAP_TYPE_RINGBUF, 0, 0, self.ring_bytes,
                                  name=b"shepherd_ring")
        self.fds.append(self.ring_fd)
        lost_fd = create_map(BPF_MAP_TYPE_ARRAY, 4, 8, 1, BPF_F_MMAPABLE, b"shepherd_lost")
        self.fds.append(lost_fd)
        self.set_uids(uids)
        page = mmap.PAGESIZE
        self._consumer = mmap.mmap(self.ring_fd, page, mmap.MAP_SHARED,
                                   mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self._data = mmap.mmap(self.ring_fd, page + 2 * self.ring_bytes, mmap.MAP_SHARED,
                               mmap.PROT_READ, offset=page)
        self._lost = mmap.mmap(lost_fd, page, mmap.MAP_SHARED, mmap.PROT_READ, offset=0)
        prog_fd = load_program(BPF_PROG_TYPE_RAW_TRACEPOINT,
                               exec_filter(self.uids_fd, self.ring_fd, lost_fd),
                               b"shepherd_execs")
        self.fds.append(prog_fd)
        self.fds.append(attach_raw_tracepoint(prog_fd))

    def fileno(self) -> int:
        return self.ring_fd

    def set_uids(self, uids: Iterable[int]) -> None:
        """The children's uids become exactly ``uids`` (the others deleted first)."""
        wanted = set(uids)
        for uid in sorted(self.uids - wanted):
            with contextlib.suppress(FileNotFoundError):
                delete(self.uids_fd, struct.pack("=I", uid))
            self.uids.discard(uid)
        for uid in sorted(wanted - self.uids):
            update(self.uids_fd, struct.pack("=I", uid), b"\x01")
            self.uids.add(uid)

    def drain(self) -> tuple[list[tuple[int, int]], bool]:
        """The records waiting (oldest first), and True when the ring was full meanwhile."""
        found: list[tuple[int, int]] = []
        if self._consumer is None or self._data is None or self._lost is None:
            return found, False
        mask = self.ring_bytes - 1
        page = mmap.PAGESIZE
        consumer = struct.unpack_from("=Q", self._consumer, 0)[0]
        producer = struct.unpack_from("=Q", self._data, 0)[0]
        while consumer < producer:
            at = page + (consumer & mask)
            length = struct.unpack_from("=I", self._data, at)[0]
            if length & _BUSY:
                break  # being written: read at the next wake-up
            size = length & ~(_BUSY | _DISCARD)
            if not length & _DISCARD and size >= _RECORD.size:
                found.append(_RECORD.unpack_from(self._data, at + 8))
            consumer += (size + 8 + 7) & ~7
            struct.pack_into("=Q", self._consumer, 0, consumer)
        lost = struct.unpack_from("=Q", self._lost, 0)[0]
        grew = lost != self._lost_seen
        self._lost_seen = lost
        return found, grew

    def close(self) -> None:
        for region in (self._consumer, self._data, self._lost):
            if region is not None:
                region.close()
        self._consumer = self._data = self._lost = None
        for fd in reversed(self.fds):  # the perf event first: the program is detached
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []
        self.ring_fd = self.uids_fd = -1
        self.uids = set()


def unavailable() -> str | None:
    """Why the filter cannot load here (None: it can); loads it once, with no uids."""
    ring = ExecRing(mmap.PAGESIZE)
    try:
        ring.open(())
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        ring.close()
    return None
