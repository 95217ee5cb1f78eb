"""Verify a store's audit chain in a process of its own.

    python -m shepherd.store.verify_job PATH

The daemon runs this for ``audit.verify``: hashing every row is Python work that,
on a thread, would hold the interpreter lock the event loop needs, and delay
enforcement on a large log. A process of its own, at a lower CPU priority, takes
nothing from the daemon. PATH is a copy the daemon made: the live store is held
by the daemon alone.
Prints the result as one JSON object (or the problem, with exit code 1).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

from shepherd.store.connection import StoreError
from shepherd.store.store import Store


def main(argv: list[str]) -> int:
    os.nice(10)  # background work: enforcement in the daemon goes first for the CPU
    try:
        store = Store.open_readonly(argv[0])
        try:
            result = store.verify_audit()
        finally:
            store.close()
    except StoreError as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    print(json.dumps(dataclasses.asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
