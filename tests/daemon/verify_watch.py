"""Call ``audit.verify`` again and again while a second connection calls ``status``.

    python verify_watch.py SOCKET SECONDS

Prints JSON: how many verifies finished, and the most ``status`` answers the daemon
computed (its own ``now``) while one verify was outstanding. A daemon that verified on
its event loop could compute none meanwhile (only in the loop turn before it picked the
verify up and the one after it answered).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import datetime

from shepherd.ipc.client import Client


def main() -> None:
    path, seconds = sys.argv[1], float(sys.argv[2])
    until = time.monotonic() + seconds
    verifies: list[tuple[float, float]] = []
    stamps: list[float] = []

    def verify() -> None:
        with Client(path, timeout=120) as client:
            while time.monotonic() < until:
                sent = time.time()
                assert client.call("audit.verify")["ok"]
                verifies.append((sent, time.time()))

    def status() -> None:
        with Client(path, timeout=120) as client:
            while time.monotonic() < until:
                now = client.call("status")["now"]
                stamps.append(datetime.fromisoformat(now).timestamp())

    threads = [threading.Thread(target=verify), threading.Thread(target=status)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    during = [sum(1 for t in stamps if sent < t < got) for sent, got in verifies]
    print(json.dumps({"verifies": len(verifies), "most_answers_during_one": max(during,
                                                                                default=0)}))


if __name__ == "__main__":
    main()
