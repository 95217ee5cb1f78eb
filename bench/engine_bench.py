"""The engine's cost per checkpoint: what the daemon asks it every second with sessions running.

Run: python bench/engine_bench.py [--quick] [--write]
One child, 8 entries with max_run, quota, cooldown and a window, 4 of them in a group
with its own quota, 4 sessions running. Each tick: charge, due, next_wakeup and the
availability of all 8 entries (what a `status` call adds). The floor is the same loop
with nothing but the Instant built, measured in the same run.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import harness

from shepherd.engine import Engine, Instant
from shepherd.policy import load_policy_text

ZONE = ZoneInfo("Europe/Paris")
TICKS = 600


def policy_text() -> str:
    text = ('version = 1\n[supervisor]\nday_starts_at = "04:00"\n'
            '[[users]]\nname = "alex"\nmax_sessions = 4\n')
    for i in range(8):
        text += (f'[[entries]]\nid = "e{i}"\ncommand = ["x"]\n'
                 'limits = { max_run = "2h", daily_quota = "3h", cooldown = "5m" }\n'
                 'windows = [ { days = "daily", start = "07:00", end = "22:00" } ]\n')
    return text + '[[groups]]\nid = "g"\nentries = ["e0", "e1", "e2", "e3"]\ndaily_quota = "4h"\n'


def ticks(work: bool) -> float:
    e = Engine(load_policy_text(policy_text()), ZONE)
    wall, mono = datetime(2026, 11, 25, 16, tzinfo=ZONE), 0.0
    for i in range(4):
        e.launch("alex", f"e{i}", Instant(wall, mono), i + 1)
    started = time.perf_counter()
    for _ in range(TICKS):
        mono += 1
        wall += timedelta(seconds=1)
        now = Instant(wall, mono)
        if work:
            e.charge(now)
            e.due(now)
            e.next_wakeup(now)
            for i in range(8):
                e.availability("alex", f"e{i}", now)
    return (time.perf_counter() - started) / TICKS * 1000


def run(quick: bool) -> harness.Section:
    section = harness.Section("engine", "Engine (bench/engine_bench.py)",
                              "python bench/engine_bench.py" + (" --quick" if quick else ""),
                              quick=quick)
    repeats = 2 if quick else 5
    floor = statistics.median(ticks(False) for _ in range(repeats))
    tick = statistics.median(ticks(True) for _ in range(repeats))
    section.add("engine tick: charge, due, next_wakeup and 8 availabilities, 4 sessions",
                f"{tick:.2f} ms median", floor=f"{floor:.3f} ms (the loop alone)")
    return section


if __name__ == "__main__":
    harness.main(run)
