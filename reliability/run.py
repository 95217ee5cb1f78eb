"""Run the reliability checks at full size and rewrite RELIABILITY.md's results table.

Each check of ``tests/reliability`` reports its numbers through the ``record``
fixture into a results file; the points that other suites prove (clock, storage
faults, escapes, programs started outside) are run as they are and reported by
their pytest outcome. The table between the markers in RELIABILITY.md is
rewritten: one row per check, with machine, date, command, size and result.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "RELIABILITY.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]

# (point, what, pytest targets): the checks of tests/reliability report their own numbers.
GROUPS = [
    ("1", "crash loop (kill -9)", ["tests/reliability/test_crash_loop.py"]),
    ("2", "power cut (frozen daemon, copied store)", ["tests/reliability/test_power_cut.py"]),
    ("3", "IPC fuzzing", ["tests/reliability/test_ipc_fuzz.py"]),
    ("4", "policy fuzzing", ["tests/reliability/test_policy_fuzz.py"]),
    ("5", "load", ["tests/reliability/test_load.py"]),
    ("6", "clock jumps", ["tests/daemon/test_clock_trust.py", "tests/engine/test_rules.py",
                          "tests/reliability/test_clock.py"]),
    ("7", "storage faults", ["tests/daemon/test_store_faults.py"]),
    ("8", "escapes", ["tests/reliability/test_escapes.py", "tests/supervisor/test_escapes.py",
                      "tests/supervisor/test_two_daemons.py"]),
    ("9", "roles", ["tests/reliability/test_roles.py"]),
    ("10", "programs started outside", ["tests/reliability/test_outside.py"]),
]


def machine() -> str:
    cores = os.cpu_count() or 0
    return f"{platform.node()}, {cores} cores, Python {platform.python_version()}"


def run_group(point: str, what: str, targets: list[str], extra: list[str],
              results: Path) -> list[dict[str, object]]:
    present = [t for t in targets if (ROOT / t).exists()]
    if not present:
        return [{"point": point, "check": what, "command": "-", "size": "-",
                 "result": "no check yet", "ok": False}]
    before = results.read_text().count("\n") if results.exists() else 0
    began = time.monotonic()
    run = subprocess.run([*PYTEST, *present, *extra], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "SHEPHERD_RELIABILITY": "full",
                              "SHEPHERD_RELIABILITY_RESULTS": str(results)})
    took = time.monotonic() - began
    summary = (run.stdout.strip().splitlines() or ["(no output)"])[-1]
    print(f"point {point} ({what}): {summary}", flush=True)
    if run.returncode not in (0, 5):
        print(run.stdout[-4000:], run.stderr[-2000:], sep="\n", flush=True)
    lines = results.read_text().splitlines()[before:] if results.exists() else []
    rows: list[dict[str, object]] = []
    for line in lines:
        numbers = json.loads(line)
        name = str(numbers.pop("check")).split("::")[-1]
        for key in ("machine", "form"):
            numbers.pop(key, None)
        rows.append({"point": point, "check": f"{what}: {name}", "command":
                     f"reliability/run -k {name.split('[')[0]}", "size": "",
                     "result": ", ".join(f"{k} {v}" for k, v in numbers.items()),
                     "ok": run.returncode == 0})
    rows.append({"point": point, "check": f"{what} (pytest: {' '.join(present)})",
                 "command": f"SHEPHERD_RELIABILITY=full pytest {' '.join(present)}",
                 "size": f"{took:.0f} s", "result": re.sub(r"=+", "", summary).strip(),
                 "ok": run.returncode == 0})
    return rows


def table(rows: list[dict[str, object]], when: str, where: str) -> str:
    out = [f"Last full run: {when} on {where}, load average before it "
           f"{os.getloadavg()[0]:.1f}.", "",
           "| point | check | command | time | result |", "|---|---|---|---|---|"]
    for row in rows:
        mark = "" if row["ok"] else "**FAILED** "
        out.append(f"| {row['point']} | {row['check']} | `{row['command']}` | {row['size']} | "
                   f"{mark}{row['result']} |")
    return "\n".join(out)


def main(extra: list[str]) -> int:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    only: set[str] = set()
    if extra[:1] == ["--only"]:  # --only 1,4,9: those points of the issue
        only, extra = set(extra[1].split(",")), extra[2:]
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results.jsonl"
        for point, what, targets in GROUPS:
            if not only or point in only:
                rows += run_group(point, what, targets, extra, results)
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + table(rows, when, machine()) + "\n" + text[end:])
    failed = [r for r in rows if not r["ok"]]
    print(f"RELIABILITY.md rewritten: {len(rows)} rows, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
