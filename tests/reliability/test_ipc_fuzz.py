"""Issue 14, point 3: random and mutated messages from several connections at once.

Six fuzzing clients (two admins, two children, two strangers; ``programs/ipc_fuzzer.py``)
send their share of the messages while sessions with deadlines run. Afterwards the
daemon is up, answers a well-formed request, every connection it kept open answered
its closing ``hello``, its RSS grew by less than 5 MiB, the watched sessions ended
as expired (never before their deadline), and the audit chain verifies.

The deadline delay is recorded; only the full run holds it to the issue's 50 ms
(at the 99th percentile); CI checks that no session ended early or was left
running (a loaded CI machine says nothing about milliseconds).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import ME, policy
from tests.reliability.conftest import FULL, ROOT_ONLY, rounds, seed
from tests.reliability.crashloop import machine, percentile, rss_kib

HERE = Path(__file__).resolve().parent
PROBE = HERE.parent / "daemon" / "deadline_probe.py"
FLOOR = HERE / "programs" / "floor_timer.py"
OTHER_PYTHON = "/usr/bin/python3"
STRANGER = 4242
NOBODY = 65534
DEADLINE_BOUND_S = 0.05  # the bound, held in the full run
RSS_BOUND_KIB = 5 * 1024

pytestmark = [ROOT_ONLY, pytest.mark.skipif(not os.access(OTHER_PYTHON, os.X_OK),
                                            reason="no system python3 for other uids")]


def fuzz_policy(term_dir: Path) -> str:
    return policy(f"""
[[entries]]
id = "probe"
users = ["{ME}"]
command = ["{sys.executable}", "{PROBE}", "{term_dir}/term"]
limits = {{ max_run = "{rounds(1, 3)}s" }}

[[entries]]
id = "game"
command = ["sleep", "3599"]
limits = {{ max_run = "30s" }}
""", users='max_sessions = 2\n[[users]]\nname = "nobody"\nmax_sessions = 2\n')


def fuzzers(socket: Path, chosen: int, total: int) -> list[subprocess.Popen[str]]:
    os.chmod(socket, 0o666)
    os.chmod(socket.parent, 0o755)
    script = HERE / "programs" / "ipc_fuzzer.py"
    roles = [(0, "admin"), (0, "admin"), (NOBODY, "child"), (NOBODY, "child"),
             (STRANGER, "stranger"), (STRANGER, "stranger")]
    return [subprocess.Popen([OTHER_PYTHON, str(script), str(socket), str(chosen + n),
                              str(total // len(roles)), role],
                             user=uid, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd="/")
            for n, (uid, role) in enumerate(roles)]


def watched_session(d: Any, term: Path) -> tuple[float, float]:
    """Launch the probe, wait for its end: seconds from its deadline to its SIGTERM, and
    the same for a bare timer's probe at the same deadline (``programs/floor_timer.py``:
    the floor any program gets on this machine at that moment)."""
    term.unlink(missing_ok=True)
    (term.parent / "floor0").unlink(missing_ok=True)
    floor = subprocess.Popen([sys.executable, str(FLOOR), str(term.parent), "1"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert floor.stdout is not None and floor.stdout.readline() == "ready\n"
    d.call("cooldown.clear", user=ME, entry="probe")
    launched = d.call("launch", entry="probe", user=ME)
    deadline = datetime.fromisoformat(launched["deadline"]).timestamp()
    end = time.monotonic() + 60
    while not (term.exists() and term.read_text()) and time.monotonic() < end:
        time.sleep(0.05)
    assert term.exists(), "the watched session was never stopped"
    # SIGTERM came; the session ends when its program has (a launch before is refused).
    while any(s["entry"] == "probe" for s in d.call("status")["sessions"]) and \
            time.monotonic() < end:
        time.sleep(0.05)
    floor_delays = json.loads(floor.communicate(f"{deadline!r}\n", timeout=60)[0])
    return float(term.read_text()) - deadline, max(floor_delays, default=0.0)


def test_fifty_thousand_hostile_messages_leave_the_daemon_up_small_and_on_time(
        far_daemon_factory: Any, tmp_path: Path, record: Any) -> None:
    d = far_daemon_factory(fuzz_policy(tmp_path))
    assert d.process is not None
    chosen = seed()
    random.seed(chosen)
    for _ in range(50):  # warm the daemon's caches before the baseline
        d.call("status")
    watched_session(d, tmp_path / "term")
    before = rss_kib(d.process.pid)
    floors: list[float] = []
    total = rounds(2_000, 60_000)
    running = fuzzers(d.socket, chosen, total)
    delays: list[float] = []
    reports: list[dict[str, Any]] = []
    try:
        while any(f.poll() is None for f in running) or not delays:
            delay, floor = watched_session(d, tmp_path / "term")
            delays.append(delay)
            floors.append(floor)
        for fuzzer in running:
            out, err = fuzzer.communicate(timeout=600)
            assert fuzzer.returncode == 0, err
            reports.append(json.loads(out))
    finally:  # a failed check leaves no fuzzer behind
        for fuzzer in running:
            if fuzzer.poll() is None:
                fuzzer.kill()
                fuzzer.wait(10)
    time.sleep(1.0)  # connections the daemon is still closing
    assert d.process.poll() is None, "the daemon died"
    hello = d.call("hello")
    assert hello["role"] == "admin"
    grown = rss_kib(d.process.pid) - before
    verify = d.call("audit.verify")
    store = d.store()
    try:
        probes = dict(store.db.conn.execute(
            "SELECT id, end_reason FROM sessions WHERE entry = 'probe'").fetchall())
    finally:
        store.close()
    sent = sum(r["sent"] for r in reports)
    record(messages=sent, seed=chosen, machine=machine(), connections=sum(
               r["connections"] for r in reports), answers=sum(r["answers"] for r in reports),
           unanswered=sum(r["unanswered"] for r in reports), rss_growth_kib=grown,
           watched_sessions=len(delays), deadline_p99_ms=round(
               percentile(delays, 0.99) * 1000, 1), deadline_max_ms=round(max(delays) * 1000, 1),
           floor_p99_ms=round(percentile(floors, 0.99) * 1000, 1),
           floor_max_ms=round(max(floors) * 1000, 1))
    assert sent >= total - len(reports)
    assert all(r["unanswered"] == 0 for r in reports), json.dumps(reports)
    assert grown < RSS_BOUND_KIB, f"RSS grew by {grown} KiB"
    assert verify["ok"], verify
    assert set(probes.values()) == {"expired"}, probes
    assert min(delays) >= -0.01, f"a session ended {-min(delays):.3f}s before its deadline"
    if FULL:
        assert percentile(delays, 0.99) < DEADLINE_BOUND_S, (
            f"p99 {percentile(delays, 0.99):.3f} s after the deadline; a bare timer in the "
            f"same run: p99 {percentile(floors, 0.99):.3f} s", sorted(delays)[-5:])
