"""A program that tries to outlive its session: double fork, setsid, ignore SIGTERM.

SIGTERM is ignored first (every process of the tree inherits it: whenever the deadline
comes, only SIGKILL ends them); the grandchild writes its pid to ``argv[2]`` once it
is in place, so a test waits for it rather than for a while."""

import os
import signal
import sys
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open(sys.argv[2] + ".tmp", "w") as noted:
            noted.write(str(os.getpid()))
        os.rename(sys.argv[2] + ".tmp", sys.argv[2])
        time.sleep(600)
    sys.exit(0)
time.sleep(600)
