"""A session's program that hides every way a child's program could (stdlib only).

    python hider.py PIDFILE

Each process it makes appends ``pid start_ticks`` to PIDFILE, then: one runs
under ``nohup`` with SIGTERM and SIGHUP ignored; one moves to a process group of
its own (``setpgid``); one clears its environment, calls ``setsid``, double-forks
and renames itself (``prctl(PR_SET_NAME)``, ``/proc/self/comm``) to look like
a kernel thread. The session's own process exits at
once, so nothing it started has a parent in the session any more.
"""

import ctypes
import os
import signal
import subprocess
import sys
import time

pidfile = sys.argv[1]


def note() -> None:
    with open(f"/proc/{os.getpid()}/stat") as handle:
        ticks = handle.read().rsplit(")", 1)[1].split()[19]
    with open(pidfile, "a") as handle:
        handle.write(f"{os.getpid()} {ticks}\n")


def linger() -> None:
    note()
    while True:
        time.sleep(1)


if len(sys.argv) > 2:  # the nohup child, started afresh with no environment
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    linger()
if os.fork() == 0:  # nohup, deaf to SIGTERM and SIGHUP
    subprocess.Popen(["nohup", sys.executable, __file__, pidfile, "nohup"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={})
    os._exit(0)
if os.fork() == 0:  # a process group of its own
    os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    linger()
if os.fork() == 0:  # setsid, double fork, no environment, renamed
    os.setsid()
    if os.fork() == 0:
        name = b"kworker/0:1"
        ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)  # PR_SET_NAME
        with open("/proc/self/comm", "wb") as handle:
            handle.write(name)
        os.environ.clear()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        linger()
    os._exit(0)
time.sleep(0.5)
sys.exit(0)
