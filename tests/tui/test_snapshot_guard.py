"""The snapshot tests can fail: a changed screen is caught, and the recorded answers are real.

With a syrupy newer than pytest-textual-snapshot 1.1 expects, every snapshot
passes silently. This runs a snapshot test of a tiny app twice in a separate
pytest, the second time with one word changed, and requires the second to fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.daemon.conftest import FAR_DAY_START, ME, ROOT, policy
from tests.tui import recorded

SNAPSHOT_TEST = '''
from textual.app import App
from textual.widgets import Static

WORD = "{word}"


class Tiny(App[None]):
    def compose(self):
        yield Static(f"Minecraft: {{WORD}}")


def test_tiny(snap_compare):
    assert snap_compare(Tiny(), terminal_size=(30, 3))
'''


def run_pytest(where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(where), str(where / "test_tiny.py"), *args],
                          cwd=where, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_changed_screen_fails_its_snapshot(tmp_path: Path) -> None:
    test_file = tmp_path / "test_tiny.py"
    test_file.write_text(SNAPSHOT_TEST.format(word="running"))
    made = run_pytest(tmp_path, "--snapshot-update")
    assert made.returncode == 0, made.stdout + made.stderr
    assert list(tmp_path.glob("__snapshots__/test_tiny/*.svg"))
    same = run_pytest(tmp_path)
    assert same.returncode == 0, same.stdout + same.stderr
    test_file.write_text(SNAPSHOT_TEST.format(word="resting"))
    changed = run_pytest(tmp_path)
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert "1 failed" in changed.stdout


def keys_of(value: Any) -> set[str]:
    """Every key path (lists by their first item; a reason's data depends on its code)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(key)
            if key != "reasons":
                found |= {f"{key}.{k}" for k in keys_of(item)}
    elif isinstance(value, list) and value:
        found |= keys_of(value[0])
    return found


def test_the_recorded_answers_have_the_daemons_shape(daemon_factory: Any) -> None:
    d = daemon_factory(policy("""
[[entries]]
id = "nap"
command = ["sleep", "600"]
limits = { daily_quota = "1h", cooldown = "1m", max_run = "30m" }  # a 2h grant is always capped

[[groups]]
id = "naps"
entries = ["nap"]
daily_quota = "2h"
""", FAR_DAY_START))  # the day starts 12 h away: the hour runs out today
    d.call("launch", entry="nap")
    d.call("request_time", entry="nap", duration="5m", note="please")
    real_status = d.call("status")
    assert keys_of(recorded.status()) == keys_of(real_status)
    real_request = d.call("requests")[0]
    assert set(recorded.REQUESTS[0]) == set(real_request)
    real_page = d.call("audit.query", limit=5)
    assert set(recorded.audit_page()) == set(real_page)
    assert set(recorded.audit_page()["events"][0]) == set(real_page["events"][0])
    real_usage = d.call("usage.history", days=2)
    assert keys_of(recorded.usage_history()) == keys_of(real_usage)
    assert set(recorded.policy_show()) == set(d.call("policy.show"))
    assert keys_of(recorded.policy_explain()) == keys_of(d.call("policy.explain", user=ME))
    real_preview = d.call("grant", user=ME, target="nap", duration="15m", preview=True)
    assert set(recorded.grant_preview()) == set(real_preview)
    assert set(recorded.grant_preview()["capped_by"][0]) == set(
        d.call("grant", user=ME, target="nap", duration="2h", preview=True)["capped_by"][0])
