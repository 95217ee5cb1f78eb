"""A session's program for the benchmarks: notes when it started and when SIGTERM reached it.

    python -I -S probe.py OUTDIR [NAME]

Writes ``OUTDIR/NAME.start`` (its pid and the wall clock) at once, and
``OUTDIR/NAME.term`` (the wall clock) when SIGTERM arrives, then exits. NAME is
the session number from ``SHEPHERD_SESSION`` (``<instance>-<session>``) when the
daemon started it.
"""

import os
import signal
import sys
import time


def main() -> None:
    outdir = sys.argv[1]
    name = sys.argv[2] if len(sys.argv) > 2 else os.environ["SHEPHERD_SESSION"].rsplit("-", 1)[1]

    def on_term(signum: int, frame: object) -> None:
        received = time.time()
        with open(os.path.join(outdir, name + ".term"), "w") as handle:
            handle.write(repr(received))
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    with open(os.path.join(outdir, name + ".start.tmp"), "w") as handle:
        handle.write(f"{os.getpid()} {time.time()!r}")
    os.rename(os.path.join(outdir, name + ".start.tmp"), os.path.join(outdir, name + ".start"))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
