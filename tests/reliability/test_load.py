"""Issue 14, point 5: 64 clients sending requests while 20 sessions expire.

The clients are 63 parents (31 connections as root beside the test's own, and 32 as
a member of the policy's ``admin_group``: a parent is not rate limited, and a uid
may hold at most 32 connections) and one child (``nobody``, at most 50 requests a
second, half its rate limit), each sending its requests one after another. Meanwhile 20
sessions run out, staggered; each session's program notes the wall-clock moment
SIGTERM reached it, against the deadline the daemon announced at launch.

Every request must be answered with a result, and every session must end as
expired, never before its deadline. The full run holds the issue's bound (50 ms
after the deadline at the 99th percentile); CI records the figure only. Beside it,
in the same run, a bare timer process SIGTERMs probes of its own at the same
deadlines (``programs/floor_timer.py``): the floor any program gets on this
machine under this load, recorded with the figure (a missed bound is then read
against it, RELIABILITY.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import policy
from tests.reliability.conftest import FULL, ROOT_ONLY, rounds
from tests.reliability.crashloop import machine, percentile, rss_kib

HERE = Path(__file__).resolve().parent
PROBE = HERE.parent / "daemon" / "deadline_probe.py"
CLIENT = HERE / "programs" / "load_client.py"
FLOOR = HERE / "programs" / "floor_timer.py"
OTHER_PYTHON = "/usr/bin/python3"
ADMIN_UID = 1  # "daemon", whose own group is the policy's admin_group
NOBODY_UID = 65534  # the 64th client, a child
CLIENTS = ((0, 31, "parent"), (ADMIN_UID, 32, "parent"), (NOBODY_UID, 1, "child"))
SESSIONS = 20
DEADLINE_BOUND_S = 0.05

pytestmark = [ROOT_ONLY, pytest.mark.skipif(not os.access(OTHER_PYTHON, os.X_OK),
                                            reason="no system python3 for other uids")]


def load_policy(term_dir: Path) -> str:
    entries = "".join(f"""
[[entries]]
id = "probe{n}"
command = ["{sys.executable}", "{PROBE}", "{term_dir}/term{n}"]
limits = {{ max_run = "{rounds(2, 6) + n // rounds(5, 3)}s" }}
""" for n in range(SESSIONS))
    return policy(entries, supervisor='stop_grace = "2s"\nadmin_group = "daemon"',
                  users=f"max_sessions = {SESSIONS}") + '\n[[users]]\nname = "nobody"\n'


def test_64_clients_are_all_answered_while_20_sessions_end_on_time(
        far_daemon_factory: Any, tmp_path: Path, record: Any) -> None:
    d = far_daemon_factory(load_policy(tmp_path))
    assert d.process is not None
    os.chmod(d.socket, 0o666)
    os.chmod(d.socket.parent, 0o755)
    requests = rounds(50, 2000)
    before = rss_kib(d.process.pid)
    began = time.monotonic()
    clients = [subprocess.Popen([OTHER_PYTHON, str(CLIENT), str(d.socket), str(threads),
                                 str(requests), role], user=uid, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd="/")
               for uid, threads, role in CLIENTS]
    floor_dir = tmp_path / "floor"
    floor_dir.mkdir()
    floor = subprocess.Popen([sys.executable, str(FLOOR), str(floor_dir), str(SESSIONS)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert floor.stdin is not None and floor.stdout is not None
    assert floor.stdout.readline() == "ready\n"
    time.sleep(0.5)
    deadlines = {}
    for n in range(SESSIONS):
        launched = d.call("launch", entry=f"probe{n}")
        deadlines[n] = datetime.fromisoformat(launched["deadline"]).timestamp()
        floor.stdin.write(f"{deadlines[n]!r}\n")
        floor.stdin.flush()
    floor.stdin.close()
    reports = []
    for client in clients:
        out, err = client.communicate(timeout=1800)
        assert client.returncode == 0, err
        reports.append(json.loads(out))
    took = time.monotonic() - began
    end = time.monotonic() + 60
    while d.call("status")["sessions"] and time.monotonic() < end:
        time.sleep(0.1)
    floor_delays = json.loads(floor.stdout.read())
    floor.wait(60)
    rss = rss_kib(d.process.pid) - before
    delays = sorted(float((tmp_path / f"term{n}").read_text()) - deadlines[n]
                    for n in range(SESSIONS) if (tmp_path / f"term{n}").exists())
    assert d.stop() == 0  # the books are read at rest (another process may not read them live)
    store = d.store()
    try:
        reasons = [r for (r,) in store.db.conn.execute(
            "SELECT end_reason FROM sessions WHERE entry LIKE 'probe%'")]
    finally:
        store.close()
    sent = sum(r["sent"] for r in reports)
    answered = sum(r["results"] for r in reports)
    count = sum(threads for _, threads, _ in CLIENTS)
    record(clients=count, requests_each=requests, sent=sent, answered=answered,
           errors=[r["errors"] for r in reports], seconds=round(took, 1),
           requests_per_s=round(sent / took), slowest_answer_s=round(
               max(r["slowest_s"] for r in reports), 3), sessions=len(delays),
           deadline_p99_ms=round(percentile(delays, 0.99) * 1000, 1) if delays else None,
           deadline_max_ms=round(max(delays) * 1000, 1) if delays else None,
           floor_p99_ms=round(percentile(floor_delays, 0.99) * 1000, 1),
           floor_max_ms=round(max(floor_delays, default=0.0) * 1000, 1),
           rss_growth_kib=rss, machine=machine())
    assert count == 64
    assert sent == count * requests and answered == sent, reports
    assert len(delays) == SESSIONS, "a session was never stopped"
    assert reasons == ["expired"] * SESSIONS, reasons
    assert delays[0] >= -0.01, f"a session ended {-delays[0]:.3f}s before its deadline"
    if FULL:
        assert percentile(delays, 0.99) < DEADLINE_BOUND_S, (
            f"p99 {percentile(delays, 0.99):.3f} s after the deadline; a bare timer in the "
            f"same run: p99 {percentile(floor_delays, 0.99):.3f} s", delays[-5:])
