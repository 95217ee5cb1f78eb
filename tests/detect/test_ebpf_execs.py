"""The children's execs filtered by uid in the kernel (eBPF), and the fallback.

The proc connector hands the daemon every exec on the machine; with the eBPF filter
only the children's reach it. Real kernel, real programs run as ``nobody`` and as
root (root only: loading a BPF program and starting programs as another account).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shepherd.detect import bpfasm as a
from shepherd.detect.connector import CONNECTOR, EBPF, ProcConnector
from shepherd.detect.ebpf import BPF_PROG_TYPE_RAW_TRACEPOINT, ExecRing, load_program, unavailable

NO_EBPF = "not root" if os.geteuid() != 0 else unavailable()
pytestmark = pytest.mark.skipif(NO_EBPF is not None,
                                reason=f"the eBPF filter cannot load here: {NO_EBPF}")
NOBODY = pwd.getpwnam("nobody").pw_uid
OTHER = pwd.getpwnam("daemon").pw_uid
ROOT_DIR = Path(__file__).resolve().parents[2]


def run_as(uid: int, *args: str) -> int:
    """Run a program as ``uid`` (``setpriv`` execs it: its own pid); answers its pid."""
    command = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *args]
    process = subprocess.Popen(command if uid else list(args), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    process.wait()
    return process.pid


def collect(connector_uids: set[int] | None, starts: list[tuple[int, str]],
            until: int) -> tuple[list[int], str, dict[int, int]]:
    """Open a connector (``connector_uids``: try the eBPF filter for them), run ``starts``
    ((uid, program)), then read until ``until``'s pid (the last start) is handed on.
    Answers the pids handed on, the source, and the pids of the starts by index."""
    handed: list[int] = []
    pids: dict[int, int] = {}

    async def read() -> str:
        connector = ProcConnector(handed.append, lambda: None)
        connector.open(connector_uids)
        try:
            for index, (uid, path) in enumerate(starts):
                pids[index] = run_as(uid, path)
            end = time.monotonic() + 30
            while pids[until] not in handed and time.monotonic() < end:
                await asyncio.sleep(0.01)
            return connector.source
        finally:
            connector.close()

    source = asyncio.run(read())
    return handed, source, pids


def test_only_the_childrens_execs_are_handed_on_nobody_elses() -> None:
    # Root's and another account's program starts never reach the daemon: the proc
    # connector handed it every one (it read each one's uid in /proc to drop it).
    starts = [(0, "/bin/true")] * 5 + [(OTHER, "/bin/true")] * 5 + [(NOBODY, "/bin/true")]
    handed, source, pids = collect({NOBODY}, starts, until=len(starts) - 1)
    assert source == EBPF
    assert pids[len(starts) - 1] in handed  # nobody's, with its own pid
    others = {pids[i] for i in range(len(starts) - 1)}
    assert not others & set(handed), "another account's exec woke the daemon"


def test_the_connector_hands_on_everybodys_execs() -> None:
    # The floor the eBPF filter improves on (and the fallback: still sees the child).
    starts = [(0, "/bin/true"), (NOBODY, "/bin/true")]
    handed, source, pids = collect(None, starts, until=1)
    assert source == CONNECTOR
    assert pids[0] in handed and pids[1] in handed


def test_the_childrens_uids_follow_the_policy() -> None:
    # A reload that swaps the child: the old child's starts are no longer handed on.
    handed: list[int] = []

    async def read() -> tuple[int, int, int]:
        connector = ProcConnector(handed.append, lambda: None)
        connector.open({NOBODY})
        try:
            assert connector.source == EBPF
            first = run_as(NOBODY, "/bin/true")
            connector.set_uids({OTHER})
            dropped, taken = run_as(NOBODY, "/bin/true"), run_as(OTHER, "/bin/true")
            end = time.monotonic() + 30
            while not {first, taken} <= set(handed) and time.monotonic() < end:
                await asyncio.sleep(0.01)
            return first, dropped, taken
        finally:
            connector.close()

    first, dropped, taken = asyncio.run(read())
    assert first in handed and taken in handed
    assert dropped not in handed


def test_records_carry_pid_and_uid_and_a_full_ring_is_said() -> None:
    ring = ExecRing()
    ring.open({NOBODY})
    try:
        pid = run_as(NOBODY, "/bin/true")
        records, lost = ring.drain()
        assert (pid, NOBODY) in records and not lost
        assert ring.drain() == ([], False)  # consumed
    finally:
        ring.close()


def test_a_program_the_verifier_refuses_is_an_error_in_its_words() -> None:
    # No exit: the verifier says why, and the caller falls back with those words.
    with pytest.raises(OSError) as refused:
        load_program(BPF_PROG_TYPE_RAW_TRACEPOINT, a.mov_imm(a.R0, 0))
    assert "verifier refused" in str(refused.value.strerror)


def test_without_cap_bpf_the_connector_stands_in_and_says_why() -> None:
    # Root without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN (a locked-down service): the
    # eBPF filter cannot load; the connector's exec events (CAP_NET_ADMIN) still see
    # the child's program.
    script = f"""
import asyncio, subprocess, time
from shepherd.detect.connector import ProcConnector
handed = []
async def main():
    c = ProcConnector(handed.append, lambda: None)
    c.open({{{NOBODY}}})
    p = subprocess.Popen(["setpriv", "--reuid={NOBODY}", "--regid={NOBODY}",
                          "--clear-groups", "/bin/true"])
    p.wait()
    end = time.monotonic() + 30
    while p.pid not in handed and time.monotonic() < end:
        await asyncio.sleep(0.01)
    print(c.source, "|", c.ebpf_problem, "|", p.pid in handed)
    c.close()
asyncio.run(main())
"""
    out = subprocess.run(["setpriv", "--bounding-set=-bpf,-perfmon,-sys_admin",
                          sys.executable, "-c", script], cwd=ROOT_DIR, capture_output=True,
                         text=True, check=True, timeout=60).stdout.strip()
    source, problem, seen = out.split(" | ")
    assert source == CONNECTOR
    assert problem != "None" and "not permitted" in problem.lower(), problem
    assert seen == "True"


def test_a_ring_too_full_for_a_burst_says_so_and_the_owner_looks_through_proc() -> None:
    # A burst of the child's starts between two reads (the smallest ring: 256 records):
    # the starts the ring had no room for are counted in the kernel, and the connector
    # tells its owner, as for the proc connector's ENOBUFS (it looks through /proc).
    ring = ExecRing(ring_bytes=4096)
    ring.open({NOBODY})
    try:
        script = "for i in $(seq 300); do /bin/true; done"
        run_as(NOBODY, "/bin/sh", "-c", script)
        records, lost = ring.drain()
        assert lost and 0 < len(records) < 301
        assert ring.drain() == ([], False)  # told once
    finally:
        ring.close()
    told: list[bool] = []

    async def read() -> None:
        connector = ProcConnector(lambda pid: None, lambda: told.append(True),
                                  ring_bytes=4096)
        connector.open({NOBODY})
        assert connector.source == EBPF
        try:
            run_as(NOBODY, "/bin/sh", "-c", script)
            connector.drain_execs()
            await asyncio.sleep(0)
        finally:
            connector.close()

    asyncio.run(read())
    assert told == [True]
