"""Subscribed connections noting when each event reached them (run in a process of its own).

    python -I subscribers.py SOCKET CONNECTIONS

Opens CONNECTIONS connections, subscribes each, prints ``ready`` and then, for
every event line read, notes the system-wide monotonic clock. On SIGTERM (or
when the daemon closes them) prints one JSON line: for each connection, a list
of ``[type, user, seconds]``.
"""

from __future__ import annotations

import json
import selectors
import signal
import socket
import sys
import time


def main() -> None:
    path, count = sys.argv[1], int(sys.argv[2])
    selector = selectors.DefaultSelector()
    seen: dict[socket.socket, list[list[object]]] = {}
    buffers: dict[socket.socket, bytes] = {}
    for n in range(count):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        sock.sendall(json.dumps({"jsonrpc": "2.0", "id": n, "method": "subscribe"}).encode()
                     + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            answer += sock.recv(4096)
        if b'"error"' in answer:
            raise SystemExit(f"subscribe refused: {answer!r}")
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        seen[sock], buffers[sock] = [], b""
    running = True

    def stop(signum: int, frame: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while running and selector.get_map():
        for key, _ in selector.select(timeout=0.5):
            now = time.monotonic()
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            chunk = sock.recv(1 << 20)
            if not chunk:
                selector.unregister(sock)
                continue
            buffers[sock] += chunk
            while b"\n" in buffers[sock]:
                line, _, buffers[sock] = buffers[sock].partition(b"\n")
                params = json.loads(line).get("params") or {}
                seen[sock].append([params.get("type"), params.get("user"), now])
    print(json.dumps(list(seen.values())), flush=True)


if __name__ == "__main__":
    main()
