"""Hostile or greedy clients, run as some uid by the load tests.

    python flooder.py SOCKET MODE SECONDS [THREADS [OUTFILE [BURST]]]

MODE ``write``: send 64 KiB lines of ``[0,0,...]`` and never read, reconnecting
whenever the daemon hangs up. MODE ``lines`` (issue 9 F3's reading flooder): send
the same lines and read each answer. MODE ``status``: call ``status`` (and a batch of
``hello``) as fast as answers come back. MODE ``observe`` (an admin): send
``BURST`` ``status`` lines at once, read their answers, again and again; write to
OUTFILE one line per answer: ``<connection> <the daemon's now> <state of the
probe session: running, stopping or gone>``. Prints the number of lines sent.
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


def liner(path: str, until: float, counts: list[int]) -> None:
    sock = None
    while time.monotonic() < until:
        try:
            if sock is None:
                sock = connect(path)
                stream = sock.makefile("rb")
            sock.sendall(LINE)
            counts.append(1)
            if not stream.readline():
                raise ConnectionResetError("closed")
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


def observer(path: str, until: float, counts: list[int], seen: list[str], burst: int) -> None:
    sock = None
    connections = 0
    while time.monotonic() < until:
        try:
            if sock is None:
                sock = connect(path)
                connections += 1
            name = f"{threading.get_ident()}-{connections}"
            stream = sock.makefile("rb")
            sock.sendall(STATUS * burst)
            for _ in range(burst):
                answer = json.loads(stream.readline())["result"]
                probes = [s for s in answer["sessions"] if s["entry"] == "probe"]
                state = ("gone" if not probes else
                         "stopping" if probes[0]["stopping"] else "running")
                seen.append(f"{name} {answer['now']} {state}")
                counts.append(1)
        except (OSError, ValueError, KeyError):
            if sock is not None:
                sock.close()
            sock = None


def main() -> None:
    path, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    until = time.monotonic() + seconds
    counts: list[int] = []
    seen: list[str] = []
    if mode == "observe":
        burst = int(sys.argv[6]) if len(sys.argv) > 6 else 1
        pool = [threading.Thread(target=observer, args=(path, until, counts, seen, burst))
                for _ in range(threads)]
    else:
        work = {"write": writer, "lines": liner}.get(mode, reader)
        pool = [threading.Thread(target=work, args=(path, until, counts))
                for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if mode == "observe":
        with open(sys.argv[5], "w") as handle:
            handle.writelines(line + "\n" for line in seen)
    print(len(counts), flush=True)


if __name__ == "__main__":
    main()
