"""A private system-like bus for tests: ``dbus-daemon`` with a minimal config, and the fake
logind on it (``fake_logind.py``), driven from the test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
</busconfig>
"""


class PrivateBus:
    """``dbus-daemon`` on a socket of its own; ``address`` for DBUS_SYSTEM_BUS_ADDRESS."""

    def __init__(self) -> None:
        binary = shutil.which("dbus-daemon")
        if binary is None:
            raise RuntimeError("dbus-daemon is missing (Debian: apt-get install dbus-daemon)")
        self.dir = Path(tempfile.mkdtemp(prefix="shpbus"))
        socket = self.dir / "bus"
        config = self.dir / "bus.conf"
        config.write_text(CONFIG.format(socket=socket))
        self.address = f"unix:path={socket}"
        self.process = subprocess.Popen(
            [binary, f"--config-file={config}", "--nofork", "--nopidfile", "--print-address"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.process.stdout is not None
        self.process.stdout.readline()  # printed once it listens

    def env(self) -> dict[str, str]:
        return {"DBUS_SYSTEM_BUS_ADDRESS": self.address}

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


class FakeLogind:
    """The fake logind process on a bus; ``do("lock c1")`` returns once its signals left."""

    def __init__(self, bus: PrivateBus) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.presence.fake_logind"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), **bus.env()})
        assert self.read() == "ready"

    def read(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def do(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        answer = self.read()
        assert answer == "ok", f"fake logind: {command!r} -> {answer!r}"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
