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
    output = demo.communicate(timeout=30)[0]
    assert "stopping the demo" in output
    assert not Path(f"/proc/{daemon[0]}").exists()
    assert not Path(state).exists()  # the temporary state dir is removed
