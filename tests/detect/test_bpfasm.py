"""The eBPF assembler's encoding (the kernel's verifier is the real judge: test_ebpf_execs)."""

from __future__ import annotations

import struct

from shepherd.detect import bpfasm as a


def decode(code: bytes) -> list[tuple[int, int, int, int, int]]:
    """(opcode, dst, src, off, imm) per 8-byte slot."""
    slots = []
    for at in range(0, len(code), 8):
        opcode, regs, off, imm = struct.unpack_from("<BBhi", code, at)
        slots.append((opcode, regs & 0xF, regs >> 4, off, imm))
    return slots


def test_a_map_fd_load_takes_two_slots_and_names_the_fd() -> None:
    first, second = decode(a.ld_map_fd(a.R1, 7))
    assert first == (0x18, a.R1, a.PSEUDO_MAP_FD, 0, 7)
    assert second == (0, 0, 0, 0, 0)


def test_a_forward_jump_counts_the_slots_after_it_a_map_load_as_two() -> None:
    p = a.Program()
    p.jump("jeq", "out", a.R0, 0)
    p.emit(a.ld_map_fd(a.R1, 3), a.mov_imm(a.R2, -4))
    p.jump("ja", "out")
    p.label("out")
    p.emit(a.mov_imm(a.R0, 0), a.exit_())
    slots = decode(p.assemble())
    assert slots[0] == (0x15, a.R0, 0, 4, 0)   # over the load (2), the mov and the ja
    assert slots[3] == (0x07 | 0xB0, a.R2, 0, 0, -4)
    assert slots[4][:4] == (0x05, 0, 0, 0)     # ja lands on the next slot: off 0
    assert slots[-1] == (0x95, 0, 0, 0, 0)


def test_stores_and_atomics_put_the_registers_where_the_kernel_reads_them() -> None:
    assert decode(a.store_reg(a.W, a.R10, -4, a.R0)) == [(0x63, a.R10, a.R0, -4, 0)]
    assert decode(a.store_imm(a.W, a.R10, -20, 0)) == [(0x62, a.R10, 0, -20, 0)]
    assert decode(a.atomic_add(a.DW, a.R0, 0, a.R1)) == [(0xDB, a.R0, a.R1, 0, 0)]
    assert decode(a.call(a.RINGBUF_OUTPUT)) == [(0x85, 0, 0, 0, 130)]
