"""A ``cmdline`` rule over a child's hostile command line: RE2 (what the daemon uses)
against Python's backtracking ``re`` (what it used before review 14 s9 H2).

The example policy's rule ``"java .*minecraft"`` over ``"java java ..."`` (no match,
the worst case for backtracking), 256 KiB (what the daemon read before) and 6 MiB (the
kernel's cap on arguments and environment, what it reads now). The floor: a plain
substring search (``"minecraft" in line``) over the same text, in the same run.

    python bench/cmdline_bench.py [--quick]

``--quick`` leaves out the backtracking search of 256 KiB (about 20 s here).
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Callable

from shepherd.policy.pattern import compile_pattern

RULE = "java .*minecraft"


def best_of(runs: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        began = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    fast = compile_pattern(RULE)
    slow = re.compile(RULE)
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print("| line | floor: substring | RE2 (now) | Python re (before) |")
    print("|---|---|---|---|")
    sizes = [64 * 1024, 256 * 1024, 6 * 1024 * 1024]
    for size in sizes:
        line = ("java " * (size // 5 + 1))[:size]
        floor = best_of(5, lambda line=line: "minecraft" in line)
        now = best_of(5, lambda line=line: fast.search(line))
        if size > 256 * 1024 or (args.quick and size > 64 * 1024):
            before = "not run"
        else:
            before = f"{best_of(1, lambda line=line: slow.search(line)) * 1000:.0f} ms"
        print(f"| {size // 1024} KiB | {floor * 1000:.2f} ms | {now * 1000:.2f} ms | {before} |")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
