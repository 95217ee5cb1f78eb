"""Programs that try to outlive their session, as a clever child would write them.

``python escapes.py KIND TOKEN [COUNT]``; every process started carries TOKEN in its
command line (``sleep 100000.TOKEN``), so a test can find survivors.
"""

import os
import signal
import sys
import time

kind, token = sys.argv[1], sys.argv[2]
SLEEP = ["sleep", f"100000.{token}"]


def detach_and_sleep() -> None:
    """setsid, double fork, execve with an empty environment: no marker, no parent, no session."""
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execve("/bin/sleep", SLEEP, {})
        os._exit(0)
    os.wait()


if kind == "grandchild":
    detach_and_sleep()
    sys.exit(0)  # the session's own process is gone at once

if kind == "fork-loop":
    # Fork, leave the session in the child, exit in the parent: every 2 ms a new process
    # in a new session, with no parent left to find it through.
    while True:
        time.sleep(0.002)
        if os.fork() != 0:
            os._exit(0)
        os.setsid()

if kind == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    detach_and_sleep()
    while True:
        time.sleep(1)

if kind == "storm":
    # Deaf to SIGTERM, it leaves COUNT detached sleepers at once (each forked twice, in a
    # session of its own), then waits: its stop is the keeper's SIGKILL after the grace.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for _ in range(int(sys.argv[3])):
        detach_and_sleep()
    while True:
        time.sleep(1)

if kind == "printer":
    # Writes all the time (a daemon crash must not kill it by SIGPIPE) and leaves a
    # detached sleep behind.
    detach_and_sleep()
    while True:
        print(f"still here {token}", flush=True)
        time.sleep(0.05)

raise SystemExit(f"unknown kind {kind}")
