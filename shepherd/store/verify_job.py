"""Verify a store's audit chain(s) in a process of its own.

    python -m shepherd.store.verify_job PATH
    python -m shepherd.store.verify_job postgresql:///shepherd?service=shepherd MACHINE

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

from shepherd.store.audit import VerifyResult
from shepherd.store.connection import StoreError


def verify(target: str, machine: str | None) -> VerifyResult:
    if target.startswith(("postgresql:", "postgres:")):
        from shepherd.store.household.store import PgStore

        household = PgStore.attach(target, machine or "verify", "verify")
        try:
            return household.verify_audit()
        finally:
            household.close()
    from shepherd.store.store import Store

    store = Store.open_readonly(target)
    try:
        return store.verify_audit()
    finally:
        store.close()


def main(argv: list[str]) -> int:
    os.nice(10)  # background work: enforcement in the daemon goes first for the CPU
    try:
        result = verify(argv[0], argv[1] if len(argv) > 1 else None)
    except StoreError as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    except Exception as exc:  # the server went away mid-way: say so, in one line
        print(json.dumps({"error": f"the audit check failed: {exc}"}))
        return 1
    print(json.dumps(dataclasses.asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
