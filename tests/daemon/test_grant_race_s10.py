"""Review 9-s10 M2: a grant answered a few ms before a running session's deadline.

The old deadline's SIGTERM (the guard thread's or the alarm's) must not go after a grant
that moved the deadline was answered as plainly granted: either the grant reached the
guard and the alarm first (the session runs on, no SIGTERM), or the SIGTERM won and the
answer says that session was already stopping (``already_stopping``). Grants are sent
from 40 ms before to 20 ms after a 3 s quota deadline, an entry's and a group's, as the
reviewer's script does. No time is asserted: the invariant is, on every try.
Real daemon, real cgroups, real processes and signals.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import FAR_DAY_START, ME, policy
from tests.supervisor.conftest import NO_CGROUP, wait_for

pytestmark = pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2: {NO_CGROUP}")

# ms from the deadline the grant is sent at (the reviewer's: the misses were at -8..-5)
OFFSETS_MS = (-40, -20, -12, -10, -8, -7, -6, -5, -4, -3, -2, 0, 10, 20)


def race_policy(noted: Path) -> str:
    program = (f'["sh", "-c", "trap \'echo term >> {noted}; exit 0\' TERM; '
               f'while :; do sleep 100 & wait; done"]')
    return policy(f"""
[[entries]]
id = "q"
command = {program}
limits = {{ daily_quota = "10h" }}
[[entries]]
id = "g"
command = {program}
[[groups]]
id = "games"
entries = ["g"]
daily_quota = "10h"
""", supervisor=FAR_DAY_START)


def used(d: Any, target: str) -> float:
    [me] = [u for u in d.call("status")["users"] if u["name"] == ME]
    found = [x["used_today_s"] for x in me["entries"] + me["groups"] if x["id"] == target]
    return float(found[0])


def race_once(d: Any, noted: Path, entry: str, target: str, offset_ms: int) -> None:
    """One try: the session's deadline 3 s away; a grant of a minute sent at the offset."""
    noted.unlink(missing_ok=True)
    d.call("grant", user=ME, target=target, duration=math.ceil(used(d, target)) + 3,
           mode="set")
    events = d.events()
    with d.client() as client:  # connected already: the grant leaves at its moment
        launched = d.call("launch", entry=entry, user=ME)
        sid = launched["session_id"]
        target_at = datetime.fromisoformat(launched["deadline"]).timestamp() + offset_ms / 1000
        time.sleep(max(0.0, target_at - 0.02 - time.time()))
        while time.time() < target_at:
            pass
        answer = client.call("grant", user=ME, target=target, duration="60s")
    stopping = sid in answer.get("already_stopping", [])
    if stopping:
        ended = events.next("session_ended", timeout=60)
        assert ended["session_id"] == sid and ended["reason"] == "expired", (offset_ms, ended)
        return
    # Answered as granted: the old deadline (a moment ago) must not stop it. The old
    # SIGTERM, had it been kept, would have gone by now (an ample second).
    time.sleep(1.0)
    if noted.exists():  # only a session that had ended before the grant came in
        ended = wait_for(lambda: ended_before_granted(d, sid), timeout=30)
        assert ended == "before", (
            f"{target} grant at {offset_ms:+d} ms answered {answer} (no already_stopping), "
            "but the old deadline's SIGTERM went to the session it found running")
        events.next("session_ended", timeout=60)
        return
    assert sid in [s["id"] for s in d.call("status")["sessions"]], (offset_ms, answer)
    d.call("stop", session_id=sid)
    assert events.next("session_ended", timeout=60)["session_id"] == sid


def ended_before_granted(d: Any, sid: int) -> str | None:
    """Whether the session's end was recorded before the last grant was (the grant came
    in after it had ended: it found no session), or after; None: not ended yet."""
    store = d.store()
    try:
        rows = store.db.conn.execute("SELECT type, data FROM audit ORDER BY id").fetchall()
    finally:
        store.close()
    kinds = [(str(kind), json.loads(str(data))) for kind, data in rows]
    ended = [i for i, (kind, data) in enumerate(kinds)
             if kind == "session_ended" and data["session_id"] == sid]
    if not ended:
        return None
    granted = max(i for i, (kind, _) in enumerate(kinds) if kind == "time_granted")
    return "before" if ended[0] < granted else "after"


@pytest.mark.parametrize(("entry", "target"), [("q", "q"), ("g", "games")])
def test_a_grant_racing_the_deadline_is_granted_or_says_already_stopping(
        far_daemon_factory: Any, tmp_path: Path, entry: str, target: str) -> None:
    noted = tmp_path / "term.txt"
    d = far_daemon_factory(race_policy(noted))
    wait_for(lambda: "deadline alarm serving" in d.log.read_text())
    for offset in OFFSETS_MS:
        race_once(d, noted, entry, target, offset)
