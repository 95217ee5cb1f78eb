"""A daemon's ``status`` keeps each child's lines between calls (``status._Block``,
issue 9's ``status`` goal): asked again and again while a session runs, then after a
launch, an end, a grant, a lock, an unlock and a reload, it says what each change made
of every line at once, never what was kept from before it. (The engine-level test,
``tests/engine/test_status_kept_s11.py``, checks every line against a fresh render at
the instants time alone changes an answer; here the real daemon's paths.)"""

from __future__ import annotations

from typing import Any

from tests.daemon.conftest import ME, policy

GAMES = """
[[entries]]
id = "kart"
command = ["sleep", "600"]
[[entries]]
id = "chess"
command = ["sleep", "600"]
limits = { max_run = "1h" }
[[entries]]
id = "tv"
command = ["sleep", "600"]
limits = { daily_quota = "30m", cooldown = "5m" }
[[entries]]
id = "radio"
command = ["sleep", "600"]
[[groups]]
id = "games"
entries = ["kart", "chess"]
daily_quota = "2h10m"
"""


def lines(d: Any) -> dict[str, dict[str, Any]]:
    answer = d.call("status")
    return {e["id"]: e for e in answer["users"][0]["entries"]}


def test_status_says_each_change_at_once(daemon_factory: Any) -> None:
    d = daemon_factory(policy(GAMES, users="max_sessions = 2"))
    kart = d.call("launch", entry="kart")["session_id"]
    for _ in range(5):  # kept from one call to the next: kart's group is live for chess
        now = lines(d)
        assert now["chess"]["state"] == "available" and now["chess"]["time_left_s"] == 3600
        assert now["radio"]["state"] == "available"

    tv = d.call("launch", entry="tv")["session_id"]  # a launch: chess is busy
    now = lines(d)
    assert (now["chess"]["state"], now["radio"]["state"]) == ("busy", "busy")
    d.call("stop", session_id=tv)  # an end: free again, tv in its cooldown
    now = lines(d)
    assert (now["chess"]["state"], now["tv"]["state"]) == ("available", "cooldown")
    used = now["tv"]["used_today_s"]
    assert now["tv"]["remaining_today_s"] == round(1800 - used, 3)
    assert lines(d)["tv"] == now["tv"]  # kept, and still true

    d.call("grant", user=ME, target="tv", duration="10m")  # a grant
    assert lines(d)["tv"]["remaining_today_s"] == round(2400 - used, 3)

    d.call("lock", user=ME)  # a lock (ends kart)
    now = lines(d)
    assert {e["state"] for e in now.values()} == {"locked"}
    d.call("unlock", user=ME)
    now = lines(d)
    assert (now["radio"]["state"], now["chess"]["state"]) == ("available", "available")
    assert kart not in [s["id"] for s in d.call("status")["sessions"]]

    d.policy_path.write_text(policy(GAMES.replace('"1h"', '"50m"'), users="max_sessions = 2"))
    d.call("policy.reload")  # a reload
    assert lines(d)["chess"]["time_left_s"] == 3000
