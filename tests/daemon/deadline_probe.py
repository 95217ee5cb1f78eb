"""A session's program that notes when SIGTERM reached it (wall clock), then exits.

    python deadline_probe.py OUTFILE
"""

import signal
import sys
import time


def on_term(signum: int, frame: object) -> None:
    with open(sys.argv[1], "w") as handle:
        handle.write(repr(time.time()))
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
while True:
    time.sleep(60)
