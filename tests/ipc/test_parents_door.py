"""Parents have a door of their own (review 14 s10 M1, the answer's time; s12 flood12).

The kernel keeps one queue of connections per socket, first come, first taken. A flood
of a child's or a stranger's connections kept the common socket's queue full (4,096),
and a parent's connection waited behind all of it: 8-14 s at nice 19, the whole flood.
In system mode the daemon also listens on ``shepherd-parents.sock``, which only root
and the admin group may open, and ``Client`` knocks there first.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from shepherd.ipc import server as server_module
from shepherd.ipc.client import Client, DaemonUnreachable
from shepherd.ipc.protocol import parents_socket_path
from shepherd.ipc.server import Admission, Peer, RpcServer
from tests.ipc.test_limits import _echo, calls, line, replies, request

FLOOD = Path(__file__).resolve().parents[1] / "daemon" / "connect_flood.py"
OTHER_PYTHON = "/usr/bin/python3"
STRANGERS = list(range(5001, 5005))  # no accounts, in no policy


def _parents_only_root(peer: Peer) -> Admission | None:
    return Admission({"role": "admin"}, limited=False) if peer.uid == 0 else None


def _all_parents(peer: Peer) -> Admission | None:
    return Admission({"role": "admin"}, limited=False)


def run(scenario: Any, admit: Any = _all_parents, door: bool = True) -> Any:
    async def main() -> Any:
        path = Path(os.path.realpath(__import__("tempfile").mkdtemp(prefix="shp"))) / "s.sock"
        server = RpcServer(path, _echo, mode=0o666, admit=admit,
                           parents_gid=os.getgid() if door else None)
        await server.start()
        try:
            return await scenario(server, path)
        finally:
            await server.close()

    calls.clear()
    return asyncio.run(main())


def test_the_parents_socket_is_root_and_the_admin_groups_and_goes_with_the_daemon() -> None:
    async def scenario(server: RpcServer, path: Path) -> tuple[os.stat_result, Path]:
        door = parents_socket_path(path)
        return door.stat(), door

    info, door = run(scenario)
    assert door.name == "s-parents.sock"
    assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o660
    assert info.st_gid == os.getgid()
    assert not door.exists()  # removed at close, with the common one


def test_a_daemon_that_may_not_give_the_group_keeps_the_parents_socket_roots(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_chown(*args: Any) -> None:
        raise PermissionError(1, "Operation not permitted")  # no CAP_CHOWN

    monkeypatch.setattr(os, "chown", no_chown)

    async def scenario(server: RpcServer, path: Path) -> int:
        return stat.S_IMODE(parents_socket_path(path).stat().st_mode)

    assert run(scenario) == 0o600


def test_a_parent_is_taken_by_its_door_while_the_common_queue_stays_full(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon at its bound of connections takes no more from the common socket, whose
    queue fills (a flood keeps it so); a parent's ``Client`` still gets in, and answered.
    Without the door it waits in the kernel until it gives up (``queue_full``)."""
    monkeypatch.setattr(server_module, "LISTEN_BACKLOG", 2)

    async def scenario(server: RpcServer, path: Path) -> tuple[Any, str, int]:
        server.max_connections = 2
        held = [await asyncio.open_unix_connection(str(path)) for _ in range(2)]
        for reader, writer in held:  # both taken and served: the daemon is at its bound
            writer.write(line(request("hello")))
            await replies(reader, 1)
        queued = []
        for _ in range(16):  # the common queue, full
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                sock.connect(str(path))
            except BlockingIOError:
                sock.close()
                break
            queued.append(sock)

        def parent() -> tuple[Any, str]:
            with Client(path, timeout=1) as client:
                return client.call("hello"), client.sock.getpeername()

        try:
            answer, peer = await asyncio.to_thread(parent)
        finally:
            for sock in queued:
                sock.close()
            for _, writer in held:
                writer.close()
        return answer, peer, len(queued)

    answer, peer, queued = run(scenario)
    assert queued >= 2  # the common queue was full
    assert answer == {"method": "hello"}
    assert peer.endswith("s-parents.sock")

    with pytest.raises(DaemonUnreachable, match="queue of connections stayed full"):
        run(scenario, door=False)  # the same without the door: no answer


def test_a_stale_parents_socket_sends_a_parent_by_the_common_one() -> None:
    async def scenario(server: RpcServer, path: Path) -> tuple[Any, str]:
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(parents_socket_path(path)))  # nobody listens: ECONNREFUSED
        stale.close()

        def parent() -> tuple[Any, str]:
            with Client(path, timeout=3) as client:
                return client.call("hello"), client.sock.getpeername()

        return await asyncio.to_thread(parent)

    answer, peer = run(scenario, door=False)
    assert answer == {"method": "hello"} and peer.endswith("s.sock")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run other uids")
@pytest.mark.skipif(not os.access(OTHER_PYTHON, os.X_OK), reason="no system python3")
def test_a_parent_is_answered_while_strangers_flood_and_no_stranger_is_served() -> None:
    """4 stranger uids connect and close in a tight loop until told to stop. Once the
    server has seen all of them, a parent calls ``hello`` five times, each on a new
    connection (as the CLI does), and only then are the flooders stopped. No time is
    asserted: a parent starved for the flood would give up (its client waits 30 s).
    The server's count of requests served per uid holds the parent's five and not one
    stranger's. (1-2 s on a quiet machine, 8 s at load 24 at nice 19: the flooders'
    start; the flood is the point.)"""
    seen: set[int] = set()

    def admit(peer: Peer) -> Admission | None:
        seen.add(peer.uid)
        return _parents_only_root(peer)

    async def scenario(server: RpcServer, path: Path) -> tuple[list[bool], dict[int, int],
                                                               list[list[str]]]:
        os.chmod(path.parent, 0o755)
        stop = path.parent / "stop"  # where the strangers can see it
        flooders = [subprocess.Popen([OTHER_PYTHON, str(FLOOD), str(path), "120", str(stop)],
                                     user=uid, group=uid, extra_groups=[], cwd="/",
                                     stdout=subprocess.PIPE, text=True)
                    for uid in STRANGERS]
        flooding: list[bool] = []

        def parent() -> None:
            give_up = time.monotonic() + 60
            while not seen.issuperset(STRANGERS) and time.monotonic() < give_up:
                time.sleep(0.05)  # until every stranger floods
            for _ in range(5):
                with Client(path, timeout=30) as client:
                    assert client.call("hello") == {"method": "hello"}
                flooding.append(all(f.poll() is None for f in flooders))
                time.sleep(0.1)

        try:
            await asyncio.to_thread(parent)
        finally:
            stop.touch()
            for f in flooders:
                try:
                    f.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    f.kill()
                    raise
        counts = [f.communicate()[0].split() for f in flooders]
        return flooding, dict(server.served), counts

    flooding, served, counts = run(scenario, admit=admit)
    assert sum(int(tried) for tried, _ in counts) > 1000, counts  # it was a flood
    assert seen.issuperset(STRANGERS)
    assert flooding == [True] * 5  # each answer came while every stranger still flooded
    assert served == {0: 5}  # the parent's calls, each counted; no stranger's
