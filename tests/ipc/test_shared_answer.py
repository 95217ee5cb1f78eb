"""Issue 13: one answer handed to many callers is encoded once, byte for byte as alone."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from shepherd.ipc import protocol
from shepherd.ipc.protocol import SharedResult, encode, response
from shepherd.ipc.server import Connection, RpcServer


def test_a_shared_result_is_encoded_once_and_each_answer_is_as_encode_writes_it() -> None:
    result = SharedResult({"users": [{"name": "kid1", "note": "café \ud800"}], "n": 1.5})
    encoded: list[Any] = []
    real = protocol.json.dumps

    def counting(value: Any, **kwargs: Any) -> str:
        encoded.append(value)
        return real(value, **kwargs)

    server = RpcServer(Path("/nonexistent/s.sock"), lambda request, connection: None)
    protocol.json.dumps = counting  # type: ignore[assignment]
    try:
        answers = [server._encoded(response(request_id, result))
                   for request_id in (1, "two", None, 4)]
    finally:
        protocol.json.dumps = real  # type: ignore[assignment]
    assert answers == [encode(response(request_id, dict(result)))
                       for request_id in (1, "two", None, 4)]
    assert sum(1 for value in encoded if value is result) == 1  # the result: once
    assert json.loads(answers[1])["id"] == "two"


def test_a_plain_answer_is_encoded_as_before() -> None:
    server = RpcServer(Path("/nonexistent/s.sock"), lambda request, connection: None)
    for answer in (response(1, {"a": 1}), [response(2, SharedResult(a=1))],
                   {"jsonrpc": "2.0", "id": 3, "error": {"code": 1, "message": "x"}}):
        assert server._encoded(answer) == encode(answer)


async def _handler(request: Any, connection: Connection) -> Any:
    return None


def test_callers_who_ask_in_the_same_turn_share_one_answer() -> None:
    """20 clients calling ``status`` in a loop cost one answer a turn, not 20: each caller
    who asks before the loop's next turn gets the answer worked out then, once per view."""
    from shepherd.daemon.status import AskedTogether

    worked: list[str | None] = []

    def work(only: str | None) -> dict[str, Any]:
        worked.append(only)
        return {"only": only, "n": len(worked)}

    async def scenario() -> tuple[list[Any], list[Any]]:
        together = AskedTogether(work)
        first = await asyncio.gather(*(together.ask(only) for only in
                                       (None, None, "kid1", None, "kid1")))
        later = [await together.ask(None)]  # asked after: worked out again
        return list(first), later

    first, later = asyncio.run(scenario())
    assert sorted(worked, key=str) == [None, None, "kid1"]
    assert first[0] is first[1] is first[3] and first[2] is first[4]
    assert isinstance(first[0], SharedResult) and first[0]["only"] is None
    assert first[2]["only"] == "kid1"
    assert later[0] is not first[0] and later[0]["n"] == 3


def test_a_caller_that_goes_away_does_not_take_the_answer_from_the_others() -> None:
    from shepherd.daemon.status import AskedTogether

    async def scenario() -> Any:
        together = AskedTogether(lambda only: {"ok": True})
        gone = asyncio.ensure_future(together.ask(None))
        staying = asyncio.ensure_future(together.ask(None))
        await asyncio.sleep(0)
        gone.cancel()
        return await staying

    assert asyncio.run(scenario()) == {"ok": True}


def test_an_error_reaches_every_caller_of_that_turn() -> None:
    from shepherd.daemon.status import AskedTogether

    def work(only: str | None) -> dict[str, Any]:
        raise RuntimeError("broken")

    async def scenario() -> list[Any]:
        together = AskedTogether(work)
        return list(await asyncio.gather(together.ask(None), together.ask(None),
                                         return_exceptions=True))

    answers = asyncio.run(scenario())
    assert [str(a) for a in answers] == ["broken", "broken"]


def test_the_daemons_own_timer_falling_due_runs_before_an_answer_asked_just_before() -> None:
    """A warning due in 20 ms runs before a ``status`` answer asked now (the answer is
    worked out just after it); one due later than ``YIELD_S`` waits for the answer, as
    before. Order only: no timing is asserted."""
    from shepherd.daemon.status import AskedTogether

    async def scenario(due_in: float) -> list[str]:
        loop = asyncio.get_running_loop()
        order: list[str] = []
        timer = loop.call_at(loop.time() + due_in, order.append, "timer")

        def work(only: str | None) -> dict[str, Any]:
            order.append("status")
            return {}

        together = AskedTogether(work, timer.when)
        await together.ask(None)
        await asyncio.sleep(due_in + 0.01)
        return order

    assert asyncio.run(scenario(0.02)) == ["timer", "status"]
    assert asyncio.run(scenario(AskedTogether.YIELD_S + 0.05)) == ["status", "timer"]
