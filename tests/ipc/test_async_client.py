"""The asyncio client against a real daemon: answers by id, events on the same line, loss."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shepherd.ipc.client import AsyncClient, DaemonUnreachable
from shepherd.ipc.protocol import INVALID_PARAMS, NOT_FOUND, RpcError
from tests.daemon.conftest import policy

NAP = '[[entries]]\nid = "nap"\ncommand = ["sleep", "600"]\n'


def test_calls_are_answered_and_events_arrive_on_the_same_connection(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))

    async def scenario() -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
        notices: list[tuple[str, dict[str, Any]]] = []
        client = await AsyncClient.open(d.socket, lambda m, p: notices.append((m, p)))
        hello, subscribed = await asyncio.gather(client.call("hello"), client.call("subscribe"))
        launched = await client.call("launch", entry="nap")
        for _ in range(100):
            if any(p.get("type") == "session_started" for _, p in notices):
                break
            await asyncio.sleep(0.05)
        with pytest.raises(RpcError) as refused:
            await client.call("stop", session_id=999)
        assert refused.value.code == NOT_FOUND
        await client.close()
        return (hello, subscribed, launched), notices

    (hello, subscribed, launched), notices = asyncio.run(scenario())
    assert hello["role"] == "admin" and subscribed == {"subscribed": True}
    started = [p for m, p in notices if m == "event" and p["type"] == "session_started"]
    assert started and started[0]["session_id"] == launched["session_id"]


def test_a_dead_daemon_fails_waiting_calls_and_closes(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))

    async def scenario() -> str:
        client = await AsyncClient.open(d.socket)
        await client.call("hello")
        d.kill9()
        await asyncio.wait_for(client.closed.wait(), 10)
        with pytest.raises(DaemonUnreachable):
            await client.call("status")
        return client.close_reason

    assert "closed" in asyncio.run(scenario())


def test_no_daemon_is_a_plain_error(tmp_path: Any) -> None:
    async def scenario() -> None:
        await AsyncClient.open(tmp_path / "none.sock")

    with pytest.raises(DaemonUnreachable, match="cannot reach the daemon"):
        asyncio.run(scenario())


def test_an_error_answer_keeps_its_code(daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP))

    async def scenario() -> int:
        client = await AsyncClient.open(d.socket)
        try:
            await client.call("request.answer", request_id=1, answer="maybe")
        except RpcError as exc:
            return exc.code
        finally:
            await client.close()
        return 0

    assert asyncio.run(scenario()) == INVALID_PARAMS


def test_closing_does_not_swallow_the_closers_own_cancellation(daemon_factory: Any) -> None:
    # The TUI's link closes its client in a ``finally``; were a cancel that lands there
    # swallowed, the link would reconnect forever and the TUI could never end (it hung
    # on a crash, waiting for its tasks to finish).
    d = daemon_factory(policy(NAP))

    async def scenario() -> tuple[bool, bool]:
        client = await AsyncClient.open(d.socket)
        await client.call("hello")

        async def closer() -> str:
            await client.close()
            return "went on after being cancelled"

        task = asyncio.create_task(closer())
        await asyncio.sleep(0)  # it is inside close(), waiting for the reader to end
        task.cancel()
        await asyncio.wait({task}, timeout=5)
        return task.cancelled(), client.closed.is_set()

    cancelled, closed = asyncio.run(scenario())
    assert cancelled, "close() swallowed the cancellation of the task that called it"
    assert closed
