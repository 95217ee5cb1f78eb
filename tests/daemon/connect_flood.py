"""Connect and close at once, in a tight loop (review 14 s10 M1), run as some uid.

    python connect_flood.py SOCKET SECONDS

Prints the attempts it made and how many connected.
"""

from __future__ import annotations

import socket
import sys
import time


def main() -> None:
    path, seconds = sys.argv[1], float(sys.argv[2])
    end = time.monotonic() + seconds
    tried = connected = 0
    while time.monotonic() < end:
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
