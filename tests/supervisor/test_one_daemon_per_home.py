"""One daemon per state directory and per socket (review of issue 8, finding 2).

A second daemon on the first one's state directory adopted its live session and
both charged it; on its socket it silently took the socket over. A second
daemon must refuse to start, say why in a sentence naming the first one's pid,
and leave the first one and its session alone. Only a socket no daemon
answers on (left by a crash) may be replaced.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.daemon.conftest import ME, ROOT, policy
from tests.supervisor.conftest import escape, survivors, wait_for

ENTRY = """
[[entries]]
id = "game"
{command}
"""


def second_daemon(first: Any, *, state: Path, sock: Path) -> subprocess.CompletedProcess[str]:
    """Run `shepherd daemon` beside ``first``; it must exit by itself."""
    return subprocess.run(
        [sys.executable, "-m", "shepherd", "daemon", "--user", "--child", ME,
         "--policy", str(first.policy_path), "--state-dir", str(state), "--socket", str(sock)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


def started(daemon_factory: Any, token: str) -> Any:
    first = daemon_factory(policy(ENTRY.format(command=escape("ignore-term", token))))
    assert first.call("launch", entry="game")["session_id"] == 1
    wait_for(lambda: survivors(token))
    return first


def first_untouched(first: Any, token: str) -> None:
    assert first.process.poll() is None
    assert [s["id"] for s in first.call("status")["sessions"]] == [1]
    assert survivors(token)
    assert first.audit("session_adopted") == []
    assert "session_ended" not in first.audit_types()


def test_a_second_daemon_on_the_same_state_directory_refuses_to_start(
        daemon_factory: Any, token: str, tmp_path: Path) -> None:
    first = started(daemon_factory, token)
    other_socket = Path(daemon_factory.rundir) / "other.sock"
    result = second_daemon(first, state=first.state, sock=other_socket)
    assert result.returncode == 1, result.stderr
    assert "will not start" in result.stderr
    assert str(first.state) in result.stderr
    assert f"pid {first.process.pid}" in result.stderr
    assert not other_socket.exists()
    first_untouched(first, token)
    starts = first.audit("service_started")
    assert len(starts) == 1, starts  # the second daemon wrote nothing into the books


def test_a_second_daemon_on_the_same_socket_refuses_to_start(
        daemon_factory: Any, token: str, tmp_path: Path) -> None:
    first = started(daemon_factory, token)
    result = second_daemon(first, state=tmp_path / "other-state", sock=first.socket)
    assert result.returncode == 1, result.stderr
    assert "will not start" in result.stderr
    assert str(first.socket) in result.stderr
    assert f"pid {first.process.pid}" in result.stderr
    first_untouched(first, token)  # still reachable on its socket
    assert not (tmp_path / "other-state" / "shepherd.db").exists()


def test_a_socket_a_live_program_answers_on_is_never_replaced(
        daemon_factory: Any, tmp_path: Path) -> None:
    """A daemon of an older version (no lock) or anything else listening: left alone."""
    first = daemon_factory(policy(""))
    first.stop()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(first.socket))
    listener.listen(1)
    try:
        result = second_daemon(first, state=first.state, sock=first.socket)
        assert result.returncode == 1, result.stderr
        assert "answers" in result.stderr and str(first.socket) in result.stderr
        assert first.socket.exists()
    finally:
        listener.close()


def test_a_stale_socket_left_by_a_crash_is_replaced(daemon_factory: Any) -> None:
    first = daemon_factory(policy(""))
    first.kill9()
    assert first.socket.exists()  # what kill -9 leaves behind
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        assert stale.connect_ex(str(first.socket)) != 0  # nobody answers
    finally:
        stale.close()
    first.process = subprocess.Popen(
        [sys.executable, "-m", "shepherd", "daemon", "--user", "--child", ME,
         "--policy", str(first.policy_path), "--state-dir", str(first.state),
         "--socket", str(first.socket)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    wait_for(lambda: _answers(first), 30)
    assert len(first.audit("service_started")) == 2


def _answers(daemon: Any) -> bool:
    try:
        daemon.call("hello")
    except Exception:
        return False
    return True
