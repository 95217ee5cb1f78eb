"""A hostile client: random and mutated JSON-RPC lines at a daemon's socket (stdlib only).

    python ipc_fuzzer.py SOCKET SEED MESSAGES ROLE

Run as any uid (an admin, a child, a stranger). It opens connection after
connection and sends MESSAGES lines in all: valid JSON of the wrong shape,
requests with mutated parameters, invalid UTF-8, huge numbers, deep nesting,
partial lines, batches of thousands, lines over the size limit; some connections
end abruptly (mid-line, or without reading anything), some never read while they
send. Every connection the daemon did not close itself ends with a well-formed
``hello``, which must be answered. An admin sends only methods that read (its
authority is not what is tested; the shape of what it sends is), so a fuzzing
admin does not stop the session the test watches.

Prints one JSON line: counts, and ``unanswered`` (connections whose closing
``hello`` got no answer: should be 0).
"""

import json
import os
import random
import socket
import sys
import time

READ_METHODS = ["hello", "health", "status", "entries", "requests", "policy.show",
                "audit.query", "usage.history", "subscribe", "policy.reload"]
ALL_METHODS = [*READ_METHODS, "launch", "stop", "request_time", "grant", "extend",
               "cooldown.clear", "lock", "unlock", "request.answer", "clock.accept",
               "audit.verify", "store.backup", "nope", "", "rpc.discover"]
PARAMS = ["user", "entry", "session_id", "duration", "target", "mode", "reason", "note", "env",
          "answer", "request_id", "since", "until", "types", "limit", "before", "days", "text",
          "path", "agent"]
MAX_LINE = 64 * 1024


class Fuzz:
    def __init__(self, seed: int, role: str) -> None:
        self.rng = random.Random(seed)
        self.methods = READ_METHODS if role == "admin" else ALL_METHODS

    def scalar(self) -> object:
        r = self.rng
        return r.choice([
            None, True, False, 0, -1, 1, 2**31, -(2**63), 2**64 + 1, 10**300, 1.5, -0.0, 1e308,
            "", "x", "root", "nobody", "game", "probe", "+1h", "-1h", "=0", "1h", "0", "-5s",
            "99999999d", "2026-01-01T00:00:00+00:00", "2026-13-45", "\u0000", "\ud7ff\ue000",
            "é" * r.randint(1, 300), "x" * r.randint(1, 5000), "../../etc/passwd", "/dev/full",
            "LD_PRELOAD", r.randint(-10**6, 10**6), r.random() * 1e6,
        ])

    def value(self, depth: int = 0) -> object:
        r = self.rng
        roll = r.random()
        if depth > 4 or roll < 0.55:
            return self.scalar()
        if roll < 0.8:
            return [self.value(depth + 1) for _ in range(r.randint(0, 5))]
        return {self.key(): self.value(depth + 1) for _ in range(r.randint(0, 5))}

    def key(self) -> str:
        r = self.rng
        return r.choice(PARAMS) if r.random() < 0.7 else r.choice(["", "x", "é", "id", "__proto__"])

    def request(self) -> dict[str, object]:
        r = self.rng
        message: dict[str, object] = {"jsonrpc": "2.0", "method": r.choice(self.methods)}
        if r.random() < 0.85:
            message["id"] = r.choice([r.randint(0, 10**6), "a", None, 1.5, [1], {"a": 1}, True])
        if r.random() < 0.9:
            message["params"] = ({self.key(): self.value(1) for _ in range(r.randint(0, 6))}
                                 if r.random() < 0.85 else self.value(1))
        if r.random() < 0.1:
            del message["jsonrpc"]
        elif r.random() < 0.1:
            message["jsonrpc"] = self.scalar()
        if r.random() < 0.1:
            message[self.key()] = self.value(1)
        return message

    def encoded(self, message: object) -> bytes:
        return json.dumps(message, ensure_ascii=self.rng.random() < 0.5).encode(
            "utf-8", "surrogatepass")

    def mutate(self, data: bytes) -> bytes:
        r = self.rng
        data = bytearray(data)
        for _ in range(r.randint(1, 6)):
            if not data:
                break
            at = r.randrange(len(data))
            roll = r.random()
            if roll < 0.3:
                data[at] = r.randrange(256)
            elif roll < 0.55:
                del data[at:at + r.randint(1, 8)]
            elif roll < 0.8:
                data[at:at] = r.choice([b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\",
                                        b"\xff", b"\xc3", b"\xed\xa0\x80", b"1e999", b"\x00"])
            else:
                data[at:at] = data[r.randrange(len(data)):][:r.randint(1, 40)]
        return bytes(data).replace(b"\n", b" ")

    def line(self) -> bytes:
        """One line to send (without its newline)."""
        r = self.rng
        kind = r.random()
        if kind < 0.30:
            return self.encoded(self.request())
        if kind < 0.50:
            return self.mutate(self.encoded(self.request()))
        if kind < 0.58:
            return self.encoded(self.value())
        if kind < 0.64:
            depth = r.choice([10, 100, 1000, 20000, 30000])
            opener, closer = r.choice([("[", "]"), ('{"a":', "}")])
            return (opener * depth + "1" + closer * depth).encode()[:MAX_LINE - 1]
        if kind < 0.70:
            return r.choice([
                b'{"jsonrpc":"2.0","id":1e999,"method":"hello"}',
                b'{"jsonrpc":"2.0","id":' + b"9" * r.randint(4000, 20000) + b',"method":"hello"}',
                b'{"jsonrpc":"2.0","id":NaN,"method":"hello"}',
                b'{"jsonrpc":"2.0","id":-Infinity,"method":"status"}',
                b'{"jsonrpc":"2.0","id":1,"method":"status","params":{"limit":'
                + b"1" * 5000 + b"}}",
                b'{"jsonrpc":"2.0","id":1,"method":"usage.history","params":{"days":1e308}}',
            ])
        if kind < 0.76:
            return bytes(r.randrange(256) for _ in range(r.randint(1, 300))).replace(b"\n", b"")
        if kind < 0.82:
            count = r.choice([0, 1, 2, 50, 101, 1000, 1800])
            items = [self.request() if r.random() < 0.3 else
                     {"jsonrpc": "2.0", "method": "hello", "id": n} for n in range(count)]
            return self.encoded(items)[:MAX_LINE - 1] if count < 1000 else self.encoded(items)
        if kind < 0.86:
            return b"x" * r.choice([MAX_LINE - 2, MAX_LINE + 10, 3 * MAX_LINE])
        if kind < 0.92:
            return self.encoded([self.request() for _ in range(r.randint(1, 5))])
        return self.encoded({"jsonrpc": "2.0", "method": r.choice(self.methods),
                             "params": self.value(1)})  # a notification: no answer


class Connection:
    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.sock.setblocking(False)
        self.buffer = b""
        self.closed_by_daemon = False
        self.answers = 0
        self.got_last = False

    def send(self, data: bytes) -> bool:
        view = memoryview(data)
        deadline = time.monotonic() + 10
        while view and time.monotonic() < deadline:
            try:
                sent = self.sock.send(view)
                view = view[sent:]
            except BlockingIOError:
                self.drain(0.01)
            except OSError:
                self.closed_by_daemon = True
                return False
        return not view

    def drain(self, wait: float = 0.0) -> None:
        end = time.monotonic() + wait
        while True:
            try:
                chunk = self.sock.recv(1 << 16)
            except BlockingIOError:
                if time.monotonic() >= end:
                    return
                time.sleep(0.002)
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.closed_by_daemon = True
                return
            self.buffer += chunk
            *lines, self.buffer = self.buffer.split(b"\n")
            self.answers += len(lines)
            if any(b'"id":"last"' in line or b'"id": "last"' in line for line in lines):
                self.got_last = True
                return

    def close(self) -> None:
        self.sock.close()


def main() -> None:
    path, seed, total, role = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    fuzz = Fuzz(seed, role)
    rng = fuzz.rng
    counts = {"role": role, "sent": 0, "connections": 0, "answers": 0, "closed_by_daemon": 0,
              "hello_after": 0, "unanswered": 0, "refused_connections": 0}
    while counts["sent"] < total:
        try:
            conn = Connection(path)
        except OSError:
            counts["refused_connections"] += 1
            time.sleep(0.05)
            continue
        counts["connections"] += 1
        style = rng.random()
        lines = rng.randint(1, 60)
        for _ in range(lines):
            line = fuzz.line()
            counts["sent"] += 1
            if not conn.send(line + b"\n"):
                break
            if style >= 0.1:  # a client that never reads: 10% of connections
                conn.drain()
        if style < 0.05:  # abrupt: half a line, then gone
            conn.send(fuzz.encoded(fuzz.request())[: rng.randint(1, 30)])
            counts["sent"] += 1
            conn.close()
            continue
        if style < 0.1:  # never read anything, then hang up
            conn.close()
            continue
        if not conn.closed_by_daemon and conn.send(
                b'{"jsonrpc":"2.0","id":"last","method":"hello"}\n'):
            conn.drain(30)
            if conn.got_last:
                counts["hello_after"] += 1
            elif not conn.closed_by_daemon:
                counts["unanswered"] += 1
        counts["answers"] += conn.answers
        counts["closed_by_daemon"] += conn.closed_by_daemon
        conn.close()
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    os.environ.pop("PYTHONPATH", None)
    main()
