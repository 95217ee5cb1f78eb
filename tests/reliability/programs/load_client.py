"""Many clients of one uid, each sending requests one after another (stdlib only).

    python load_client.py SOCKET CLIENTS REQUESTS [child]

Each of CLIENTS threads opens its own connection and sends REQUESTS read-only
requests (``status`` mostly, ``hello``, ``entries``, ``health``, ``usage.history``),
each waiting for its answer. ``child``: a child's requests (``usage.history`` is a
parent's), at most 50 a second (half a child's rate limit), so none is refused for its
rate. Prints one JSON line: requests sent, answers with a
result, errors by code, connections the daemon closed, and the slowest answer.
"""

import json
import socket
import sys
import threading
import time

CYCLE = ["status", "hello", "status", "entries", "status", "health", "status",
         "usage.history"]
CHILD_CYCLE = ["status", "hello", "status", "entries", "status", "health"]
CHILD_PACE_S = 0.02


def client(path: str, requests: int, totals: dict, lock: threading.Lock,
           child: bool = False) -> None:
    cycle = CHILD_CYCLE if child else CYCLE
    mine = {"sent": 0, "results": 0, "errors": {}, "closed": 0, "slowest_s": 0.0}
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(120)
    sock.connect(path)
    reader = sock.makefile("rb")
    last = 0.0
    for n in range(requests):
        began = time.monotonic()
        if child:
            time.sleep(max(0.0, CHILD_PACE_S - (began - last)))
            began = time.monotonic()
        last = began
        sock.sendall(json.dumps({"jsonrpc": "2.0", "id": n, "method": cycle[n % len(cycle)],
                                 "params": {}}).encode() + b"\n")
        mine["sent"] += 1
        line = reader.readline()
        if not line:
            mine["closed"] += 1
            break
        answer = json.loads(line)
        mine["slowest_s"] = max(mine["slowest_s"], time.monotonic() - began)
        if answer.get("id") != n:
            mine["errors"]["wrong_id"] = mine["errors"].get("wrong_id", 0) + 1
        elif "result" in answer:
            mine["results"] += 1
        else:
            code = str(answer["error"]["code"])
            mine["errors"][code] = mine["errors"].get(code, 0) + 1
    sock.close()
    with lock:
        for key in ("sent", "results", "closed"):
            totals[key] += mine[key]
        for code, count in mine["errors"].items():
            totals["errors"][code] = totals["errors"].get(code, 0) + count
        totals["slowest_s"] = max(totals["slowest_s"], mine["slowest_s"])


def main() -> None:
    path, clients, requests = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    totals = {"sent": 0, "results": 0, "errors": {}, "closed": 0, "slowest_s": 0.0}
    child = sys.argv[4:] == ["child"]
    lock = threading.Lock()
    threads = [threading.Thread(target=client, args=(path, requests, totals, lock, child))
               for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(totals), flush=True)


if __name__ == "__main__":
    main()
