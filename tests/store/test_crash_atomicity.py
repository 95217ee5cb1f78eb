"""SIGKILL at random moments never tears a state change apart."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from shepherd.store import Store

ROOT = Path(__file__).resolve().parents[2]


def usage_matches_session_history(store: Store) -> list[tuple[object, ...]]:
    """Rows where usage differs from the sum of its sessions' per-day charges."""
    return list(store.db.conn.execute("""
        WITH history AS (
            SELECT s.user, s.entry, d.day, sum(d.seconds) AS seconds
            FROM session_days d JOIN sessions s ON s.id = d.session_id
            GROUP BY s.user, s.entry, d.day)
        SELECT u.user, u.entry, u.day, u.seconds, h.seconds FROM usage u
        LEFT JOIN history h USING (user, entry, day)
        WHERE abs(u.seconds - coalesce(h.seconds, 0)) > 1e-6
        UNION ALL
        SELECT h.user, h.entry, h.day, NULL, h.seconds FROM history h
        LEFT JOIN usage u USING (user, entry, day) WHERE u.user IS NULL AND h.seconds > 1e-6
    """))


def test_sigkill_at_random_moments_leaves_a_consistent_store(tmp_path: Path) -> None:
    path = tmp_path / "shepherd.db"
    rng = random.Random(20261125)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    kills = 0
    for attempt in range(24):
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.store.crash_worker", str(path), str(attempt)],
            stdout=subprocess.PIPE, cwd=ROOT, env=env)
        assert worker.stdout is not None
        assert worker.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.01, 0.3))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        kills += worker.returncode == -signal.SIGKILL
        store = Store.open(path, datetime.now(UTC))
        try:
            assert store.recovery is None, store.recovery
            assert store.verify_audit().ok, store.verify_audit()
            assert usage_matches_session_history(store) == []
            # Crash recovery: sessions still in the snapshot are closed at their
            # last checkpoint, lease included.
            for snap in store.snapshots()[:1]:
                store.end_session(datetime.now(UTC), snap.session_id, [],
                                  "recovered_after_crash", None, settle_lease=False)
            assert usage_matches_session_history(store) == []
            assert store.verify_audit().ok
        finally:
            store.close()
    assert kills >= 20
    store = Store.open_readonly(path)
    try:
        sessions = store.db.conn.execute("SELECT count(*) FROM sessions").get
        assert isinstance(sessions, int) and sessions > 20  # the loop really did work
    finally:
        store.close()
