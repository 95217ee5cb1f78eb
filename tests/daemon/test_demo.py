"""`shepherd demo --plain` starts a daemon, launches a game, and quitting stops everything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_launches_and_quitting_stops_everything() -> None:
    demo = subprocess.Popen([sys.executable, "-m", "shepherd", "demo", "--plain"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)
    assert demo.stdout is not None
    lines = [demo.stdout.readline() for _ in range(4)]
    state = lines[0].split("state in ")[1].strip()
    assert "the child launched the game as session 1: 1m20s allowed" in "".join(lines)
    # The hint names a command that works from anywhere, with or without `shepherd` on PATH.
    hint = next(line for line in lines if "Try in another terminal:" in line)
    command = hint.split("Try in another terminal:", 1)[1].strip()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SHEPHERD_SOCKET")}
    tried = subprocess.run(["bash", "-c", command], cwd="/", env=env, capture_output=True,
                           text=True, timeout=60)
    assert tried.returncode == 0, (command, tried.stderr)
    assert "A short game" in tried.stdout
    daemon = subprocess.run(["pgrep", "-f", f"shepherd daemon --user --policy {state}"],
                            capture_output=True, text=True).stdout.split()
    assert len(daemon) == 1
    time.sleep(0.5)
    demo.send_signal(signal.SIGINT)
    try:
        output = demo.communicate(timeout=30)[0]
    finally:  # never left running for the tests after this one
        if demo.poll() is None:
            demo.kill()
            subprocess.run(["pkill", "-f", f"shepherd daemon --user --policy {state}"])
    assert "stopping the demo" in output
    assert not Path(f"/proc/{daemon[0]}").exists()
    assert not Path(state).exists()  # the temporary state dir is removed


def test_the_demo_shows_a_program_started_outside_being_counted_and_stopped(
        tmp_path: Path) -> None:
    """The scripted child starts the music player outside Shepherd: the demo daemon
    recognises it, makes it a session of "music", and stops it when its 40 s run out."""
    from shepherd.cli.demo import OUTSIDE_MARK, ScriptedChild, demo_policy, outside_mark
    from tests.daemon.conftest import ME

    policy = tmp_path / "policy.toml"
    mark = outside_mark()  # its own: another demo of this account counts only its own
    policy.write_text(demo_policy(ME, mark).replace('daily_quota = "40s"', 'daily_quota = "3s"'))
    socket_path = tmp_path / "sock"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "shepherd", "daemon", "--user", "--policy", str(policy),
         "--state-dir", str(tmp_path / "state"), "--socket", str(socket_path)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.DEVNULL)
    said: list[str] = []
    child: ScriptedChild | None = None
    try:
        from shepherd.cli.demo import _wait_for
        client = _wait_for(socket_path, daemon)
        client.call("subscribe")
        child = ScriptedChild(socket_path, mark, request_after=3600, say=said.append,
                              outside_after=0.5)
        child.start()
        seen: list[dict[str, object]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
                e.get("type") == "session_ended" and e.get("entry") == "music" for e in seen):
            try:
                message = client.read_message()
            except TimeoutError:  # a busy machine: keep listening until the deadline
                continue
            if message.get("method") == "event":
                seen.append(message["params"])
        started = [e for e in seen if e.get("type") == "session_started"
                   and e.get("entry") == "music"]
        assert started and started[0]["origin"] == "outside"
        ended = next(e for e in seen if e.get("type") == "session_ended"
                     and e.get("entry") == "music")
        assert ended["reason"] == "expired"
        assert child.outside is not None
        assert child.outside.wait(timeout=10) is not None  # stopped by the daemon
        assert any(OUTSIDE_MARK not in line and "outside Shepherd" in line for line in said)
    finally:
        if child is not None:
            child.stop()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
