"""`reliability/run --help` explains itself and leaves RELIABILITY.md as it was."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_a_row_shows_the_command_and_arguments_the_run_really_had(tmp_path: Path) -> None:
    # A run with -k deselects tests: its row must not say "every test" of a plain command.
    spec = importlib.util.spec_from_file_location("reliability_run",
                                                  ROOT / "reliability" / "run.py")
    assert spec is not None and spec.loader is not None
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    rows = run.run_group("11", "the script", ["tests/reliability/test_run_script.py"],
                         ["-k", "usage"], tmp_path / "results.jsonl", "quick", "now")
    [summary] = rows
    assert summary["command"] == ("SHEPHERD_RELIABILITY=quick pytest "
                                  "tests/reliability/test_run_script.py -k usage")
    assert "every test" not in str(summary["size"]) and "-k usage" in str(summary["size"])
    assert "1 passed, 2 deselected" in str(summary["result"]) and summary["ok"]


def test_the_quick_form_runs_every_test_of_every_point_once_and_leaves_the_table_alone(
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("reliability_run",
                                                  ROOT / "reliability" / "run.py")
    assert spec is not None and spec.loader is not None
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    doc = ROOT / "RELIABILITY.md"
    before = doc.read_bytes()
    # Two points: one file whole, one file (three tests) cut into two shards.
    script, timeouts = "tests/reliability/test_run_script.py", "tests/test_timeouts.py"
    run.GROUPS = [("11", "the script", [script]), ("12", "timeouts", [timeouts])]
    run.QUICK_SHARDS = {timeouts: 2}
    assert run.run_quick(set(), ["-k", "usage or within or flaw"], 2, "now") == 0
    said = capsys.readouterr().out
    assert said.count(f"; {script}): ") == 1
    shards = [line for line in said.splitlines() if f"; {timeouts}, shard " in line]
    assert sorted(line.split("shard ")[1][:3] for line in shards) == ["0/2", "1/2"]
    passed = [int(line.split(" passed")[0].split()[-1]) for line in shards]
    assert sorted(passed) == [1, 2]  # each of the three tests once, between the two
    assert "2 files in 3 pytests, 2 at once" in said and "0 failed" in said
    assert doc.read_bytes() == before
