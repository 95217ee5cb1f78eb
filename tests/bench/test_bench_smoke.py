"""bench/run works: a quick benchmark writes its table in the document, and a second
run replaces that table instead of adding one. Structure only, never speeds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import harness  # noqa: E402


def table_rows(text: str, name: str) -> list[list[str]]:
    block = text.split(f"<!-- bench:{name} begin")[1].split(f"<!-- bench:{name} end -->")[0]
    rows = [line for line in block.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def test_a_quick_run_writes_one_table_and_a_second_replaces_it(tmp_path: Path) -> None:
    document = tmp_path / "BENCHMARKS.md"
    document.write_text("# Benchmarks\n\nProse that stays.\n")
    ran = subprocess.run([sys.executable, str(ROOT / "bench" / "runner.py"), "--quick",
                          "--write", "--document", str(document), "engine_bench"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    text = document.read_text()
    assert text.startswith("# Benchmarks\n\nProse that stays.\n")
    assert text.count("<!-- bench:engine begin") == 1
    assert "Command: `.venv/bin/python bench/engine_bench.py --quick` (quick run)." in text
    assert "load average" in text
    rows = table_rows(text, "engine")
    assert rows[0] == ["what", "figure", "goal", "floor, same run"]
    assert len(rows) >= 2 and all(len(row) == 4 for row in rows)
    assert rows[1][1].endswith("ms median") and rows[1][3] != "—"

    again = harness.Section("engine", "Engine", "python bench/engine_bench.py")
    again.add("a figure", "1 ms", "≤ 2 ms", "0.1 ms", True)
    again.add("a missed one", "3 ms", "≤ 2 ms", "0.1 ms", False)
    harness.write_section(again, document)
    text = document.read_text()
    assert text.count("<!-- bench:engine begin") == 1 and "(quick run)" not in text
    assert table_rows(text, "engine")[1:] == [["a figure", "1 ms", "≤ 2 ms (met)", "0.1 ms"],
                                             ["a missed one", "3 ms", "≤ 2 ms (**not met**)",
                                              "0.1 ms"]]


def test_runner_refuses_an_unknown_benchmark_by_name() -> None:
    ran = subprocess.run([sys.executable, str(ROOT / "bench" / "runner.py"), "--quick",
                          "nonesuch"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 2 and "no benchmark nonesuch" in ran.stderr
