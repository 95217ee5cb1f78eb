"""A stranger holding many idle connections (review 14 s9 H1), run as some uid.

    python stranger_flood.py SOCKET COUNT SECONDS

Keeps up to COUNT connections open, never writing; reconnects whenever the daemon
hangs up. Prints the number of connections it opened.
"""

from __future__ import annotations

import selectors
import socket
import sys
import time


def main() -> None:
    path, count, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    selector = selectors.DefaultSelector()
    opened = 0

    def one() -> None:
        nonlocal opened
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            time.sleep(0.01)
            return
        selector.register(sock, selectors.EVENT_READ)
        opened += 1

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        while len(selector.get_map()) < count and time.monotonic() < end:
            one()
        for key, _ in selector.select(0.2):
            selector.unregister(key.fileobj)
            key.fileobj.close()  # type: ignore[union-attr]
    print(opened, flush=True)


if __name__ == "__main__":
    main()
