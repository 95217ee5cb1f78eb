"""Run the benchmarks one after another and rewrite their tables in BENCHMARKS.md.

    bench/run [--quick] [--write] [--document PATH] [NAME ...]

NAME is a module of bench/ (default: all of ``BENCHMARKS`` below, in that order).
A full run rewrites each table as soon as its benchmark ends; a ``--quick`` run
(small sizes, under two minutes in all, to see that everything works) prints its
figures and writes them only with ``--write``. A benchmark that fails is reported
and the others still run; the exit status says whether all of them ran.
Each module also runs alone: ``python bench/NAME.py [--quick] [--write]``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

import harness

BENCHMARKS = ("engine_bench", "audit_bench", "ipc", "enforcement", "idle_wakeups", "memory",
              "startup", "crash", "tui_bench", "scrub_bench")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"of {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes, to check it works")
    parser.add_argument("--write", action="store_true", help="write a --quick run's tables too")
    parser.add_argument("--document", type=Path, default=harness.DOCUMENT,
                        help="the document whose tables are rewritten (default: BENCHMARKS.md)")
    args = parser.parse_args()
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"no benchmark {', '.join(unknown)} (there are: {', '.join(BENCHMARKS)})")
    write = args.write or not args.quick
    began = time.perf_counter()
    failed = []
    for name in args.names or BENCHMARKS:
        started = time.perf_counter()
        try:
            section = importlib.import_module(name).run(args.quick)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            print(f"{name}: FAILED", flush=True)
            continue
        if write:
            harness.write_section(section, args.document)
        print(f"{name}: {time.perf_counter() - started:.0f} s"
              + (f", written to {args.document}" if write else ""), flush=True)
    print(f"all: {time.perf_counter() - began:.0f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
