"""A go-between for a household's PostgreSQL that can fall silent.

It listens on a Unix socket of its own (as libpq's ``host=DIR``) and passes each
connection's bytes to the real server. ``freeze()``: every connection stays open
and new ones are accepted, but nothing is passed on any more — a frozen NAS, a
stopped server process, a stuck pooler: the peer is there and never answers.
"""

from __future__ import annotations

import contextlib
import select
import shutil
import socket
import tempfile
import threading
from pathlib import Path

PORT = 5432


class SilentProxy:
    def __init__(self, server_dir: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="shpx"))
        self.target = str(server_dir / f".s.PGSQL.{PORT}")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.dir / f".s.PGSQL.{PORT}"))
        self.listener.listen(64)
        self.frozen = threading.Event()
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self.frozen.set()

    def thaw(self) -> None:
        self.frozen.clear()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.sockets.append(client)
            if self.frozen.is_set():
                continue  # accepted, and never answered
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.connect(self.target)
            self.sockets.append(server)
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        while not self.closed.is_set():
            if self.frozen.is_set():
                self.closed.wait(0.05)
                continue
            ready, _, _ = select.select(list(peers), [], [], 0.05)
            for sock in ready:
                try:
                    data = sock.recv(65536)
                    if not data:
                        raise OSError
                    peers[sock].sendall(data)
                except OSError:
                    for s in peers:
                        with contextlib.suppress(OSError):
                            s.close()
                    return

    def close(self) -> None:
        self.closed.set()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)
