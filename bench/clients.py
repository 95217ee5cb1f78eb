"""Clients calling one method in a loop, for the benchmarks (run in a process of its own).

    python -I clients.py SOCKET METHOD SECONDS CONNECTIONS [MOST]

Each connection calls METHOD, waits for its answer, and calls again, for SECONDS
(or until MOST answers came); the connections take turns through one ``selectors``
loop, so the client's own interpreter is not what limits the rate. Prints one JSON
line: the number of answers, errors, and the round trips (seconds) of a sample.
"""

from __future__ import annotations

import json
import selectors
import signal
import socket
import sys
import time


def main() -> None:
    path, method, seconds, count = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    most = int(sys.argv[5]) if len(sys.argv) > 5 else 1 << 62
    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method}).encode() + b"\n"
    selector = selectors.DefaultSelector()
    sent: dict[socket.socket, float] = {}
    buffers: dict[socket.socket, bytes] = {}
    for _ in range(count):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        buffers[sock] = b""
        sent[sock] = time.perf_counter()
        sock.sendall(request)
    began = time.monotonic()
    answers = errors = 0
    trips: list[float] = []
    end = time.monotonic() + seconds

    def stop(signum: int, frame: object) -> None:
        nonlocal end
        end = 0.0

    signal.signal(signal.SIGTERM, stop)
    while time.monotonic() < end and sent:
        for key, _ in selector.select(timeout=1.0):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                chunk = sock.recv(1 << 20)
            except ConnectionError:
                chunk = b""
            if not chunk:
                selector.unregister(sock)
                sent.pop(sock)
                errors += 1
                continue
            buffers[sock] += chunk
            while b"\n" in buffers[sock]:
                line, _, buffers[sock] = buffers[sock].partition(b"\n")
                answers += 1
                if b'"error"' in line[:40]:
                    errors += 1
                if len(trips) < 200_000:
                    trips.append(time.perf_counter() - sent[sock])
                if answers >= most:
                    end = 0.0
                if time.monotonic() < end and sock in sent:
                    sent[sock] = time.perf_counter()
                    try:
                        sock.sendall(request)
                    except OSError:  # the daemon closed it (turned away, or cut off)
                        selector.unregister(sock)
                        sent.pop(sock)
                        errors += 1
    seconds = min(seconds, time.monotonic() - began)
    print(json.dumps({"answers": answers, "errors": errors, "seconds": seconds,
                      "trips": trips}), flush=True)


if __name__ == "__main__":
    main()
