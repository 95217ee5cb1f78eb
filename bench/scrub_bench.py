"""What the daemon's checks of its stored pages cost (issue 9), for BENCHMARKS.md.

    python bench/scrub_bench.py [--quick] [--write]     (--quick: 10,000 audit rows)

The daemon reads its pages again off the loop (``StoreWriter.check_pages``): the books'
tables (every table but the audit log) every 30 s, the whole file every 10 minutes. A
realistic store: a busy household's year (100,000 audit rows, 3 children x 20 entries x
400 days of use, 8,000 sessions). The floor: reading the same file once, from the page
cache, in the same run (what any check of every page costs at least).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import harness
from audit_bench import T0, build_log

from shepherd.store import Store
from shepherd.store.connection import Database
from shepherd.store.salvage import BOOKS, page_problem
from shepherd.store.writer import BOOKS_CHECK_S, WHOLE_CHECK_S


def fill_books(path: Path, days: int) -> None:
    store = Store.open(path, T0)
    with store.db.write() as conn:
        for day in range(days):
            when = (T0 - timedelta(days=day)).date().isoformat()
            for user in ("alex", "sam", "robin"):
                for entry in range(20):
                    conn.execute("INSERT INTO usage VALUES (?, ?, ?, ?)",
                                 (user, f"entry{entry}", when, 1800.0))
            for _n in range(20):
                conn.execute(
                    "INSERT INTO sessions (user, entry, started_at, ended_at, end_reason, "
                    "charged_s) VALUES ('alex', 'entry1', ?, ?, 'expired', 1800)",
                    (when, when))
                sid = conn.last_insert_rowid()
                conn.execute("INSERT INTO session_days VALUES (?, ?, 1800)", (sid, when))
    store.close()


def timed(check: str | None, path: Path, repeat: int) -> list[float]:
    store = Store.open(path, T0)  # the daemon's own connection (the exclusive hold)
    times = []
    try:
        for _ in range(repeat):
            side = Database.attach(path, readonly=True)  # a fresh page cache, as the daemon
            start = time.perf_counter()
            found = page_problem(side.conn, BOOKS if check == "books" else None)
            times.append(time.perf_counter() - start)
            side.close(clean=False)
            assert found is None, found
    finally:
        store.close()
    return times


def run(quick: bool) -> harness.Section:
    rows = 10_000 if quick else 100_000
    days = 40 if quick else 400
    section = harness.Section("scrub", "Checking the stored pages (bench/scrub_bench.py)",
                              "python bench/scrub_bench.py" + (" --quick" if quick else ""),
                              quick=quick)
    with tempfile.TemporaryDirectory(prefix="shbench") as tmp:
        path = Path(tmp) / "shepherd.db"
        build_log(path, rows)
        fill_books(path, days)
        size = path.stat().st_size
        floors = []
        for _ in range(5):
            start = time.perf_counter()
            with path.open("rb") as handle:
                while handle.read(1 << 20):
                    pass
            floors.append(time.perf_counter() - start)
        floor = harness.ms(statistics.median(floors)) + " (the file read once)"
        books = timed("books", path, 20)
        whole = timed(None, path, 5)
        section.add(f"the books' pages (every {BOOKS_CHECK_S:.0f} s)",
                    f"{harness.ms(statistics.median(books))} median, "
                    f"{harness.ms(max(books))} max", floor=floor)
        section.add(f"the whole file (every {WHOLE_CHECK_S / 60:.0f} min)",
                    f"{harness.ms(statistics.median(whole))} median, "
                    f"{harness.ms(max(whole))} max", floor=floor)
        share = (statistics.median(books) / BOOKS_CHECK_S
                 + statistics.median(whole) / WHOLE_CHECK_S)
        section.add("of one core, both together", f"{share * 100:.3f} %")
        section.notes.append(
            f"The store: {rows:,} audit rows, {days * 60:,} rows of use (3 children x 20 "
            f"entries x {days} days), {days * 20:,} sessions; {size / 1e6:.0f} MB. Both run "
            "on the store's maintenance thread (apsw lets go of the GIL inside SQLite), "
            "never on the loop.")
    return section


if __name__ == "__main__":
    harness.main(run)
