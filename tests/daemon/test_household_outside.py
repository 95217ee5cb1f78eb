"""Programs started outside Shepherd, in a household: decided across the machines.

Two real system-mode daemons ("laptop", "desktop") on one real PostgreSQL, the
child ``nobody``. Both daemons run on this one computer and both hear the
kernel's process events, so only the laptop's policy has a ``detect`` rule: a
program the child starts by hand is the laptop's to see, as it would be on a
real laptop. It is decided on the launch's own path (``Daemon._open``): in the
store's transaction, the child's row locked, the household read afresh.
"""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from shepherd.ipc.protocol import LAUNCH_DENIED, RpcError
from tests.daemon.conftest import DaemonProcess, wait_for
from tests.daemon.test_outside import as_nobody, bin_dir, gone, program, session_of
from tests.supervisor.conftest import NO_CGROUP

__all__ = ["bin_dir"]  # the fixture, used by name

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runs programs as another account"),
    pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}"),
]
ROUNDS = 10


def machines(daemon_factory: Any, pg_server: Any, pg_url: str, tmp_path: Path, game: Path,
             users: str = "") -> tuple[DaemonProcess, DaemonProcess]:
    service = pg_server.service_file(tmp_path / "pg_service.conf", "shepherd", pg_url)
    dbname = pg_url.split("///", 1)[1].split("?", 1)[0]

    def one(machine: str, detect: str) -> DaemonProcess:
        policy = f'''version = 1
[supervisor]
stop_grace = "2s"
default_warnings = []
[[users]]
name = "nobody"
{users}
[[entries]]
id = "game"
command = ["{game}", "1000"]
{detect}
[[entries]]
id = "radio"
command = ["sleep", "600"]
[household]
store = "postgresql:///{dbname}?service=shepherd"
machine = "{machine}"
'''
        d: DaemonProcess = daemon_factory(policy, system_mode=True, name=machine,
                                          env={"PGSERVICEFILE": str(service)})
        return d

    return one("laptop", f'detect = {{ exe = "{game}" }}'), one("desktop", "")


def test_a_program_started_outside_counts_against_the_childs_sessions_elsewhere(
        daemon_factory: Any, pg_server: Any, pg_url: str, tmp_path: Path,
        bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    laptop, desktop = machines(daemon_factory, pg_server, pg_url, tmp_path, game)
    events = laptop.events()
    desktop.call("launch", entry="radio", user="nobody")  # max_sessions = 1
    wait_for(lambda: [s for s in laptop.call("status")["sessions"]
                      if s["machine"] == "desktop"], what="the laptop seeing the radio")
    child = as_nobody(game, "1000")
    try:
        denied = events.next("launch_denied")
        assert denied["origin"] == "outside" and denied["pid"] == child.pid
        assert [r["code"] for r in denied["reasons"]] == ["already_running"]
        wait_for(lambda: gone(child), what="the refused program being stopped")
    finally:
        child.kill()
    desktop.call("stop", user="nobody")
    wait_for(lambda: not laptop.call("status")["sessions"], what="the radio's end heard")
    again = as_nobody(game, "1000")
    try:
        started = events.next("session_started")
        assert started["origin"] == "outside" and started["pid"] == again.pid
        assert session_of(laptop, again.pid) == started["session_id"]
        # The desktop counts it: listed with its machine, and no second session there.
        wait_for(lambda: [s for s in desktop.call("status")["sessions"]
                          if s["machine"] == "laptop" and s["entry"] == "game"],
                 what="the desktop seeing the laptop's game")
        with pytest.raises(RpcError) as refused:
            desktop.call("launch", entry="radio", user="nobody")
        assert refused.value.code == LAUNCH_DENIED
        assert [r["code"] for r in refused.value.data["denied"]] == ["already_running"]
    finally:
        again.kill()
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT machine, entry FROM sessions ORDER BY started_at").fetchall()
    assert rows == [("desktop", "radio"), ("laptop", "game")]


def test_a_launch_and_a_program_started_outside_at_once_on_two_machines_never_both_run(
        daemon_factory: Any, pg_server: Any, pg_url: str, tmp_path: Path,
        bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    laptop, desktop = machines(daemon_factory, pg_server, pg_url, tmp_path, game)
    events = laptop.events()
    for _ in range(ROUNDS):
        barrier = threading.Barrier(2)
        launched: list[Any] = [None]

        def launch(barrier: threading.Barrier = barrier, launched: list[Any] = launched) -> None:
            with desktop.client() as client:
                client.call("hello")
                barrier.wait()
                try:
                    launched[0] = client.call("launch", entry="radio", user="nobody")
                except RpcError as exc:
                    launched[0] = exc

        thread = threading.Thread(target=launch)
        thread.start()
        barrier.wait()
        child = as_nobody(game, "1000")
        thread.join(timeout=60)
        try:
            # The laptop's word on its program: a session, or a refusal.
            word = events.next_of(("session_started", "launch_denied"))
            outside_ran = word["type"] == "session_started"
            desktop_ran = isinstance(launched[0], dict)
            assert outside_ran != desktop_ran, (word, launched[0])
            if not desktop_ran:
                assert launched[0].code == LAUNCH_DENIED
            else:
                wait_for(lambda c=child: gone(c), what="the refused program being stopped")
        finally:
            child.kill()
        desktop.call("stop", user="nobody")
        laptop.call("stop", user="nobody")
        for d in (laptop, desktop):
            wait_for(lambda d=d: not d.call("status")["sessions"],
                     what="both machines seeing no session")
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT started_at, ended_at, machine, id, entry, end_reason, "
                            "charged_s FROM sessions ORDER BY started_at").fetchall()
    spans = [(r[0], r[1]) for r in rows if r[5] != "launch_failed"]
    assert len(spans) == ROUNDS, rows  # each row whole: which machine, entry, how it ended
    for (_, ended), (started, _) in itertools.pairwise(spans):
        assert ended is not None and started >= ended
