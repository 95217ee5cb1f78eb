"""The logind watch under a storm of lock changes (issue 16, review-16-s5 MEDIUM 2): a child
flapping their own lock hint as fast as logind answers is not read change by change, and
what the screen says at the end is still what the watch reports. Real bus, fake logind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from shepherd.presence import HERE, LogindWatch, Presence
from tests.presence.bus import FakeLogind, PrivateBus

UID = 4242


@pytest.fixture
def logind(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLogind]:
    bus = PrivateBus()
    for key, value in bus.env().items():
        monkeypatch.setenv(key, value)
    fake = FakeLogind(bus)
    try:
        yield fake
    finally:
        fake.close()
        bus.close()


async def until(watch: LogindWatch, wanted: Presence) -> None:
    deadline = time.monotonic() + 30
    while watch.presence("alex") != wanted:
        assert time.monotonic() < deadline, (watch.presence("alex"), wanted)
        await asyncio.sleep(0.05)


def test_a_storm_of_lock_changes_is_read_once_a_second_and_ends_in_the_right_state(
        logind: FakeLogind) -> None:
    logind.do(f"new 1 {UID}")
    heard: list[Presence] = []

    async def go() -> None:
        loop = asyncio.get_running_loop()
        watch = LogindWatch({"alex": UID}, lambda name, presence: heard.append(presence))
        try:
            assert await watch.start()
            await until(watch, HERE)
            sent = 0
            for _ in range(3):
                await loop.run_in_executor(None, logind.do, "flap 1 300")
                sent += 600
            await loop.run_in_executor(None, logind.do, "lock 1")  # and then really locked
            await until(watch, Presence("locked"))
            assert watch.storms >= 1
            assert len(heard) < sent  # not read change by change
            await loop.run_in_executor(None, logind.do, "unlock 1")
            await until(watch, HERE)  # heard again, by its signal or the next reading
            for _ in range(5):  # and still heard after the storm, one change at a time
                await loop.run_in_executor(None, logind.do, "lock 1")
                await until(watch, Presence("locked"))
                await loop.run_in_executor(None, logind.do, "unlock 1")
                await until(watch, HERE)
        finally:
            await watch.close()

    asyncio.run(go())


def test_a_storm_from_an_account_that_is_not_a_child_is_a_storm_too(logind: FakeLogind) -> None:
    """A guest account (or a second account the child can log into) flapping its own lock:
    the bus delivers every session's changes, so they must count toward the storm too, or
    the daemon reads every one of them (review-16b-s6 LOW 1). The child's own lock is still
    seen, at most a storm period late."""
    logind.do(f"new 1 {UID}")
    logind.do("new 9 4999")
    heard: list[Presence] = []

    async def go() -> None:
        loop = asyncio.get_running_loop()
        watch = LogindWatch({"alex": UID}, lambda name, presence: heard.append(presence))
        try:
            assert await watch.start()
            await until(watch, HERE)
            for _ in range(3):
                await loop.run_in_executor(None, logind.do, "flap 9 300")
            assert watch.storms >= 1
            await loop.run_in_executor(None, logind.do, "lock 1")
            await until(watch, Presence("locked"))
            await loop.run_in_executor(None, logind.do, "unlock 1")
            await until(watch, HERE)
        finally:
            await watch.close()

    asyncio.run(go())


def _is_words(sentence: str | None) -> bool:
    return sentence is not None and "org.freedesktop" not in sentence and "Error" not in sentence


def test_no_logind_is_said_in_words_the_error_name_kept_apart(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent reads the problem in status: a sentence about their world, not a D-Bus
    error name (review-16b-s6 LOW 2); the raw error stays for the log and --json."""
    bus = PrivateBus()
    for key, value in bus.env().items():
        monkeypatch.setenv(key, value)

    async def go() -> None:
        watch = LogindWatch({"alex": UID}, lambda name, presence: None)
        try:
            assert not await watch.start()
            assert watch.problem == "logind is not running"
            assert watch.problem_detail is not None and "NameHasNoOwner" in watch.problem_detail
        finally:
            await watch.close()

    try:
        asyncio.run(go())
    finally:
        bus.close()


def test_logind_dying_during_a_storm_is_said_as_logind_not_running(logind: FakeLogind) -> None:
    """logind leaves the bus while a storm is ridden out: the storm's next reading fails too,
    and must not replace the sentence with a raw 'did not answer (…ServiceUnknown…)'."""
    logind.do(f"new 1 {UID}")
    problems: list[str | None] = []

    async def go() -> None:
        loop = asyncio.get_running_loop()
        watch = LogindWatch({"alex": UID}, lambda name, presence: None, problems.append)
        try:
            assert await watch.start()
            for _ in range(3):
                await loop.run_in_executor(None, logind.do, "flap 1 300")
            assert watch.storms >= 1
            await loop.run_in_executor(None, logind.close)
            deadline = time.monotonic() + 30
            while watch._storming is not None or watch.problem is None:  # the storm is over
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            assert watch.problem == "logind is not running", watch.problem
            assert watch.presence("alex").cause == HERE.cause  # counted meanwhile
            assert problems and all(_is_words(p) for p in problems if p is not None), problems
        finally:
            await watch.close()

    asyncio.run(go())


def test_storms_in_bursts_are_logged_once_and_kept_for_the_parent(
        logind: FakeLogind, caplog: pytest.LogCaptureFixture) -> None:
    """A child flapping in bursts starts a storm each time: one WARNING a storm was ~1,000
    log lines an hour, and the parent was never told (review-16b-s6 LOW 4). Now the log
    says it at most once a minute, and the watch keeps who flapped, from when to when."""
    logind.do(f"new 1 {UID}")
    caplog.set_level("INFO", logger="shepherd.presence")

    async def go() -> None:
        loop = asyncio.get_running_loop()
        watch = LogindWatch({"alex": UID}, lambda name, presence: None)
        try:
            assert await watch.start()
            began = time.monotonic()
            for burst in range(3):
                for _ in range(3):
                    await loop.run_in_executor(None, logind.do, "flap 1 300")
                assert watch.storms == burst + 1
                deadline = time.monotonic() + 30
                while watch._storming is not None:  # this storm is over: the next is new
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.05)
            said = [r for r in caplog.records
                    if r.levelname == "WARNING" and "times a second" in r.getMessage()]
            assert len(said) == 1, [r.getMessage() for r in said]
            assert "alex" in said[0].getMessage()
            flap = watch.flaps["alex"]
            assert (flap.storms, flap.child) == (3, "alex")
            assert began <= flap.began < flap.last <= time.monotonic()
            assert flap.heard > 3 * 200  # at least each storm's first second
            assert None not in watch.flaps  # nobody else flapped
        finally:
            await watch.close()

    asyncio.run(go())
