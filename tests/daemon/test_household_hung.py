"""A household server that accepts the connection and never answers (review 17-s4 #2).

A frozen NAS or VM, a stopped server process, a stuck pooler: TCP is alive, so
neither keepalives nor the connect timeout notice. Every operation on the store is
bounded on this side too: the store is declared unavailable, the launch refused in
words, and a launch whose caller was told it failed never starts later.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from shepherd.ipc.protocol import LAUNCH_DENIED, RpcError
from tests.daemon.conftest import wait_for
from tests.daemon.test_household_partition import ENTRIES, healthy, own_sessions
from tests.pgproxy import SilentProxy


def test_a_silent_server_is_unavailable_and_a_refused_launch_never_starts_later(
        household: Any, pg_server: Any, tmp_path: Path) -> None:
    proxy = SilentProxy(pg_server.dir)
    try:
        service = pg_server.service_file(tmp_path / "via-proxy.conf", "shepherd",
                                         household.url)
        service.write_text(re.sub(r"host=.*", f"host={proxy.dir}", service.read_text()))
        (laptop,) = household(ENTRIES, users="max_sessions = 2", machines=("laptop",),
                              envs={"laptop": {"PGSERVICEFILE": str(service)}})
        laptop.call("launch", entry="long")
        time.sleep(1.0)  # a checkpoint or two go through
        proxy.freeze()
        with pytest.raises(RpcError) as caught:  # an answer, not a hang or a crash
            laptop.call("launch", entry="short")
        assert caught.value.code == LAUNCH_DENIED
        assert "cannot record time right now" in caught.value.message
        assert not healthy(laptop)  # the store is declared unavailable
        proxy.thaw()
        wait_for(lambda: healthy(laptop), timeout=60, what="the laptop reconnecting")
        laptop.call("status")
        time.sleep(1.0)
        assert [s["entry"] for s in own_sessions(laptop)] == ["long"]
        with psycopg.connect(household.url) as conn:
            entries = [r[0] for r in conn.execute("SELECT entry FROM sessions").fetchall()]
        assert entries == ["long"]  # the refused launch was never carried out
        laptop.call("stop")
    finally:
        proxy.close()
