"""A child's own starts are held to a rate (issue 14's store cost per launch).

Each start writes a session's records to the store, as root: a child's loop of
launches and stops (an entry with no quota) was the one way left for a child to
fill the state disk, ~2 KB a launch, kept for the audit's 400 days. The daemon
lets a child start at most ``MOST_STARTS`` programs in any ``START_WINDOW_S``;
the next is refused in words, with when it may start again, its repeats audited
as one row. A parent's launches for the child are not held.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from shepherd.daemon.refusals import MOST_STARTS, START_WINDOW_S, StartRate
from tests.daemon.conftest import policy
from tests.daemon.test_daemon import as_nobody

PEER = Path(__file__).resolve().parents[1] / "reliability" / "programs" / "as_peer.py"
NOBODY = 65534


def as_child(socket: Path, calls: list[tuple[str, dict[str, Any]]],
             uid: int = NOBODY) -> list[Any]:
    run = subprocess.run(["/usr/bin/python3", str(PEER), str(socket), json.dumps(calls)],
                         user=uid, capture_output=True, text=True, cwd="/", timeout=300,
                         env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    return list(json.loads(run.stdout.splitlines()[0]))


def nobodys_daemon(daemon_factory: Any) -> Any:
    """A system-mode daemon with nobody as its child and "Tetris", its socket theirs to reach."""
    d = daemon_factory(policy('''
[[entries]]
id = "game"
label = "Tetris"
command = ["/usr/bin/python3", "-c", "import time; time.sleep(600)"]
''', users='[[users]]\nname = "nobody"\n'), system_mode=True)
    os.chmod(d.socket, 0o666)
    os.chmod(d.socket.parent, 0o755)
    return d


def test_the_rate_counts_a_childs_starts_in_any_window_and_says_when_the_next_may_come() -> None:
    rate = StartRate(most=3, window_s=60.0)
    for at in (0.0, 10.0, 20.0):
        assert rate.next_start("ann", at) is None
        rate.started("ann", at)
    assert rate.next_start("ann", 30.0) == 60.0  # the first leaves the window at 60
    assert rate.next_start("bob", 30.0) is None  # each child's own
    assert rate.next_start("ann", 60.0) is None
    rate.started("ann", 60.0)
    assert rate.next_start("ann", 65.0) == 70.0
    # A child who stopped starting is forgotten once the window passed (no growth).
    assert rate.next_start("ann", 200.0) is None
    rate.started("bob", 200.0)
    assert rate.users() == ["bob"]


@as_nobody
def test_a_child_who_starts_and_stops_in_a_loop_is_held_to_the_rate_in_words(
        daemon_factory: Any) -> None:
    d = nobodys_daemon(daemon_factory)
    calls: list[tuple[str, dict[str, Any]]] = []
    for _ in range(MOST_STARTS):
        calls += [("launch", {"entry": "game"}), ("stop", {})]
    calls += [("launch", {"entry": "game"})] * 3
    answers = as_child(d.socket, calls)
    started = [a for a in answers[:2 * MOST_STARTS:2]]
    assert all("result" in a for a in started), started
    for refused in answers[2 * MOST_STARTS:]:
        error = refused["error"]
        codes = [r["code"] for r in error["data"]["denied"]]
        assert codes == ["too_many_starts"], error
        assert error["message"].startswith(
            f"Tetris can't start: you have started or tried to start programs {MOST_STARTS} "
            "times in the last minute, the most Shepherd allows (try again in "), error["message"]
    # One audited row for the three refusals (their repeats counted at the window's end).
    rows = [r for r in d.audit("launch_denied")
            if "too_many_starts" in json.dumps(r)]
    assert len(rows) == 1, rows
    # A parent's launch for the child is not held.
    session = d.call("launch", entry="game", user="nobody")
    assert session["session_id"]
    d.call("stop", user="nobody")
    assert START_WINDOW_S == 60.0  # the words say "the last minute"


@as_nobody
def test_names_made_up_one_after_another_are_audited_once_a_window(
        daemon_factory: Any) -> None:
    """review-14-s32 H2: each name that is no entry was audited at once (a row each, 6.4 MB
    of store a minute); now the first is, the rest counted in its row."""
    d = nobodys_daemon(daemon_factory)
    answers = as_child(d.socket, [("launch", {"entry": f"zz{n}"}) for n in range(30)])
    assert all(a["error"]["data"]["denied"][0]["code"] == "unknown_entry" for a in answers)
    assert answers[5]["error"]["message"].startswith('There is no entry called "zz5"')
    rows = [r for r in d.audit("launch_denied") if "unknown_entry" in json.dumps(r)]
    assert len(rows) == 1, rows
    d.stop()  # a clean stop writes the window's count
    rows = [r for r in d.audit("launch_denied") if "unknown_entry" in json.dumps(r)]
    assert len(rows) == 2 and "29" in json.dumps(rows[1]), rows
