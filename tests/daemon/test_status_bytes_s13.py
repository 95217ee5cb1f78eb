"""A daemon writes ``status`` from the bytes of the lines it kept (issue 13): on the wire,
each answer is byte for byte what ``encode`` writes for what it says, and the answer
after a launch, a grant or an end says that change."""

from __future__ import annotations

import json
import socket
from typing import Any

from shepherd.ipc.protocol import encode
from tests.daemon.conftest import ME, policy
from tests.daemon.test_status_kept_s11 import GAMES


def written(path: Any) -> tuple[bytes, dict[str, dict[str, Any]]]:
    """One ``status`` answer as the daemon wrote it, and its lines by entry."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        sock.sendall(b'{"jsonrpc":"2.0","id":7,"method":"status"}\n')
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(1 << 16)
            assert chunk, data[-200:]
            data += chunk
    answer = json.loads(data)
    assert encode(answer) == data  # the bytes are what encode writes for what it says
    return data, {e["id"]: e for e in answer["result"]["users"][0]["entries"]}


def test_the_answer_written_from_kept_lines_says_each_change(daemon_factory: Any) -> None:
    d = daemon_factory(policy(GAMES, users="max_sessions = 2"))
    _, first = written(d.socket)
    _, again = written(d.socket)  # from the kept lines
    # (but for its time left: near some moments of the day, a day's end or a window's,
    # what is left of it runs with the clock and the line is made again: ci34c at 23:51
    # UTC read 2347.551 then 2347.555)
    assert {**again["tv"], "time_left_s": None} == {**first["tv"], "time_left_s": None}
    assert again["tv"]["state"] == "available"

    tv = d.call("launch", entry="tv")["session_id"]  # a launch
    _, now = written(d.socket)
    assert (now["tv"]["state"], now["chess"]["state"]) == ("running", "available")
    d.call("stop", session_id=tv)  # an end
    _, now = written(d.socket)
    assert (now["tv"]["state"], now["chess"]["state"]) == ("cooldown", "available")
    used = now["tv"]["used_today_s"]
    _, again = written(d.socket)
    assert again["tv"] == now["tv"]
    d.call("grant", user=ME, target="tv", duration="10m")  # a grant
    _, now = written(d.socket)
    assert now["tv"]["remaining_today_s"] == round(2400 - used, 3)
    d.call("lock", user=ME)
    _, now = written(d.socket)
    assert {e["state"] for e in now.values()} == {"locked"}
