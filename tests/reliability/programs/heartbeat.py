"""A session's program that keeps a record of how long it really ran.

    python heartbeat.py OUTDIR [EXIT_AFTER_S] [stubborn]

It writes ``OUTDIR/<session>.beat`` (the session from the ``SHEPHERD_SESSION``
marker) and rewrites it every 20 ms: ``pid start_ticks started ran_until``, where
``started`` is the moment its process was created (from ``/proc/self/stat``: the end of
that clock tick, so the interpreter's own start counts as running time, never more) and
``ran_until`` the last beat,
both on ``CLOCK_MONOTONIC`` (system-wide: a harness in another process compares
them). SIGTERM keeps its default action, so the program dies where it stands and
the last beat is at most one beat before its death. With ``EXIT_AFTER_S`` it
ends by itself after that long, as a child closing a game would. ``stubborn``: it
ignores SIGTERM (as a game that does not save in time), and ends only by the SIGKILL
at its grace's end.
"""

import os
import signal
import sys
import time

BEAT_S = 0.02
outdir = sys.argv[1]
words = sys.argv[2:]
if "stubborn" in words:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    words.remove("stubborn")
exit_after = float(words[0]) if words else None
session = os.environ.get("SHEPHERD_SESSION", "unknown").rsplit("-", 1)[-1]
with open("/proc/self/stat") as handle:
    start_ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
# The kernel gives the start in whole clock ticks (10 ms), rounded down: the process
# started within the tick after. Counted from the tick's end, the record can only
# understate the running time (from the tick's beginning it overstated it by up to
# 10 ms, which the crash loop read as time given when spawning was fast).
since_boot = (time.clock_gettime(time.CLOCK_BOOTTIME)
              - (start_ticks + 1) / os.sysconf("SC_CLK_TCK"))
started = time.monotonic() - since_boot
fd = os.open(os.path.join(outdir, f"{session}.beat"), os.O_WRONLY | os.O_CREAT, 0o644)


def beat() -> float:
    now = time.monotonic()
    os.pwrite(fd, f"{os.getpid()} {start_ticks} {started:.6f} {now:.6f}\n".encode().ljust(80),
              0)
    return now


while True:
    now = beat()
    if exit_after is not None and now - started >= exit_after:
        sys.exit(0)
    time.sleep(BEAT_S)
