"""A launch whose program is missing costs nothing, in the books and in the audit
(review-1215-s12 F11: the audit said `charged_s: 0.127`, "0s counted")."""

from __future__ import annotations

from typing import Any

import pytest

from shepherd.ipc.protocol import RpcError
from tests.daemon.conftest import policy


def test_a_program_that_never_ran_is_charged_nothing_in_the_audit(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy("""
[[entries]]
id = "typo"
command = ["/nonexistent/prismlauncher"]
limits = { daily_quota = "1h" }
"""))
    for _ in range(3):
        with pytest.raises(RpcError):
            d.call("launch", entry="typo")
    ended = d.audit("session_ended")
    assert len(ended) == 3, ended
    assert [e["charged_s"] for e in ended] == [0, 0, 0], ended
    store = d.store()
    try:
        rows = store.db.conn.execute(
            "SELECT started_at, ended_at, end_reason FROM sessions").fetchall()
    finally:
        store.close()
    assert all(start == end and why == "launch_failed" for start, end, why in rows), rows
