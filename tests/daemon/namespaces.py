"""A daemon whose state lives on a small file system of its own, in a private mount namespace.

``Namespace`` mounts a tmpfs (a disk that fills up) or an ext4 image on a loop
device (a disk whose image can be copied as it stands: what reached the "disk",
without what was still in the page cache). Only processes entered into it
(``prefix``) see the mount; the test reads its files through ``/proc/PID/root``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from shepherd.store import Store
from tests.daemon.conftest import DaemonProcess


def needs_namespaces() -> None:
    """Skip the test unless a private mount namespace can be made and entered here."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.skip("needs root, unshare and nsenter")


class Namespace:
    """A private mount namespace holding a small file system for the daemon's state."""

    def __init__(self, mountpoint: Path, size: str, image: Path | None = None) -> None:
        mountpoint.mkdir(parents=True, exist_ok=True)
        self.mountpoint = mountpoint
        self.image = image
        if image is None:
            mount = f'mount -t tmpfs -o size={size} tmpfs "$0"'
        else:
            if shutil.which("mkfs.ext4") is None:
                pytest.skip("needs mkfs.ext4 for a loop-mounted disk image")
            subprocess.run(["truncate", "-s", size, str(image)], check=True)
            subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
            mount = 'mount -o loop "$1" "$0"'
        self.holder = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "--", "sh", "-c",
             f'{mount} && echo mounted && exec sleep 3600', str(mountpoint), str(image)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.holder.stdout is not None
        if self.holder.stdout.readline() != "mounted\n":
            what = "a tmpfs" if image is None else "a loop device"
            pytest.skip(f"cannot mount {what} in a private mount namespace here")

    @property
    def prefix(self) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-m", "--"]

    def inside(self, path: Path) -> Path:
        """The path as seen from inside the namespace, readable from outside."""
        return Path(f"/proc/{self.holder.pid}/root") / str(path).lstrip("/")

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix, *command], capture_output=True, text=True)

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait()


class NamespacedDaemon(DaemonProcess):
    def __init__(self, namespace: Namespace, *args: Any) -> None:
        super().__init__(*args)
        self.namespace = namespace
        self.prefix = namespace.prefix
        self.state = namespace.mountpoint

    def store(self) -> Store:
        """A consistent copy: by the daemon while it runs, else made inside the namespace
        where the file system is mounted."""
        if self.running():
            return super().store()
        copy = self.workdir / f"copy-{time.monotonic_ns()}.db"
        done = self.namespace.run(
            sys.executable, "-c", "import apsw, sys\n"
            "source = apsw.Connection(sys.argv[1], flags=apsw.SQLITE_OPEN_READONLY)\n"
            "target = apsw.Connection(sys.argv[2])\n"
            "with target.backup('main', source, 'main') as job:\n    job.step(-1)\n"
            "target.close()", str(self.state / "shepherd.db"), str(copy))
        assert done.returncode == 0, done.stderr
        return Store.open_readonly(copy)

