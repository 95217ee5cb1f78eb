"""What keeps the daemon's memory small (figures: bench/memory.py, BENCHMARKS.md)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.daemon.conftest import ROOT

THREADS_THAT_ALLOCATE = textwrap.dedent("""
    import ctypes, sys, threading
    from shepherd.daemon import system
    if sys.argv[1] == "shared":
        system.share_malloc_arenas()
    kept = []
    def work():  # what the store's threads do: allocate and keep
        kept.append([bytearray(50_000) for _ in range(20)])
    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ctypes.CDLL(None).malloc_stats()  # glibc: one "Arena N:" paragraph per arena, on stderr
""")


def _arenas(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", THREADS_THAT_ALLOCATE, mode], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def test_the_daemons_threads_share_one_malloc_arena() -> None:
    if _arenas("own") < 2:
        pytest.skip("this C library gives threads no arenas of their own (not glibc)")
    assert _arenas("shared") == 1
