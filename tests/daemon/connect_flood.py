"""Connect and close at once, in a tight loop (review 14 s10 M1), run as some uid.

    python connect_flood.py SOCKET SECONDS [STOPFILE]

Stops after SECONDS, or as soon as STOPFILE exists. Prints the attempts it made and
how many connected.
"""

from __future__ import annotations

import os
import socket
import sys
import time


def main() -> None:
    path, seconds = sys.argv[1], float(sys.argv[2])
    stop = sys.argv[3] if len(sys.argv) > 3 else None
    end = time.monotonic() + seconds
    tried = connected = 0
    while time.monotonic() < end and not (stop and tried % 256 == 0 and os.path.exists(stop)):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        tried += 1
        try:
            sock.connect(path)
            connected += 1
        except OSError:
            pass
        sock.close()
    print(tried, connected, flush=True)


if __name__ == "__main__":
    main()
