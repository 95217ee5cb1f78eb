"""Issue 14, point 4: mutations of the example policy through ``policy check`` and reload.

Every mutation (``mutations.py``) is checked in-process; a sample goes through the
``shepherd policy check`` command and through ``policy.reload`` of a daemon that
has a session running. Never a traceback; always a clean pass or errors that each
name a line of the file; a rejected reload changes nothing the daemon enforces
(the policy it shows, the running session's deadline, what a launch would get).
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from shepherd.policy import check_policy_file
from tests.daemon.conftest import ME
from tests.reliability.conftest import rounds, seed
from tests.reliability.mutations import mutate

EXAMPLE = Path(__file__).resolve().parents[2] / "policy.example.toml"


def located(result: Any, data: bytes) -> list[str]:
    """What is wrong with a check's answer (empty: a clean pass or located errors)."""
    last = data.count(b"\n") + 1
    if result.policy is not None:
        return []
    if not result.errors:
        return ["rejected with no error"]
    return [f"error without a line of the file: {p}" for p in result.errors
            if not (1 <= p.line <= last) or not p.message.strip()]


def test_thousands_of_mutated_policies_are_checked_with_located_errors_never_a_traceback(
        tmp_path: Path, record: Any) -> None:
    chosen = seed()
    rng = random.Random(chosen)
    text = EXAMPLE.read_text()
    path = tmp_path / "policy.toml"
    total, passed, problems = rounds(150, 10_000), 0, []
    for n in range(total):
        data = mutate(rng, text)
        path.write_bytes(data)
        try:
            result = check_policy_file(path)
        except Exception as exc:
            problems.append(f"mutation {n}: {type(exc).__name__}: {exc}")
            continue
        passed += result.policy is not None
        problems += [f"mutation {n}: {p}" for p in located(result, data)]
    commands = rounds(3, 200)
    for n in range(commands):
        data = mutate(rng, text)
        path.write_bytes(data)
        run = subprocess.run([sys.executable, "-m", "shepherd", "policy", "check", str(path)],
                             capture_output=True, text=True, timeout=60)
        said = run.stdout + run.stderr
        if run.returncode not in (0, 1) or "Traceback" in said:
            problems.append(f"command {n}: exit {run.returncode}: {said[-400:]}")
        elif run.returncode == 1 and f"{path}:" not in said:
            problems.append(f"command {n}: an error that names no line: {said[-400:]}")
    record(mutations=total, commands=commands, seed=chosen, clean_passes=passed,
           problems=len(problems))
    assert not problems, (chosen, problems[:10])
    assert 0 < passed < total  # the mutations reach both answers


def reload_base() -> str:
    """The example policy with this test's user as its first child and a program that runs."""
    text = EXAMPLE.read_text().replace('"alex"', f'"{ME}"')
    return text + f"""
[[entries]]
id = "nap"
label = "Nap"
command = ["sleep", "3600"]
users = ["{ME}"]
limits = {{ max_run = "1h" }}
"""


def enforced(d: Any) -> dict[str, Any]:
    """What the daemon enforces, without what merely moves with the clock.

    A deadline is shown on the wall clock, computed from the monotonic one: between
    two reads its last digits may move with the clock (a session's deadline moved by
    2 ms between two reads around a rejected reload, twice in 400 in a full run), so
    deadlines are compared by ``same``, not here, within the time between the reads.
    """
    shown = d.call("policy.show")
    status = d.call("status")
    return {"policy": shown["policy"],
            "sessions": [(s["id"], s["entry"]) for s in status["sessions"]],
            "deadlines": [datetime.fromisoformat(s["deadline"]).timestamp()
                          if s["deadline"] else None for s in status["sessions"]],
            "entries": [(u["name"], e["id"], e["state"], sorted(r["code"] for r in e["reasons"]))
                        for u in status["users"] for e in u["entries"]],
            "read_at": time.monotonic()}


def changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What differs between two reads of ``enforced``: deadlines only when they moved
    by more than the time between the reads (plus a millisecond of rounding)."""
    moved = after["read_at"] - before["read_at"] + 0.001
    keys = ("policy", "sessions", "entries")
    found = [f"{k}: {before[k]} -> {after[k]}" for k in keys if before[k] != after[k]]
    if before["sessions"] == after["sessions"]:
        for old, new in zip(before["deadlines"], after["deadlines"], strict=True):
            if (old is None) != (new is None) or (
                    old is not None and new is not None and abs(new - old) > moved):
                found.append(f"deadlines: {before['deadlines']} -> {after['deadlines']}")
                break
    return found


def test_a_rejected_reload_never_changes_enforcement(daemon_factory: Any, record: Any) -> None:
    chosen = seed()
    rng = random.Random(chosen)
    base = reload_base()
    # The child is this account (root here): a mutated `detect` rule could match any of
    # its processes (cmdline = "/" matches every one), so nothing outside is looked at.
    d = daemon_factory(base, env={"SHEPHERD_DETECT": "off"})
    total, rejected, accepted, problems = rounds(25, 400), 0, 0, []
    for n in range(total):
        if not d.call("status")["sessions"]:
            d.call("cooldown.clear", user=ME, entry="nap")
            d.call("launch", entry="nap")
        before = enforced(d)
        data = mutate(rng, base)
        d.policy_path.write_bytes(data)
        try:
            d.call("policy.reload")
        except Exception as exc:
            rejected += 1
            if "Traceback" in str(exc) or "internal error" in str(exc):
                problems.append(f"reload {n}: {exc}")
            after = enforced(d)
            if differs := changed(before, after):
                problems.append(f"reload {n}: a rejected reload ({exc}) changed: "
                                + "; ".join(differs))
            if not d.call("policy.show")["rejected_reload"]["errors"]:
                problems.append(f"reload {n}: rejected without errors to show")
        else:
            accepted += 1
            d.policy_path.write_text(base)
            d.call("policy.reload")
    assert d.process is not None and d.process.poll() is None, "the daemon died"
    record(reloads=total, rejected=rejected, accepted=accepted, seed=chosen,
           problems=len(problems))
    assert d.call("audit.verify")["ok"]
    assert d.audit_types().count("policy_rejected") == rejected
    assert not problems, (chosen, problems[:10])
