"""`shepherd audit` text: each event in words, with local times (the TUI's renderer);
the codes stay in ``--json``. Review s7 M4."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from shepherd.store import Store

ROOT = Path(__file__).resolve().parents[2]


def audit(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shepherd", "audit", "--db", str(path), *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "TZ": "Europe/Paris"})


def test_a_refusal_reads_as_a_sentence_with_local_times(tmp_path: Path) -> None:
    path = tmp_path / "shepherd.db"
    store = Store.open(path, datetime.now(UTC))
    store.audit(datetime(2026, 11, 30, 16, 0, tzinfo=UTC), "launch_denied", {"reasons": [
        {"code": "group_quota_exhausted", "group": "games", "used_s": 3600.0,
         "quota_s": 3600, "resets_at": "2026-12-01T03:00:00+00:00"}]},
        user="alex", entry="minecraft")
    store.audit(datetime(2026, 11, 30, 16, 5, tzinfo=UTC), "time_granted",
                {"target": "minecraft", "seconds": -1800, "mode": "take"},
                user="alex", actor="mum")
    store.close()
    done = audit(path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "alex could not start minecraft: the games budget for today is used up" \
        in lines[1], lines
    assert "04:00)" in lines[1]  # 03:00 UTC, said in local time (the day depends on today)
    assert "2026-11-30 17:00:00" in lines[1]  # 16:00 UTC is 17:00 in Paris
    assert "30m of minecraft was taken back from alex (by mum)" in lines[0], lines
    for code in ("group_quota_exhausted", "resets_at", "+00:00", "launch_denied"):
        assert code not in done.stdout
    coded = [json.loads(line) for line in audit(path, "--json").stdout.splitlines()]
    assert coded[1]["data"]["reasons"][0]["code"] == "group_quota_exhausted"


def test_entries_are_named_by_their_labels_and_group_grants_as_budgets(tmp_path: Path) -> None:
    """Re-review 12/15 s7 L-a: "root started wk", "3m of g was taken back" beside
    expiry lines that said "Weekly": the store's recorded policy names the entries."""
    path = tmp_path / "shepherd.db"
    store = Store.open(path, datetime.now(UTC))
    store.set_meta("policy_source", """
version = 1
[[users]]
name = "alex"
[[entries]]
id = "wk"
label = "Weekly"
command = ["true"]
[[groups]]
id = "g"
entries = ["wk"]
daily_quota = "1h"
""")
    at = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    store.audit(at, "session_started", {}, user="alex", entry="wk")
    store.audit(at, "time_granted", {"target": "g", "seconds": -313, "mode": "take",
                                     "kind": "group"}, user="alex", entry="g", actor="mum")
    store.audit(at, "time_granted", {"target": "wk", "seconds": 120, "mode": "add",
                                     "expires_at": "2026-11-30T16:30:00+00:00"},
                user="alex", entry="wk", actor="mum")
    store.audit(at, "time_granted", {"target": "g", "seconds": 0, "mode": "set",
                                     "allowance_s": 420, "kind": "group"},
                user="alex", entry="g", actor="mum")
    store.audit(at, "time_granted", {"target": "wk", "seconds": 0, "mode": "set",
                                     "asked_s": 120, "allowance_s": 236, "lasting_s": 236,
                                     "held_at_used": True},
                user="alex", entry="wk", actor="mum")
    store.close()
    done = audit(path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # review-15-s16 P6: what the parent typed, and why the day holds more
    assert ("alex's Weekly for today was set to 2m (held at the 3m56s already used) "
            "(by mum)") in lines[0], lines
    lines = lines[1:]
    assert "alex's g budget for today was set to 7m (by mum)" in lines[0], lines
    assert "alex got 2m more of Weekly until 17:30 (by mum)" in lines[1], lines
    assert "5m13s was taken back from alex's g budget (by mum)" in lines[2], lines
    assert lines[3].endswith("alex started Weekly"), lines
