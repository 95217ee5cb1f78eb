"""Performs store state changes in a loop until killed (for the crash test)."""

from __future__ import annotations

import random
import sys
from datetime import UTC, date, datetime, timedelta

from shepherd.store import Store


def main() -> None:
    path, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    store = Store.open(path, datetime.now(UTC))
    running = [s.session_id for s in store.snapshots()]
    mono = 1000.0
    print("ready", flush=True)
    while True:
        now = datetime.now(UTC)
        day = date(2026, 11, 25) + timedelta(days=rng.randrange(3))
        roll = rng.random()
        if roll < 0.2 and len(running) < 3:
            sid = store.next_session_id()
            store.start_session(now, sid, rng.choice(["alex", "sam"]), rng.choice(["a", "b"]),
                                boot_id="boot", started_mono=mono, lease_day=day,
                                process={"pgid": sid}, audit_data={"n": sid})
            running.append(sid)
        elif roll < 0.7 and running:
            mono += 1.0
            store.checkpoint(now, [(sid, [(day, rng.uniform(0.5, 1.5))], mono, day, (60,))
                                   for sid in running])
        elif roll < 0.85 and running:
            sid = running.pop(rng.randrange(len(running)))
            store.end_session(now, sid, [(day, rng.uniform(0, 1))], "exited",
                              now + timedelta(minutes=5))
        elif roll < 0.95:
            store.grant(now, "alex", "a", day, rng.randint(1, 600), actor="root")
        else:
            store.audit(now, "warning_issued", {"x": rng.random()}, user="sam")


if __name__ == "__main__":
    main()
