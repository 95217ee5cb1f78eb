"""Whether the store's files can be written, asked as the kernel answers a write
(review-9-s14b L-E): ext4 gone read-only after an error (``errors=remount-ro``,
``emergency_ro``) leaves the mount ``rw`` and ``access(W_OK)`` true, while every
``open`` to write fails with EROFS; ``health`` then showed SQLite's "unable to open
database file" instead of saying the file system is read-only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shepherd.store import Store, files
from tests.daemon.conftest import ROOT
from tests.daemon.namespaces import Namespace
from tests.store.conftest import T0


def test_asking_never_makes_a_file(tmp_path: Path) -> None:
    path = tmp_path / "shepherd.db"
    Store.open(path, T0).close(clean=True)  # checkpointed: its WAL holds nothing
    wal = files.side_file(path, "-wal")
    wal.unlink(missing_ok=True)
    assert files.unwritable(path) is None
    assert not wal.exists()
    path.unlink()
    assert files.unwritable(path) == f"{path} is missing"
    assert not path.exists()


def test_an_ext4_gone_read_only_after_an_error_is_called_read_only(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.skip("needs root, unshare and nsenter")
    namespace = Namespace(tmp_path / "disk", "8m", image=tmp_path / "disk.img")
    try:
        path = namespace.mountpoint / "shepherd.db"
        script = ("import sys; from pathlib import Path\n"
                  "from shepherd.store import Store, files\n"
                  "from shepherd.store.connection import StoreUnavailable\n"
                  "path = Path(sys.argv[1])\n"
                  "if sys.argv[2] == 'make':\n"
                  "    Store.open(path).close(clean=False)\n"  # (a WAL left, as after a crash)
                  "    raise SystemExit\n"
                  "print(files.unwritable(path))\n"
                  "try:\n    Store.open(path)\n"
                  "except StoreUnavailable as exc:\n    print(exc)\n")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        def run(what: str) -> list[str]:
            done = subprocess.run([*namespace.prefix, sys.executable, "-c", script, str(path),
                                   what], cwd=ROOT, env=env, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
            return done.stdout.splitlines()

        run("make")
        source = namespace.run("findmnt", "-no", "SOURCE", str(namespace.mountpoint))
        trigger = Path("/sys/fs/ext4") / Path(source.stdout.strip()).name / "trigger_fs_error"
        if not trigger.exists():
            pytest.skip("this kernel's ext4 cannot be told to fail (trigger_fs_error)")
        done = namespace.run("mount", "-o", "remount,errors=remount-ro",
                             str(namespace.mountpoint))
        assert done.returncode == 0, done.stderr
        trigger.write_text("1\n")
        options = namespace.run("findmnt", "-no", "OPTIONS", str(namespace.mountpoint)).stdout
        probe = namespace.run(sys.executable, "-c", "import os, sys\n"
                              "print(os.access(sys.argv[1], os.W_OK))", str(path))
        if "emergency_ro" not in options or probe.stdout.strip() != "True":
            pytest.skip(f"not the kernel's emergency_ro that access() does not see: {options}")
        said, refused = run("ask")
        assert said == f"{path} cannot be written: its file system is read-only"
        assert refused == f"{said}; fix it and the store comes back"
    finally:
        namespace.close()
