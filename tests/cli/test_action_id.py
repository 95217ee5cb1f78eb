"""The CLI's grant, extend and answer carry a fresh ``action_id`` each time they are typed;
when the connection breaks before the answer, the same id is sent once more, and the
daemon does it only once."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import ME, daemon_factory, policy
from tests.tui.conftest import shepherd_cli

__all__ = ["daemon_factory"]

NAP = """
[[entries]]
id = "nap"
label = "Nap"
command = ["sleep", "600"]
limits = { daily_quota = "10m" }
"""


class CuttingRelay:
    """A socket in front of the daemon. The first call of ``method`` reaches the daemon
    and is done there, but its answer is swallowed and the connection cut (a daemon that
    acted, then died; a link that dropped)."""

    def __init__(self, daemon: Path, path: Path, method: str) -> None:
        self.daemon, self.path, self.method = daemon, path, method
        self.cuts = 0
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        daemon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        daemon.connect(str(self.daemon))
        swallow: list[Any] = []

        def upstream() -> None:
            for line in client.makefile("rb"):
                if self.cuts == 0 and json.loads(line).get("method") == self.method:
                    swallow.append(json.loads(line)["id"])
                daemon.sendall(line)

        threading.Thread(target=upstream, daemon=True).start()
        for line in daemon.makefile("rb"):
            if swallow and json.loads(line).get("id") == swallow[0]:
                self.cuts += 1
                client.shutdown(socket.SHUT_RDWR)
                client.close()
                daemon.close()
                return
            client.sendall(line)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def relay(daemon_factory: Any) -> Iterator[Any]:
    made: list[CuttingRelay] = []

    def make(d: Any, method: str) -> CuttingRelay:
        made.append(CuttingRelay(d.socket, Path(daemon_factory.rundir) / "relay.sock", method))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_each_grant_and_extend_typed_carries_its_own_action_id(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))
    for _ in range(2):
        assert shepherd_cli(d.socket, "grant", ME, "nap", "+5m").returncode == 0
    assert shepherd_cli(d.socket, "launch", "nap").returncode == 0
    extended = shepherd_cli(d.socket, "extend", "nap", "5m")
    assert extended.returncode == 0, extended.stderr
    ids = [e["action_id"] for e in d.audit("time_granted") + d.audit("session_extended")]
    assert len(ids) == 3 and len(set(ids)) == 3, ids
    assert all(i.startswith("cli-") for i in ids), ids


def test_a_grant_whose_answer_is_lost_is_sent_again_and_given_once(
        daemon_factory: Any, relay: Any) -> None:
    d = daemon_factory(policy(NAP))
    cut = relay(d, "grant")
    granted = shepherd_cli(cut.path, "grant", ME, "nap", "+5m")
    assert cut.cuts == 1
    assert granted.returncode == 0, granted.stderr
    assert "5 minutes" in granted.stdout or "5m" in granted.stdout, granted.stdout
    assert len(d.audit("time_granted")) == 1


def test_an_approval_whose_answer_is_lost_is_sent_again_and_said_approved(
        daemon_factory: Any, relay: Any) -> None:
    d = daemon_factory(policy(NAP))
    asked = shepherd_cli(d.socket, "request", "nap", "5m")
    assert asked.returncode == 0, asked.stderr
    request_id = str(d.call("requests")[0]["id"])
    cut = relay(d, "request.answer")
    answered = shepherd_cli(cut.path, "answer", request_id, "approve")
    assert cut.cuts == 1
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.startswith(f"Approved request {request_id}"), answered.stdout
    assert len(d.audit("time_granted")) == 1
