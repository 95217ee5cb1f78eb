"""Audit log figures for BENCHMARKS.md.

    python bench/audit_bench.py [--rows 1000000] [--dir DIR]

Measures: durable appends per second (one event per transaction, and 100 per
transaction), one filtered page of `audit` on a large log, and opening that
store (clean, and after an unclean shutdown when the integrity check runs).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shepherd.store import AuditFilter, Store

T0 = datetime(2025, 11, 1, tzinfo=UTC)
TYPES = ["session_started", "session_ended", "warning_issued", "launch_denied", "time_granted"]
USERS = ["alex", "sam", "robin"]


def append_rate(path: Path, count: int, batch: int) -> float:
    store = Store.open(path, T0)
    start = time.perf_counter()
    for first in range(0, count, batch):
        with store.db.write():
            for i in range(first, min(first + batch, count)):
                store.audit(T0, "warning_issued", {"n": i}, user="alex", entry="game")
    elapsed = time.perf_counter() - start
    store.close()
    return count / elapsed


def build_log(path: Path, rows: int) -> None:
    store = Store.open(path, T0)
    step = timedelta(seconds=31_536_000 / rows)  # a year of history
    for first in range(0, rows, 5000):
        with store.db.write():
            for i in range(first, min(first + 5000, rows)):
                store.audit(T0 + step * i, TYPES[i % len(TYPES)],
                            {"session_id": i // 7, "note": f"event {i}"},
                            user=USERS[i % 3], entry=f"entry{i % 11}")
    store.close()


def page_times(path: Path, flt: AuditFilter, repeat: int = 20) -> tuple[float, int]:
    store = Store.open_readonly(path)
    times = []
    count = 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = len(store.audit_page(flt, limit=50).events)
        times.append(time.perf_counter() - start)
    store.close()
    return statistics.median(times) * 1000, count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        base = Path(tmp)
        print(f"machine: {platform.machine()}, {platform.python_implementation()} "
              f"{platform.python_version()}, {Path('/proc/cpuinfo').read_text().count('processor')}"
              " cores")
        print(f"appends, 1 event per transaction: {append_rate(base / 'a.db', 2000, 1):,.0f}/s")
        print(f"appends, 100 per transaction:     {append_rate(base / 'b.db', 50_000, 100):,.0f}/s")
        big = base / "big.db"
        start = time.perf_counter()
        build_log(big, args.rows)
        print(f"built {args.rows:,} rows in {time.perf_counter() - start:.1f}s, "
              f"{big.stat().st_size / 1e6:.0f} MB")
        middle = T0 + timedelta(days=180)
        cases = {
            "no filter": AuditFilter(),
            "type": AuditFilter(types=("time_granted",)),
            "user + type": AuditFilter(user="sam", types=("session_ended",)),
            "entry": AuditFilter(entry="entry7"),
            "one day (since/until)": AuditFilter(since=middle, until=middle + timedelta(days=1)),
            "one day + type + user": AuditFilter(since=middle, until=middle + timedelta(days=1),
                                                 types=("launch_denied",), user="alex"),
            "text, rare (11 rows)": AuditFilter(text="event 99999"),
            "text, common": AuditFilter(text="session_ended"),
            "text + user + type": AuditFilter(text="event 12", user="sam",
                                              types=("launch_denied",)),
            "text, 2 chars (scan)": AuditFilter(text="99"),
        }
        for name, flt in cases.items():
            ms, count = page_times(big, flt)
            print(f"page of 50, {name:<24} {ms:8.2f} ms  ({count} rows)")
        opens = []
        for _ in range(5):
            start = time.perf_counter()
            Store.open(big, T0).close()
            opens.append(time.perf_counter() - start)
        print(f"open (clean shutdown):         {statistics.median(opens) * 1000:8.1f} ms")
        big.with_name(big.name + ".clean").unlink()
        start = time.perf_counter()
        Store.open(big, T0).close()
        print(f"open (unclean, quick_check):   {(time.perf_counter() - start) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
