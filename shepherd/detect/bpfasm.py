"""A tiny eBPF assembler: named instructions, encoded as the kernel reads them.

Just what ``detect.ebpf``'s exec filter needs, no more (``Documentation/bpf/
standardization/instruction-set.rst`` is the reference). Each instruction is 8 bytes
(``struct bpf_insn``, little-endian here)::

    opcode u8 | dst_reg:4 (low nibble), src_reg:4 (high nibble) | off s16 | imm s32

``ld_map_fd`` is the one 16-byte instruction (``BPF_LD | BPF_DW | BPF_IMM``): the
kernel swaps the map's fd (``src_reg = BPF_PSEUDO_MAP_FD``) for the map's address
when it loads the program. Jumps count instructions after the jump itself
(``off``); a ``ld_map_fd`` counts as two.

Registers: ``R0`` return value (of helper calls and of the program), ``R1``-``R5``
helper arguments (clobbered by calls), ``R6``-``R9`` kept across calls, ``R10`` the
read-only frame pointer (the stack is the 512 bytes below it).
"""

from __future__ import annotations

import struct

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)

# Instruction classes
_LD, _LDX, _ST, _STX, _ALU, _JMP, _JMP32, _ALU64 = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
# Sizes (loads and stores)
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
_IMM, _MEM, _ATOMIC = 0x00, 0x60, 0xC0
# Operand source
_K, _X = 0x00, 0x08
# ALU operations
_ADD, _SUB, _AND, _OR, _LSH, _RSH, _MOV = 0x00, 0x10, 0x50, 0x40, 0x60, 0x70, 0xB0
# Jumps
_JA, _JEQ, _JNE, _JSGE, _CALL, _EXIT = 0x00, 0x10, 0x50, 0x70, 0x80, 0x90

PSEUDO_MAP_FD = 1

# Helper function ids (``enum bpf_func_id``, include/uapi/linux/bpf.h)
MAP_LOOKUP_ELEM = 1
GET_CURRENT_PID_TGID = 14
GET_CURRENT_UID_GID = 15
RINGBUF_OUTPUT = 130

_INSN = struct.Struct("<BBhi")


def _insn(opcode: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return _INSN.pack(opcode, (src << 4) | dst, off, imm)


def mov_imm(dst: int, imm: int) -> bytes:
    """``dst = imm`` (64-bit, ``imm`` sign-extended)."""
    return _insn(_ALU64 | _MOV | _K, dst, imm=imm)


def mov_reg(dst: int, src: int) -> bytes:
    """``dst = src`` (64-bit)."""
    return _insn(_ALU64 | _MOV | _X, dst, src)


def add_imm(dst: int, imm: int) -> bytes:
    """``dst += imm`` (64-bit)."""
    return _insn(_ALU64 | _ADD | _K, dst, imm=imm)


def rsh_imm(dst: int, imm: int) -> bytes:
    """``dst >>= imm`` (64-bit, logical)."""
    return _insn(_ALU64 | _RSH | _K, dst, imm=imm)


def store_reg(size: int, dst: int, off: int, src: int) -> bytes:
    """``*(size *)(dst + off) = src`` (the low bytes of ``src``)."""
    return _insn(_STX | _MEM | size, dst, src, off)


def store_imm(size: int, dst: int, off: int, imm: int) -> bytes:
    """``*(size *)(dst + off) = imm``."""
    return _insn(_ST | _MEM | size, dst, off=off, imm=imm)


def atomic_add(size: int, dst: int, off: int, src: int) -> bytes:
    """``lock *(size *)(dst + off) += src`` (``size`` W or DW)."""
    return _insn(_STX | _ATOMIC | size, dst, src, off, imm=_ADD)


def ld_map_fd(dst: int, fd: int) -> bytes:
    """``dst = the map whose fd is fd`` (two instruction slots)."""
    return (_insn(_LD | DW | _IMM, dst, PSEUDO_MAP_FD, imm=fd)
            + _insn(0, imm=0))


def jeq_imm(dst: int, imm: int, off: int) -> bytes:
    """``if dst == imm: skip off instructions``."""
    return _insn(_JMP | _JEQ | _K, dst, off=off, imm=imm)


def jsge_imm(dst: int, imm: int, off: int) -> bytes:
    """``if (s64) dst >= imm: skip off instructions``."""
    return _insn(_JMP | _JSGE | _K, dst, off=off, imm=imm)


def ja(off: int) -> bytes:
    """``skip off instructions``."""
    return _insn(_JMP | _JA, off=off)


def call(helper: int) -> bytes:
    """``R0 = helper(R1, ..., R5)``; ``R1``-``R5`` are clobbered."""
    return _insn(_JMP | _CALL, imm=helper)


def exit_() -> bytes:
    """Return ``R0``."""
    return _insn(_JMP | _EXIT)


class Program:
    """Instructions appended in order, with named labels for forward jumps.

    ``jump(kind, label, ...)`` leaves a hole that ``assemble`` fills with the distance
    to ``label`` (in 8-byte slots), so a program reads top to bottom like its source."""

    def __init__(self) -> None:
        self.slots: list[bytes] = []
        self.labels: dict[str, int] = {}
        self.holes: list[tuple[int, str, int, int]] = []  # slot, label, opcode, dst | imm

    def emit(self, *code: bytes) -> None:
        for chunk in code:
            self.slots.extend(chunk[i:i + 8] for i in range(0, len(chunk), 8))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.slots)

    def jump(self, test: str, label: str, dst: int = 0, imm: int = 0) -> None:
        """``test``: "ja", "jeq" or "jsge" (against ``imm``); filled in by ``assemble``."""
        opcode = {"ja": _JMP | _JA, "jeq": _JMP | _JEQ | _K, "jsge": _JMP | _JSGE | _K}[test]
        self.holes.append((len(self.slots), label, opcode, dst))
        self.slots.append(_INSN.pack(opcode, dst, 0, imm))

    def assemble(self) -> bytes:
        slots = list(self.slots)
        for at, label, opcode, dst in self.holes:
            imm = _INSN.unpack(slots[at])[3]
            slots[at] = _insn(opcode, dst, off=self.labels[label] - at - 1, imm=imm)
        return b"".join(slots)
