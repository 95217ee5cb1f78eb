"""The one client: used by the CLI (blocking) and the TUI."""

from __future__ import annotations

import itertools
import json
import os
import socket
from pathlib import Path
from typing import Any

from shepherd.ipc.protocol import MAX_LINE, RpcError, encode

SYSTEM_SOCKET = Path("/run/shepherd/shepherd.sock")


def user_socket_path() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/shepherd-{os.getuid()}"
    return Path(runtime) / "shepherd" / "shepherd.sock"


def find_socket(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--socket``, else ``$SHEPHERD_SOCKET``, else the user socket if it exists, else system."""
    if explicit:
        return Path(explicit)
    if os.environ.get("SHEPHERD_SOCKET"):
        return Path(os.environ["SHEPHERD_SOCKET"])
    user = user_socket_path()
    return user if user.exists() else SYSTEM_SOCKET


class DaemonUnreachable(Exception):
    pass


class Client:
    """A blocking JSON-RPC client on the daemon's socket."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = path
        self._ids = itertools.count(1)
        try:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(str(path))
        except OSError as exc:
            raise DaemonUnreachable(f"cannot reach the daemon at {path}: {exc.strerror}") from None
        self._buffer = bytearray()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_message(self) -> Any:
        """The next message from the daemon (``TimeoutError`` after the socket's timeout)."""
        return self._read()

    def _read(self) -> Any:
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_LINE:
                raise DaemonUnreachable("the daemon sent a line that is too long")
            chunk = self.sock.recv(65536)  # a timeout leaves the buffer intact
            if not chunk:
                raise DaemonUnreachable("the daemon closed the connection")
            self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        return json.loads(line)

    def call(self, method: str, **params: Any) -> Any:
        request_id = next(self._ids)
        self.sock.sendall(encode({"jsonrpc": "2.0", "id": request_id, "method": method,
                                  "params": params}))
        while True:
            message = self._read()
            if isinstance(message, dict) and (message.get("id") == request_id or (
                    message.get("id") is None and "error" in message)):
                break  # an error without an id answers the call (forbidden, rate limited)
        if "error" in message:
            error = message["error"]
            raise RpcError(int(error.get("code", 0)), str(error.get("message", "")),
                           error.get("data"))
        return message.get("result")

