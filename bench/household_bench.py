"""Household figures for BENCHMARKS.md: PostgreSQL beside SQLite, and propagation.

    python bench/household_bench.py [--rounds 30]   (as root or not; needs PostgreSQL's
                                                     initdb, as the tests do)

Starts its own PostgreSQL (tests/pgserver.py, with fsync on: durable commits, as
a household's server would make them) and measures, each beside its floor:

- checkpoint: one session's checkpoint as one transaction, SQLite
  (`synchronous=FULL`) and PostgreSQL, and the household path (a line in the local
  journal, then the store applies it); floors: an empty SQLite write transaction,
  a PostgreSQL `SELECT 1` round trip;
- launch: `launch` (then `stop`) round trips on a real user-mode daemon, SQLite
  and household; floor: `hello`;
- enforcement: how late SIGTERM reaches a program after its deadline, SQLite and
  household daemons; floor: a bare asyncio timer;
- propagation: two household daemons ("laptop", "desktop"); the desktop launches
  into a group quota the laptop's session spends (the launch asked on a thread of
  its own), while the laptop's status is read every 2 ms from before the launch is
  asked until its deadline has moved. The figure is from the commit of the
  desktop's launch transaction (PostgreSQL's own commit timestamp,
  ``track_commit_timestamp = on``, of an insert-only row a bench trigger writes in
  that transaction; not the session row, rewritten by later transactions; same
  host, same clock) to the first status
  read showing the laptop's new deadline; also from the launch being asked. Floors:
  a bare LISTEN/NOTIFY delivery between two connections (from the NOTIFY being
  sent to its receipt), and one ``status`` round trip (the poll's resolution).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import apsw  # noqa: E402
import psycopg  # noqa: E402

from shepherd.ipc.client import Client  # noqa: E402
from shepherd.store import Store  # noqa: E402
from shepherd.store.household.store import PgStore  # noqa: E402
from shepherd.store.journal import Journal  # noqa: E402
from tests.pgserver import PgServer, find_bindir  # noqa: E402

PROBE = ROOT / "tests" / "daemon" / "deadline_probe.py"
ME = getpass.getuser()
DAY = date.today()


def ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"p50 {statistics.median(ordered) * 1000:7.2f} ms, p99 {p99 * 1000:7.2f} ms "
            f"({len(ordered)})")


def timed(action: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def checkpoints(base: Path, url: str, runs: int) -> None:
    now = datetime.now(UTC)
    sqlite = Store.open(base / "bench.db", now)
    sqlite.start_session(now, 1, ME, "game", boot_id="b", started_mono=0.0, lease_day=DAY,
                         process={}, audit_data={})
    mono = [0.0]

    def sqlite_checkpoint() -> None:
        mono[0] += 0.5
        sqlite.checkpoint(now, [(1, [(DAY, 0.5)], mono[0], DAY, ())])

    def sqlite_floor() -> None:
        with sqlite.db.write():
            pass

    print("checkpoint, SQLite, one session:       ", ms(timed(sqlite_checkpoint, runs)))
    print("  floor: empty write transaction:      ", ms(timed(sqlite_floor, runs)))
    sqlite.close()

    household = PgStore.open(url, "laptop")
    household.start_session(now, 1, ME, "game", boot_id="b", started_mono=0.0, lease_day=DAY,
                            process={}, audit_data={})

    def pg_checkpoint() -> None:
        mono[0] += 0.5
        household.checkpoint(now, [(1, [(DAY, 0.5)], mono[0], DAY, ())], remaining={1: 60.0})

    journal = Journal(base / "journal.jsonl")

    def household_path() -> None:
        mono[0] += 0.5
        journal.append({"kind": "checkpoint", "ts": now.isoformat(), "rows": [
            {"session": 1, "parts": [[DAY.isoformat(), 0.5]], "charged_mono": mono[0],
             "lease_day": DAY.isoformat(), "fired": [], "remaining_s": 60.0}]}, sync=False)
        journal.applied(household.apply_journal(journal.pending()))

    def pg_floor() -> None:
        household.conn.execute("SELECT 1").fetchone()

    print("checkpoint, PostgreSQL, one session:   ", ms(timed(pg_checkpoint, runs)))
    print("checkpoint, household path (journal):  ", ms(timed(household_path, runs)))
    print("  floor: SELECT 1 round trip:          ", ms(timed(pg_floor, runs)))
    household.close()


def daemon(base: Path, name: str, policy: str,
           env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    work = base / name
    work.mkdir()
    (work / "policy.toml").write_text(policy)
    sock = base / f"{name}.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "shepherd", "daemon", "--user", "--policy",
         str(work / "policy.toml"), "--state-dir", str(work / "state"), "--socket", str(sock),
         "--log-level", "WARNING"], cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    for _ in range(400):
        if sock.exists():
            try:
                with Client(sock) as client:
                    client.call("hello")
                return process, sock
            except Exception:
                pass
        time.sleep(0.05)
    raise SystemExit(f"the {name} daemon did not start")


def entries(term: Path) -> str:
    return f"""
[[entries]]
id = "a"
command = ["sleep", "3600"]
[[entries]]
id = "b"
command = ["sleep", "3600"]
[[entries]]
id = "probe"
command = ["{sys.executable}", "{PROBE}", "{term}"]
limits = {{ max_run = "2s" }}
[[groups]]
id = "games"
entries = ["a", "b"]
daily_quota = "10h"
"""


def policy(term: Path, household: str = "") -> str:
    return (f'version = 1\n[supervisor]\nstop_grace = "2s"\ndefault_warnings = []\n'
            f'[[users]]\nname = "{ME}"\nmax_sessions = 3\n{entries(term)}{household}')


def launches(sock: Path, runs: int) -> None:
    with Client(sock) as client:
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            client.call("launch", entry="a")
            samples.append(time.perf_counter() - start)
            client.call("stop")
        print("  launch round trip:                   ", ms(samples))
        print("  floor: hello round trip:             ",
              ms(timed(lambda: client.call("hello"), runs)))


def enforcement(sock: Path, term: Path, runs: int) -> list[float]:
    delays = []
    for _ in range(runs):
        term.unlink(missing_ok=True)
        with Client(sock) as client:
            launched = client.call("launch", entry="probe")
        deadline = datetime.fromisoformat(launched["deadline"]).timestamp()
        for _ in range(200):
            if term.exists() and term.read_text():
                break
            time.sleep(0.05)
        delays.append(float(term.read_text()) - deadline)
        time.sleep(0.3)
    return delays


def timer_floor(runs: int) -> list[float]:
    async def one() -> float:
        loop = asyncio.get_running_loop()
        deadline = time.time() + 0.2
        fired = loop.create_future()
        loop.call_at(loop.time() + 0.2, lambda: fired.set_result(time.time()))
        return float(await fired) - deadline

    return [asyncio.run(one()) for _ in range(runs)]


def laptops(near: Client) -> float:
    mine = [s for s in near.call("status")["sessions"] if s["machine"] == "laptop2"]
    return float(mine[0]["remaining_s"])


def propagation(laptop: Path, desktop: Path, url: str,
                runs: int) -> tuple[list[float], list[float], list[float], list[float]]:
    """(commit -> laptop moved, launch asked -> laptop moved, status round trips, and the
    earlier, wrong measure: from the session row's latest write's commit)."""
    from_commit: list[float] = []
    from_row: list[float] = []
    from_call: list[float] = []
    polls: list[float] = []
    with Client(laptop) as near, Client(desktop) as far, psycopg.connect(url) as db:
        # An insert-only row written in each launch's own transaction (by a trigger on
        # the session's insert): its xmin is that transaction, so its commit timestamp
        # is the launch's commit. The session row itself is rewritten soon after (the
        # program's start, each checkpoint), so its xmin is a later transaction.
        db.execute("CREATE TABLE IF NOT EXISTS bench_launch (machine TEXT, id BIGINT)")
        db.execute("CREATE OR REPLACE FUNCTION bench_launch() RETURNS trigger "
                   "LANGUAGE plpgsql AS $$ BEGIN INSERT INTO bench_launch "
                   "VALUES (NEW.machine, NEW.id); RETURN NEW; END $$")
        db.execute("CREATE OR REPLACE TRIGGER bench_launch AFTER INSERT ON sessions "
                   "FOR EACH ROW EXECUTE FUNCTION bench_launch()")
        db.commit()
        near.call("launch", entry="a")
        for _ in range(runs):
            before = laptops(near)
            answer: dict[str, Any] = {}
            launch = threading.Thread(target=lambda a=answer: a.update(
                far.call("launch", entry="b")))
            asked = time.time()
            launch.start()
            while True:
                polled = time.perf_counter()
                left = laptops(near)
                seen = time.time()
                polls.append(time.perf_counter() - polled)
                if left < before * 0.75:
                    break
                time.sleep(0.002)
            launch.join()
            row = db.execute("SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin)) "
                             "FROM bench_launch WHERE machine = 'desktop2' AND id = %s",
                             (answer["session_id"],)).fetchone()
            db.commit()
            assert row is not None and row[0] is not None
            from_commit.append(seen - float(row[0]))
            row = db.execute("SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin)) "
                             "FROM sessions WHERE machine = 'desktop2' AND id = %s",
                             (answer["session_id"],)).fetchone()
            db.commit()
            assert row is not None and row[0] is not None
            from_row.append(seen - float(row[0]))
            from_call.append(seen - asked)
            far.call("stop")
            while laptops(near) <= before * 0.9:  # the laptop has the whole group again
                time.sleep(0.01)
        near.call("stop")
    return from_commit, from_call, polls, from_row


def notify_floor(url: str, runs: int) -> list[float]:
    """A bare NOTIFY's delivery: sent on one connection, received on another."""
    samples = []
    with psycopg.connect(url, autocommit=True) as listener, \
            psycopg.connect(url, autocommit=True) as sender:
        listener.execute("LISTEN bench")
        for _ in range(runs):
            sent = time.perf_counter()
            sender.execute("NOTIFY bench")
            for _note in listener.notifies(timeout=5, stop_after=1):
                samples.append(time.perf_counter() - sent)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL is not installed (no initdb)")
    server = PgServer(bindir)
    server.start(fsync=True, settings="-c track_commit_timestamp=on")
    print(f"PostgreSQL {psycopg.connect(server.url('postgres')).info.server_version}, "
          f"SQLite {apsw.sqlite_lib_version()}, fsync on")
    try:
        with tempfile.TemporaryDirectory(prefix="shb") as tmp:
            base = Path(tmp)
            os.chmod(base, 0o755)
            checkpoints(base, server.database("bench"), args.rounds * 10)
            url = server.database("bench")
            service = server.service_file(base / "pg_service.conf", "shepherd", url)
            env = {"PGSERVICEFILE": str(service)}
            dbname = url.split("///", 1)[1].split("?", 1)[0]

            def household(machine: str) -> str:
                return (f'[household]\nstore = "postgresql:///{dbname}?service=shepherd"\n'
                        f'machine = "{machine}"\n')

            term = base / "term.txt"
            print("floor (bare asyncio timer), enforcement:", ms(timer_floor(args.rounds)))
            for label, extra in (("SQLite", ""), ("household", household("laptop"))):
                process, sock = daemon(base, f"d-{label}", policy(term, extra), env)
                try:
                    print(f"{label} daemon:")
                    launches(sock, args.rounds)
                    print("  enforcement (SIGTERM after deadline):",
                          ms(enforcement(sock, term, max(args.rounds // 2, 5))))
                finally:
                    process.terminate()
                    process.wait(60)
            laptop, laptop_sock = daemon(base, "laptop", policy(term, household("laptop2")),
                                         env)
            desktop, desktop_sock = daemon(base, "desktop",
                                           policy(term, household("desktop2")), env)
            try:
                print("floor (bare LISTEN/NOTIFY delivery):", ms(notify_floor(url, args.rounds)))
                committed, asked, polls, rewritten = propagation(laptop_sock, desktop_sock, url,
                                                      args.rounds)
                print("floor (one status round trip, the poll's resolution):", ms(polls))
                print("propagation (desktop's launch committed -> laptop's deadline moved):",
                      ms(committed))
                print("  (the earlier, wrong measure: from the session row's latest write,",
                      "a later transaction):", ms(rewritten))
                print("propagation (desktop's launch asked -> laptop's deadline moved):",
                      ms(asked))
            finally:
                for process in (laptop, desktop):
                    process.terminate()
                    process.wait(60)
    finally:
        server.destroy()


if __name__ == "__main__":
    main()
