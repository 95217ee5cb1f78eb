"""``sd_notify`` never holds up the daemon, even when nobody reads the notify socket."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from shepherd.daemon.system import sd_notify


def test_a_notify_socket_nobody_reads_never_blocks_the_daemon(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A supervisor that stopped reading (hung, or a script that only waited for READY=1):
    # its queue fills, and a blocking send would stop the daemon's event loop for good.
    address = tmp_path / "notify"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(address))
    monkeypatch.setenv("NOTIFY_SOCKET", str(address))
    sent = threading.Event()

    def send_many() -> None:
        for i in range(5000):
            sd_notify(f"STATUS=message {i}")
        sent.set()

    sender = threading.Thread(target=send_many, daemon=True)
    sender.start()
    try:
        assert sent.wait(120), "sd_notify blocked on a full notify socket"
        assert listener.recv(4096) == b"STATUS=message 0"  # what fit was delivered in order
    finally:
        listener.close()  # a blocked sender gets ECONNREFUSED and ends
        sender.join(10)
