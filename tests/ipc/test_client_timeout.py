"""A daemon that accepts the call and never answers (review 17-s4 #2): the client says so
in words (``DaemonUnreachable``, which the CLI prints as a sentence), no traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from shepherd.ipc.client import Client, DaemonUnreachable


def test_a_daemon_that_never_answers_is_reported_in_words(tmp_path: Path) -> None:
    path = tmp_path / "silent.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        with Client(path, timeout=0.3) as client, pytest.raises(DaemonUnreachable) as caught:
            client.call("launch", entry="celeste")
    assert "did not answer" in str(caught.value)
    assert "check with 'shepherd status'" in str(caught.value)
