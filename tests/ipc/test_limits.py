"""Bad input costs nothing: strangers, floods, deep nesting, huge numbers, unread answers."""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from shepherd.ipc import protocol
from shepherd.ipc import server as server_module
from shepherd.ipc.protocol import Request
from shepherd.ipc.server import MAX_BATCH, MAX_UNSENT, Admission, Connection, Peer, RpcServer

calls: list[str] = []


async def _echo(request: Request, connection: Connection) -> Any:
    calls.append(request.method)
    if request.method == "big":
        return "x" * int(request.params.get("size", 100_000))
    return {"method": request.method}


def _everyone(peer: Peer) -> Admission | None:
    return Admission({"role": "child"})


def _nobody(peer: Peer) -> Admission | None:
    return None


def run(scenario: Callable[[RpcServer, Path], Awaitable[Any]],
        admit: Callable[[Peer], Admission | None] = _everyone) -> Any:
    async def main() -> Any:
        path = Path(tempfile.mkdtemp(prefix="shp")) / "s.sock"
        server = RpcServer(path, _echo, admit=admit)
        await server.start()
        try:
            return await scenario(server, path)
        finally:
            await server.close()

    calls.clear()
    return asyncio.run(main())


async def replies(reader: asyncio.StreamReader, count: int) -> list[Any]:
    return [json.loads(await asyncio.wait_for(reader.readline(), 10)) for _ in range(count)]


def request(method: str, request_id: int = 1, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def line(message: Any) -> bytes:
    return json.dumps(message).encode() + b"\n"


def test_deep_nesting_and_huge_numbers_get_jsonrpc_errors_and_the_connection_stays() -> None:
    async def scenario(server: RpcServer, path: Path) -> list[Any]:
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b"[" * 30_000 + b"]" * 30_000 + b"\n")
        writer.write(b'{"jsonrpc":"2.0","id":2,"method":"hello","params":{"n":'
                     + b"9" * 5000 + b"}}\n")
        writer.write(b'{"jsonrpc":"2.0","id":' + b"7" * 5000 + b',"method":"hello"}\n')
        writer.write(line(request("hello", 3)))
        await writer.drain()
        answers = await replies(reader, 4)
        writer.close()
        return answers

    nested, huge, huge_id, hello = run(scenario)
    assert nested["error"]["code"] == protocol.PARSE_ERROR
    assert "nested" in nested["error"]["message"]
    assert huge["error"]["code"] == protocol.PARSE_ERROR
    assert "number" in huge["error"]["message"]
    # Words for the client (review-9-s15 L-1), not the interpreter's advice to its programmer
    assert huge["error"]["message"] == "a number in the JSON is too large (more than 4300 digits)"
    assert huge_id["error"]["code"] == protocol.PARSE_ERROR and huge_id["id"] is None
    assert hello == {"jsonrpc": "2.0", "id": 3, "result": {"method": "hello"}}


def test_a_stranger_gets_one_forbidden_and_the_door_closes_before_any_work() -> None:
    async def scenario(server: RpcServer, path: Path) -> tuple[list[Any], bytes]:
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(line([0] * 20_000))  # invalid items: nothing is looked at, nothing echoed
        await writer.drain()
        answer = await replies(reader, 1)
        rest = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return answer, rest

    (answer,), rest = run(scenario, admit=_nobody)
    assert answer == {"jsonrpc": "2.0", "id": None,
                      "error": {"code": protocol.FORBIDDEN, "message": "forbidden"}}
    assert rest == b""  # closed
    assert calls == []


def test_the_rate_limit_counts_the_items_of_a_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "RATE_PER_SECOND", 0.0)  # no refill during the test
    assert server_module.RATE_BURST == 2 * MAX_BATCH

    async def scenario(server: RpcServer, path: Path) -> list[Any]:
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(line([request("hello", n) for n in range(MAX_BATCH + 1)]))
        batch = [request("hello", n) for n in range(MAX_BATCH)]
        writer.write(line(batch) * 2)  # 1 + 100 tokens taken: the second finds 99
        # Another connection of the same uid draws on the same bucket.
        other_reader, other = await asyncio.open_unix_connection(str(path))
        await writer.drain()
        answers = await replies(reader, 3)
        other.write(line(request("hello")))
        answers += await replies(other_reader, 1)
        writer.close()
        other.close()
        return answers

    oversized, first, second, elsewhere = run(scenario)
    assert oversized["error"]["code"] == protocol.INVALID_REQUEST
    assert str(MAX_BATCH) in oversized["error"]["message"]
    assert len(first) == MAX_BATCH
    assert [a["error"]["code"] for a in second] == [protocol.RATE_LIMITED] * MAX_BATCH
    assert elsewhere["result"] == {"method": "hello"}  # 98 tokens were left for it
    assert len(calls) == MAX_BATCH + 1


def test_a_batch_whose_answer_is_too_large_gets_one_error_then_the_connection_closes() -> None:
    async def scenario(server: RpcServer, path: Path) -> tuple[list[Any], bytes]:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_UNSENT * 2)
        size = MAX_UNSENT // 10
        writer.write(line([request("big", n, size=size) for n in range(20)]))
        await writer.drain()
        answer = await replies(reader, 1)
        rest = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return answer, rest

    (answer,), rest = run(scenario)
    assert answer["error"]["code"] == protocol.ANSWER_TOO_LARGE
    assert rest == b""


def test_a_client_that_never_reads_is_cut_off_at_the_bound_of_unsent_output() -> None:
    async def scenario(server: RpcServer, path: Path) -> tuple[int, list[Any]]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(str(path))
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=MAX_UNSENT * 4)
        most = 0
        for n in range(150):  # 150 answers of 64 KiB, never read: far past the bound
            writer.write(line(request("big", n, size=64 * 1024)))
            await writer.drain()
            await asyncio.sleep(0.002)
            for connection in server.connections:
                most = max(most, connection.unsent)
            if not server.connections:
                break
        tail: list[Any] = []
        while line_read := await asyncio.wait_for(reader.readline(), 10):
            tail.append(json.loads(line_read))
        writer.close()
        return most, tail

    most, tail = run(scenario)
    assert most <= MAX_UNSENT + len(protocol.encode(server_module.UNREAD))  # + the last words
    assert tail[-1]["error"]["code"] == protocol.TOO_MUCH_UNREAD  # one error, then closed
    assert all("result" in message for message in tail[:-1])


def test_a_rate_limited_request_is_refused_under_its_own_id(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Found by the IPC fuzzer: the refusal carried id null, so a client waiting for
    # its answer (here "last") never saw one and waited until it gave up.
    monkeypatch.setattr(server_module, "RATE_PER_SECOND", 0.0)
    monkeypatch.setattr(server_module, "RATE_BURST", 1.0)

    async def scenario(server: RpcServer, path: Path) -> list[Any]:
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(line(request("hello", 1)) + line(request("hello", "last"))
                     + line([request("hello", 7), request("hello", 8)]) + b"{nope\n")
        await writer.drain()
        answers = await replies(reader, 4)
        writer.close()
        return answers

    first, limited, batch, garbage = run(scenario)
    assert first["result"] == {"method": "hello"}
    assert limited["id"] == "last"
    assert limited["error"]["code"] == protocol.RATE_LIMITED
    assert [a["id"] for a in batch] == [7, 8]  # each item of a refused batch, by its id
    assert all(a["error"]["code"] == protocol.RATE_LIMITED for a in batch)
    assert garbage["error"]["code"] == protocol.RATE_LIMITED and garbage["id"] is None
    assert calls == ["hello"]


def test_strangers_are_counted_past_a_few_they_are_answered_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Review 14 s9 H1: a stranger's idle connections were held 10 s each, uncounted."""
    monkeypatch.setattr(server_module, "STRANGER_WAIT_S", 3600.0)  # the first few wait on

    async def scenario(server: RpcServer, path: Path) -> list[Any]:
        held = [await asyncio.open_unix_connection(str(path))
                for _ in range(server_module.MAX_STRANGERS_PER_UID)]
        reader, writer = await asyncio.open_unix_connection(str(path))  # never writes
        answer = await replies(reader, 1)
        rest = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        for _, other in held:
            other.close()
        return [*answer, rest]

    answer, rest = run(scenario, admit=_nobody)
    assert answer["error"] == {"code": protocol.FORBIDDEN, "message": "forbidden"}
    assert rest == b""
    assert calls == []


def test_past_the_connection_bound_a_connection_waits_until_one_ends() -> None:
    async def scenario(server: RpcServer, path: Path) -> tuple[bool, Any]:
        server.max_connections = 3
        held = [await asyncio.open_unix_connection(str(path)) for _ in range(3)]
        for reader, writer in held:  # all three are taken and served
            writer.write(line(request("hello")))
            await replies(reader, 1)
        reader, writer = await asyncio.open_unix_connection(str(path))  # in the kernel's queue
        writer.write(line(request("hello", 9)))
        await writer.drain()
        try:
            await asyncio.wait_for(reader.readline(), 0.5)
            waited = False
        except TimeoutError:
            waited = True
        held[0][1].close()  # one ends: the fourth is taken
        answer = (await replies(reader, 1))[0]
        writer.close()
        for _, other in held[1:]:
            other.close()
        return waited, answer

    waited, answer = run(scenario)
    assert waited, "a connection past the bound was served"
    assert answer["result"] == {"method": "hello"} and answer["id"] == 9


def test_lone_surrogate_escapes_are_refused_as_bad_input_and_answered() -> None:
    """Review 14 s9 M2: ``"\\ud800"`` (a JSON escape, valid UTF-8 on the wire) in a method,
    an id or params got no answer, or an internal error."""
    lines = [b'{"jsonrpc":"2.0","id":1,"method":"\\ud800x"}\n',
             b'{"jsonrpc":"2.0","id":"\\ud800","method":"hello"}\n',
             b'{"jsonrpc":"2.0","id":3,"method":"note","params":{"note":"\\udfff\\ud800"}}\n',
             b'{"jsonrpc":"2.0","id":4,"method":"hello","params":{"\\uDC00":1}}\n',
             # A pair is text, and an escaped backslash before "ud800" is no escape.
             b'{"jsonrpc":"2.0","id":5,"method":"\\ud83d\\ude00"}\n',
             b'{"jsonrpc":"2.0","id":6,"method":"\\\\ud800"}\n']

    async def scenario(server: RpcServer, path: Path) -> list[Any]:
        reader, writer = await asyncio.open_unix_connection(str(path))
        for text in lines:
            writer.write(text)
        await writer.drain()
        answers = await replies(reader, len(lines))
        writer.close()
        return answers

    *refused, pair, escaped = run(scenario)
    for answer in refused:
        assert answer["id"] is None
        assert answer["error"]["code"] == protocol.PARSE_ERROR
        assert "surrogate" in answer["error"]["message"]
    assert pair["result"] == {"method": "\U0001F600"}
    assert escaped["result"] == {"method": "\\ud800"}
    assert calls == ["\U0001F600", "\\ud800"]


def test_an_answer_holding_a_lone_surrogate_is_still_sent() -> None:
    assert protocol.encode({"x": "\ud800"}) == b'{"x":"\\ud800"}\n'


def test_past_its_connect_rate_a_uids_connection_is_closed_unread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Review 14 s10 M1: a flood of connects is closed at the accept, costing no task."""
    monkeypatch.setattr(server_module, "CONNECTS_BURST", 2.0)
    monkeypatch.setattr(server_module, "CONNECTS_PER_SECOND", 0.0)

    async def scenario(server: RpcServer, path: Path) -> list[Any]:
        got = []
        for n in range(3):
            reader, writer = await asyncio.open_unix_connection(str(path))
            if n < 2:
                writer.write(line(request("hello", n)))
                got.append((await replies(reader, 1))[0])
            else:  # never written to: a write could meet the closed socket first
                got.append(await asyncio.wait_for(reader.read(), 10))
            writer.close()
        return got

    first, second, third = run(scenario)
    assert first["id"] == 0 and second["id"] == 1 and "result" in second
    assert third == b""  # closed unread, unanswered
    assert calls == ["hello", "hello"]


def test_a_uid_at_its_cap_is_told_too_many_and_one_just_hung_up_frees_its_place(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The cap is checked when the connection is taken; one the uid hung up just before
    (its end not yet read by the loop: a client's calls one after another) must not
    count (found by test_load's 32nd root connection, s12)."""
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS_PER_UID", 2)

    async def scenario(server: RpcServer, path: Path) -> list[Any]:
        held = [await asyncio.open_unix_connection(str(path)) for _ in range(2)]
        for n, (reader, writer) in enumerate(held):
            writer.write(line(request("hello", n)))
            await replies(reader, 1)
        reader, writer = await asyncio.open_unix_connection(str(path))  # the third
        refused = (await replies(reader, 1))[0]
        writer.close()
        got = []
        for n in range(5):  # hang up one, at once another: served each time
            held[0][1].close()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(path))
            reader, writer = await asyncio.open_unix_connection(sock=sock)
            writer.write(line(request("hello", 10 + n)))
            got.append((await replies(reader, 1))[0])
            held[0] = (reader, writer)
        for _, other in held:
            other.close()
        return [refused, *got]

    refused, *got = run(scenario)
    assert refused["error"]["code"] == protocol.TOO_MANY_CONNECTIONS
    assert [answer.get("id") for answer in got] == [10, 11, 12, 13, 14]
    assert all("result" in answer for answer in got), got
