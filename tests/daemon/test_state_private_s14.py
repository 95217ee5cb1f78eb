"""What the daemon keeps in its state directory is its own: the directory private, however it
was started (review-9-s14 M2), and no copy of the store left behind (L8)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shepherd.store.sqlite_backend import picture_prefix
from tests.daemon.conftest import policy

NOBODY = 65534


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv (to try as nobody)")
def test_a_state_directory_others_could_read_is_made_the_daemons_alone(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(""))
    assert stat.S_IMODE(d.state.stat().st_mode) == 0o700  # made so
    assert d.stop() == 0
    d.state.chmod(0o755)  # as a shell's umask makes it, or a parent's mkdir
    (d.state / "shepherd.db").chmod(0o644)
    d.start()
    assert stat.S_IMODE(d.state.stat().st_mode) == 0o700
    # A child cannot open the store (to read every child's history, or to lock it).
    tried = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         sys.executable, "-c", "import sys; open(sys.argv[1], 'rb')",
         str(d.state / "shepherd.db")], capture_output=True, text=True)
    assert tried.returncode != 0 and "Permission denied" in tried.stderr, tried.stderr
    assert d.call("health")["ok"]


def test_copies_a_killed_read_left_are_removed_at_the_next_start_and_no_others(
        daemon_factory: Any, tmp_path: Path) -> None:
    """Review-9-s14 L8: a daemon killed while it read a copy of its store leaves it (up to
    the store's size); the next start removes it, beside the store and in $TMPDIR, and
    never a copy of another store's in the same temporary directory."""
    temporary = tmp_path / "tmpdir"
    temporary.mkdir()
    d = daemon_factory(policy(""), {"TMPDIR": str(temporary)})
    assert d.stop() == 0
    prefix = picture_prefix(d.state / "shepherd.db")
    left = [temporary / f"{prefix}abc", d.state / f"{prefix}def"]
    other = temporary / f"{picture_prefix(tmp_path / 'other' / 'shepherd.db')}ghi"
    for place in [*left, other]:
        place.mkdir()
        (place / "shepherd.db").write_bytes(b"x" * 4096)
    d.start()
    assert d.call("health")["ok"]
    assert [place.exists() for place in left] == [False, False]
    assert other.exists()
