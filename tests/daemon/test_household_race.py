"""No double launch: the same child launching on two machines at once, 25 + 50 times.

The second test races two entries of one group for the group's last minute
(50 rounds): both may start, sharing it, but never both with the whole minute.

Each round both daemons are asked at the same instant (two threads released by
one barrier, their connections already open). Whatever the interleaving, the
launch decisions and their records are one transaction each with the child's
row locked, so the second decision sees the first session: never both pass.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import psycopg

from shepherd.ipc.protocol import LAUNCH_DENIED, RpcError
from tests.daemon.conftest import ME, wait_for

ROUNDS = 25  # max_sessions = 1, two entries
QUOTA_ROUNDS = 50  # a group's last minute, two entries
LEFT = 61  # seconds of the group left at each round of it
ENTRIES = """
[[entries]]
id = "minecraft"
command = ["sleep", "600"]
limits = { daily_quota = "1m" }
[[entries]]
id = "celeste"
command = ["sleep", "600"]
"""
GROUP = ENTRIES.replace('limits = { daily_quota = "1m" }\n', "") + """
[[groups]]
id = "games"
entries = ["minecraft", "celeste"]
daily_quota = "1m"
"""


def race(first: Any, first_entry: str, second: Any, second_entry: str) -> list[Any]:
    """Both launches at once; each result is the answer or the RpcError."""
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def go(index: int, daemon: Any, entry: str) -> None:
        with daemon.client() as client:
            client.call("hello")  # connected and answered: only the launch is left
            barrier.wait()
            try:
                results[index] = client.call("launch", entry=entry)
            except RpcError as exc:
                results[index] = exc

    threads = [threading.Thread(target=go, args=(0, first, first_entry)),
               threading.Thread(target=go, args=(1, second, second_entry))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def one_passed(results: list[Any], code: str) -> dict[str, Any]:
    launched = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, RpcError)]
    assert len(launched) == 1 and len(refused) == 1, results
    assert refused[0].code == LAUNCH_DENIED
    assert code in [r["code"] for r in refused[0].data["denied"]], refused[0].data
    return launched[0]


def settle(daemons: list[Any]) -> None:
    """Stop whatever runs, and wait until both machines know that nothing does."""
    for daemon in daemons:
        daemon.call("stop")
    for daemon in daemons:
        wait_for(lambda d=daemon: not d.call("status")["sessions"],
                 what="both machines seeing no session")


def used(url: str, entry: str) -> float:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT coalesce(sum(seconds), 0) FROM usage WHERE entry = %s",
                           (entry,)).fetchone()
    assert row is not None
    return float(row[0])


def test_fifty_rounds_of_simultaneous_launches_never_both_pass(household: Any) -> None:
    # max_sessions = 1: two different entries, one on each machine.
    laptop, desktop = household(ENTRIES)
    for round_ in range(ROUNDS):
        pair = [laptop, desktop] if round_ % 2 == 0 else [desktop, laptop]
        winner = one_passed(race(pair[0], "minecraft", pair[1], "celeste"), "already_running")
        assert winner["session_id"] >= 1
        settle([laptop, desktop])

    # The records say the same: one session per round, and never two at once.
    with psycopg.connect(household.url) as conn:
        spans = conn.execute("SELECT started_at, ended_at FROM sessions WHERE machine = "
                             "ANY(%s) ORDER BY started_at", (["laptop", "desktop"],)).fetchall()
    assert len(spans) == ROUNDS
    for (_, ended), (started, _) in itertools.pairwise(spans):
        assert ended is not None and started >= ended


def test_fifty_rounds_of_two_entries_racing_for_a_groups_last_minute(household: Any) -> None:
    """One child, two entries of one group with one minute left, launched at once on two
    machines (max_sessions = 2, so only the quota can tell them apart). Both may start:
    the group's minute is then shared. What must never pass is both being given the
    whole minute: the later decision must see the earlier session."""
    laptop, desktop = household(GROUP, users="max_sessions = 2")
    for round_ in range(QUOTA_ROUNDS):

        allowance = int(used(household.url, "minecraft")
                        + used(household.url, "celeste")) + LEFT
        laptop.call("grant", user=ME, target="games", duration=allowance, mode="set")
        wait_for(lambda a=allowance: desktop.call("status")["users"][0]["groups"][0][
            "quota_today_s"] == a, what="the grant reaching the other machine")
        pair = [laptop, desktop] if round_ % 2 == 0 else [desktop, laptop]
        results = race(pair[0], "minecraft", pair[1], "celeste")
        given = sorted(r["remaining_s"] for r in results if isinstance(r, dict))
        assert given, results  # at least one starts: the minute is there
        assert given[-1] <= LEFT
        if len(given) == 2:
            # Decided one after the other: the second saw the first and split what was
            # left (a racy pair would both be given the whole minute).
            assert given[0] <= LEFT / 2 + 1, results
            # Once each machine hears the other, their deadlines share the minute.
            wait_for(lambda: sum(s["remaining_s"] for s in laptop.call("status")["sessions"])
                     <= LEFT, what="the two deadlines sharing the group's minute")
        else:
            refused = [r for r in results if isinstance(r, RpcError)]
            assert refused[0].code == LAUNCH_DENIED, results
        settle([laptop, desktop])
