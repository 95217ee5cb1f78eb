"""Audit log figures for BENCHMARKS.md.

    python bench/audit_bench.py [--quick] [--write]     (--quick: 20,000 rows)

Measures: durable appends per second (one event per transaction, and 100 per
transaction), one filtered page of `audit` on a large log, and opening that
store (clean, and after an unclean shutdown when the integrity check runs).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import harness

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


CASES = {
    "no filter": AuditFilter(),
    "type": AuditFilter(types=("time_granted",)),
    "user + type": AuditFilter(user="sam", types=("session_ended",)),
    "entry": AuditFilter(entry="entry7"),
    "one day (since/until)": AuditFilter(since=T0 + timedelta(days=180),
                                         until=T0 + timedelta(days=181)),
    "one day + type + user": AuditFilter(since=T0 + timedelta(days=180),
                                         until=T0 + timedelta(days=181),
                                         types=("launch_denied",), user="alex"),
    "text, rare": AuditFilter(text="event 99999"),
    "text, common": AuditFilter(text="session_ended"),
    "text + user + type": AuditFilter(text="event 12", user="sam", types=("launch_denied",)),
    "text, 2 chars (scan)": AuditFilter(text="99"),
}


def run(quick: bool) -> harness.Section:
    rows = 20_000 if quick else 1_000_000
    section = harness.Section("store", "Audit log and store (bench/audit_bench.py)",
                              "python bench/audit_bench.py" + (" --quick" if quick else ""),
                              quick=quick)
    print(f"store: {rows:,} audit rows", flush=True)
    with tempfile.TemporaryDirectory(prefix="shbench") as tmp:
        base = Path(tmp)
        single = append_rate(base / "a.db", 200 if quick else 2000, 1)
        section.add("durable appends, 1 event per transaction", f"{single:,.0f} /s")
        batched = append_rate(base / "b.db", 5000 if quick else 50_000, 100)
        section.add("durable appends, 100 events per transaction", f"{batched:,.0f} /s")
        big = base / "big.db"
        start = time.perf_counter()
        build_log(big, rows)
        section.notes.append(f"The log: {rows:,} rows over a year, built in "
                             f"{time.perf_counter() - start:.0f} s, "
                             f"{big.stat().st_size / 1e6:.0f} MB.")
        floor_ms, _ = page_times(big, AuditFilter(), 3 if quick else 20)
        for name, flt in CASES.items():
            ms, count = page_times(big, flt, 3 if quick else 20)
            section.add(f"one page of `audit` (50 rows), {name}",
                        f"{ms:.2f} ms median ({count} rows)",
                        floor=f"{floor_ms:.2f} ms (no filter: the newest 50)")
        opens = []
        for _ in range(2 if quick else 5):
            start = time.perf_counter()
            Store.open(big, T0).close()
            opens.append(time.perf_counter() - start)
        section.add("open the store, after a clean shutdown",
                    f"{statistics.median(opens) * 1000:.1f} ms")
        big.with_name(big.name + ".clean").unlink()
        start = time.perf_counter()
        Store.open(big, T0).close()
        section.add("open the store, after an unclean one (quick_check)",
                    f"{(time.perf_counter() - start) * 1000:.1f} ms")
    return section


if __name__ == "__main__":
    harness.main(run)
