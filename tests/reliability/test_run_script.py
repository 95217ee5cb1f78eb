"""`reliability/run --help` explains itself and leaves RELIABILITY.md as it was."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_help_prints_usage_and_rewrites_nothing() -> None:
    doc = ROOT / "RELIABILITY.md"
    before = doc.read_bytes()
    for flag in ("--help", "-h"):
        done = subprocess.run([sys.executable, str(ROOT / "reliability" / "run.py"), flag],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert "Usage: reliability/run" in done.stdout
        assert "pytest" not in done.stderr
    assert doc.read_bytes() == before
