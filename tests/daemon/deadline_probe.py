"""A session's program that notes when SIGTERM reached it (wall clock), then exits.

    python deadline_probe.py OUTFILE [NICE]

NICE (the bench's ``--probe-nice``): the probe first sets its own priority, to tell
how much of a late SIGTERM is the program's own wait for a core once it was sent.
"""

import os
import signal
import sys
import time


def on_term(signum: int, frame: object) -> None:
    with open(sys.argv[1], "w") as handle:
        handle.write(repr(time.time()))
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
if len(sys.argv) > 2:
    os.setpriority(os.PRIO_PROCESS, 0, int(sys.argv[2]))
while True:
    time.sleep(60)
