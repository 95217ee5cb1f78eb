"""A store file read with --db that SQLite finds damaged half way through is said in a
sentence (exit 1), never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shepherd.store import Store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    path = tmp_path / "shepherd.db"
    store = Store.open(path, datetime.now(UTC))
    with store.batch():
        for n in range(2000):
            store.audit(datetime.now(UTC), "launch_denied", {"n": n, "pad": "x" * 200},
                        user="alex", entry="game")
    store.close()
    with path.open("r+b") as handle:  # pages in the middle, the header left whole
        handle.seek(4096 * 5)
        handle.write(b"\xff" * 4096 * 3)
    return path


@pytest.mark.parametrize("command", [["usage"], ["audit"], ["audit", "verify"]])
def test_a_damaged_store_file_is_said_in_words(damaged: Path, command: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "shepherd", *command, "--db", str(damaged)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "SQLite could not read the store file" in done.stderr
    assert "shepherd store backup" in done.stderr
