"""Calls made as whatever uid runs this (stdlib only): a child, a stranger.

    python as_peer.py SOCKET CALLS_JSON [LISTEN_S]

CALLS_JSON is a list of ``[method, params]``. Each call goes on a connection of
its own (a stranger's connection is closed after its first answer); the answers
are printed as one JSON list, ``{"closed": true}`` where the daemon hung up
without one. With LISTEN_S, it subscribes first and, after the calls, prints the
events that reached it within LISTEN_S seconds (a second JSON line).
"""

import json
import socket
import sys
import time


def connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect(path)
    return sock


def call(path: str, method: str, params: object) -> object:
    with connect(path) as sock:
        sock.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                                 "params": params}).encode() + b"\n")
        line = sock.makefile("rb").readline()
        return json.loads(line) if line else {"closed": True}


def main() -> None:
    path, calls = sys.argv[1], json.loads(sys.argv[2])
    listen = float(sys.argv[3]) if len(sys.argv) > 3 else None
    listener = None
    if listen is not None:
        listener = connect(path)
        listener.sendall(b'{"jsonrpc":"2.0","id":"sub","method":"subscribe"}\n')
    print(json.dumps([call(path, method, params) for method, params in calls]), flush=True)
    if listener is not None and listen is not None:
        events, buffer, end = [], b"", time.monotonic() + listen
        listener.settimeout(0.1)
        while time.monotonic() < end:
            try:
                chunk = listener.recv(1 << 16)
            except TimeoutError:
                continue
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            events += [json.loads(line) for line in lines if line.strip()]
        print(json.dumps([e for e in events if e.get("method") == "event"]), flush=True)


if __name__ == "__main__":
    main()
