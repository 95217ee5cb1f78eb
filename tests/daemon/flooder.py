"""Hostile or greedy clients, run as some uid by the load tests.

    python flooder.py SOCKET MODE SECONDS [THREADS]

MODE ``write``: send 64 KiB lines of ``[0,0,...]`` and never read, reconnecting
whenever the daemon hangs up. MODE ``status``: call ``status`` (and a batch of
``hello``) as fast as answers come back. Prints the number of lines sent.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time

LINE = b"[" + b"0," * 32_000 + b"0]\n"
STATUS = b'{"jsonrpc":"2.0","id":1,"method":"status"}\n'
BATCH = json.dumps([{"jsonrpc": "2.0", "id": n, "method": "hello"} for n in range(50)]).encode()


def connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(path)
    return sock


def writer(path: str, until: float, counts: list[int]) -> None:
    sock = None
    while time.monotonic() < until:
        try:
            sock = sock or connect(path)
            sock.sendall(LINE)
            counts.append(1)
        except OSError:
            if sock is not None:
                sock.close()
            sock = None


def reader(path: str, until: float, counts: list[int]) -> None:
    sock = None
    while time.monotonic() < until:
        try:
            sock = sock or connect(path)
            stream = sock.makefile("rb")
            for message in (STATUS, BATCH + b"\n"):
                sock.sendall(message)
                stream.readline()
                counts.append(1)
        except OSError:
            if sock is not None:
                sock.close()
            sock = None


def main() -> None:
    path, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    until = time.monotonic() + seconds
    counts: list[int] = []
    work = writer if mode == "write" else reader
    pool = [threading.Thread(target=work, args=(path, until, counts)) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    print(len(counts), flush=True)


if __name__ == "__main__":
    main()
