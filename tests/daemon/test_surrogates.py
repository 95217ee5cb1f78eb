"""Lone surrogate escapes from a client, through a real daemon (review 14 s9 M2)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from tests.daemon.conftest import policy


def ask(path: Path, line: bytes) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(path))
        sock.sendall(line)
        answer: dict[str, Any] = json.loads(sock.makefile("rb").readline())
        return answer


def test_lone_surrogates_are_refused_in_words_and_nothing_is_lost(daemon_factory: Any) -> None:
    d = daemon_factory(policy('[[entries]]\nid = "game"\ncommand = ["sleep", "3599"]\n'))
    for line in (b'{"jsonrpc":"2.0","id":1,"method":"launch","params":{"entry":"\\ud800x"}}\n',
                 b'{"jsonrpc":"2.0","id":"\\ud800","method":"hello"}\n',
                 b'{"jsonrpc":"2.0","id":3,"method":"request_time","params":'
                 b'{"entry":"game","minutes":5,"note":"\\udfff\\ud800"}}\n'):
        answer = ask(d.socket, line)
        assert answer["error"]["code"] == -32700, answer
        assert "surrogate" in answer["error"]["message"]
    assert d.call("hello")
    assert d.call("audit.verify")["ok"]
    assert d.call("requests") == []  # no request was made of the refused line
