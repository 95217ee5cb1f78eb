"""Subscribed connections noting when each event reached them (run in a process of its own).

    python -I subscribers.py SOCKET CONNECTIONS [warnings]

Opens CONNECTIONS connections, subscribes each, prints ``ready`` and then, for
every event line read, notes the system-wide monotonic clock. On SIGTERM (or
when the daemon closes them) prints one JSON line: for each connection, a list
of ``[type, user, seconds]``. With ``warnings`` (bench/enforcement.py): notes the
wall clock instead, and prints for each connection ``{session_id: seconds}`` of the
first ``warning_issued`` of each session.
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
    warnings = sys.argv[3:] == ["warnings"]
    warned: dict[socket.socket, dict[int, float]] = {}
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
        seen[sock], buffers[sock], warned[sock] = [], b"", {}
    running = True

    def stop(signum: int, frame: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while running and selector.get_map():
        for key, _ in selector.select(timeout=0.5):
            now = time.time() if warnings else time.monotonic()
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
                if not warnings:
                    seen[sock].append([params.get("type"), params.get("user"), now])
                elif params.get("type") == "warning_issued":
                    warned[sock].setdefault(int(params["session_id"]), now)
    print(json.dumps(list(warned.values() if warnings else seen.values())), flush=True)


if __name__ == "__main__":
    main()
