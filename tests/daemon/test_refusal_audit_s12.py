"""A child's loop of refused launches costs a few audit rows, not one each (review-9-s12 M1).

The first refusal is audited at once; its identical repeats within the window are one row
with their count, written at the window's end or (here) at the clean stop; a refusal of
another entry is audited at once. The child's own answer is unchanged each time.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from shepherd.ipc.protocol import LAUNCH_DENIED, RpcError
from tests.daemon.conftest import policy, wait_for

LOOP = 500


def test_a_loop_of_refused_launches_is_a_few_rows_with_the_count(daemon_factory: Any) -> None:
    d = daemon_factory(policy("""
[[entries]]
id = "never"
command = ["sleep", "600"]
limits = { daily_quota = 0 }
[[entries]]
id = "other"
command = ["sleep", "600"]
limits = { daily_quota = 0 }
"""))
    refused = 0
    with d.client() as client:
        while refused < LOOP:
            try:
                client.call("launch", entry="never")
            except RpcError as e:
                if e.code != LAUNCH_DENIED:  # the rate limit: wait and go on
                    time.sleep(0.02)
                    continue
                assert {r["code"] for r in e.data["denied"]} == {"quota_exhausted"}
                refused += 1
            else:
                pytest.fail("a launch of an entry with no quota was accepted")
        # Another entry's refusal is audited at once, while the loop's window is open.
        with pytest.raises(RpcError) as other:
            client.call("launch", entry="other")
        assert other.value.code == LAUNCH_DENIED
    # Written behind the answers (the writer's queue): wait for both, then no more.
    rows = wait_for(lambda: len(d.audit("launch_denied")) >= 2 and d.audit("launch_denied"))
    assert len(rows) == 2, rows  # the first "never", and "other" at once
    assert [r.get("repeated") for r in rows] == [None, None]
    assert d.stop() == 0
    rows = d.audit("launch_denied")
    assert len(rows) == 3, rows
    assert [r.get("repeated") for r in rows] == [None, None, LOOP - 1]
    assert rows[2]["reasons"][0]["code"] == "quota_exhausted"
