"""Programs a child starts without Shepherd are seen, counted and stopped (issue 10).

Real daemons in system mode (root) with ``nobody`` as the policy's child; the
programs are started directly as ``nobody`` with ``setpriv``, the way a menu or a
terminal would start them, never through ``shepherd launch``. Each test's rules
name only its own programs (a copy of ``sleep`` at a path of its own, a pattern
with its own token), so other daemons on a shared machine are not disturbed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shepherd.supervisor.cgroups import cgroup2_mount, cgroup_of, remove
from shepherd.supervisor.instance import instance_id
from tests.daemon.conftest import DaemonProcess
from tests.supervisor.conftest import NO_CGROUP, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runs programs as another account"),
    pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}"),
]
NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def bin_dir() -> Iterator[Path]:
    """A directory ``nobody`` can run programs from, with copies of ``sleep`` in it."""
    path = Path(tempfile.mkdtemp(prefix="shepherd-outside-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def program(bin_dir: Path, name: str) -> Path:
    copy = bin_dir / name
    shutil.copy2(shutil.which("sleep") or "/bin/sleep", copy)
    copy.chmod(0o755)
    return copy


def as_nobody(*args: str | Path, cgroup: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a program as ``nobody`` directly (optionally first joining ``cgroup``)."""
    command = ["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}",
               "--clear-groups", *map(str, args)]
    if cgroup is not None:
        command = ["/bin/sh", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec "$@"', "sh",
                   *command]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def system_policy(entries: str, supervisor: str = 'stop_grace = "2s"',
                  users: str = "") -> str:
    return (f'version = 1\n[supervisor]\n{supervisor}\ndefault_warnings = []\n'
            f'[[users]]\nname = "nobody"\n{users}\n{entries}')


def start(daemon_factory: Any, entries: str, **kwargs: Any) -> DaemonProcess:
    d: DaemonProcess = daemon_factory(system_policy(entries, **kwargs), system_mode=True)
    said = d.audit("service_started")[-1]["outside_programs"]
    assert said == "the kernel's process events (proc connector)", said
    return d


def session_of(d: DaemonProcess, pid: int) -> int | None:
    """The session of this daemon whose cgroup holds the process (None: in none)."""
    path = cgroup_of(pid) or ""
    marker = f"/shepherd-{instance_id(d.state)}/session-"
    if marker not in path:
        return None
    return int(path.split(marker)[1].split("/")[0])


def gone(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is not None


def test_an_allowed_program_started_directly_is_counted_warned_and_stopped_at_its_deadline(
        daemon_factory: Any, bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    d = start(daemon_factory, f'''
[[entries]]
id = "game"
label = "The Game"
command = ["{game}", "1000"]
limits = {{ max_run = "5s" }}
warnings = [ {{ before = "3s", message = "3 seconds left" }} ]
detect = {{ exe = ["{game}"] }}
''')
    events = d.events()
    first = as_nobody(game, "1000")
    try:
        started = events.next("session_started")
        assert started["origin"] == "outside" and started["entry"] == "game"
        assert started["pid"] == first.pid and started["user"] == "nobody"
        sid = started["session_id"]
        assert session_of(d, first.pid) == sid
        # A second window of the same program is the same session, not a second one.
        second = as_nobody(game, "1001")
        wait_for(lambda: session_of(d, second.pid) == sid)
        assert [s["id"] for s in d.call("status")["sessions"]] == [sid]
        assert events.next("warning_issued")["session_id"] == sid
        ended = events.next("session_ended")
        assert ended["session_id"] == sid and ended["reason"] == "expired"
        wait_for(lambda: gone(first) and gone(second))
    finally:
        for process in (first,):
            process.kill()
    audited = [a for a in d.audit("session_started") if a["session_id"] == sid]
    assert audited and audited[0]["origin"] == "outside"
    assert audited[0]["matched_by"] == "exe" and audited[0]["exe"] == str(game)
    assert d.call("status")["sessions"] == []


def test_a_denied_program_is_stopped_at_once_and_told_in_the_words_of_a_refused_launch(
        daemon_factory: Any, bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    now = time.localtime()
    shut = f"{(now.tm_hour + 2) % 24:02d}:00"
    d = start(daemon_factory, f'''
[[entries]]
id = "game"
label = "The Game"
command = ["{game}", "1000"]
windows = [ {{ days = "daily", start = "{shut}", end = "{(now.tm_hour + 3) % 24:02d}:00" }} ]
detect = {{ exe = "{game}" }}
''')
    events = d.events()
    child = as_nobody(game, "1000")
    denied = events.next("launch_denied")
    wait_for(lambda: gone(child), 10)
    assert child.returncode == -9
    assert denied["origin"] == "outside" and denied["entry"] == "game"
    assert [r["code"] for r in denied["reasons"]] == ["outside_window"]
    # The same sentence a refused `shepherd launch` prints.
    refusal = subprocess.run(
        [sys.executable, "-m", "shepherd", "--socket", str(d.socket), "launch", "game",
         "--user", "nobody"], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert refusal.returncode == 3, refusal.stderr
    assert denied["text"] == refusal.stderr.strip()
    audited = d.audit("launch_denied")
    assert audited[0]["origin"] == "outside" and audited[0]["pid"] == child.pid
    assert d.call("status")["sessions"] == []
