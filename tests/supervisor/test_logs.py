"""Session logs: written by the program itself, kept to their cap by rotation."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from shepherd.supervisor.logs import SessionLogs, cap_all, cap_file


def test_a_log_past_its_cap_keeps_its_latest_part_and_the_writer_goes_on(tmp_path: Path) -> None:
    logs = SessionLogs(tmp_path / "logs", cap=1000)
    fd = logs.open(3)  # what the program gets as stdout and stderr
    try:
        os.write(fd, b"a" * 1500 + b"b" * 500)
        assert cap_file(logs.path(3), 1000)
        kept = logs.path(3).with_name("session-3.log.1")
        assert kept.read_bytes() == b"a" * 500 + b"b" * 500  # the latest 1000 bytes
        assert logs.path(3).stat().st_size == 0
        os.write(fd, b"after")  # O_APPEND: the program's writes start again at the top
        assert logs.path(3).read_bytes() == b"after"
        assert not cap_file(logs.path(3), 1000)
    finally:
        os.close(fd)


def test_a_log_cannot_be_redirected_through_a_symlink(tmp_path: Path) -> None:
    logs = SessionLogs(tmp_path / "logs")
    logs.directory.mkdir()
    target = tmp_path / "elsewhere"
    logs.path(4).symlink_to(target)
    try:
        logs.open(4)
    except OSError:
        pass
    else:
        raise AssertionError("followed a symlink")
    assert not target.exists()


def checked(logs: SessionLogs) -> None:
    """One upkeep, as the daemon's checkpoint does it, waited for."""
    async def once() -> None:
        logs.maintain()
        await logs.settle()
    asyncio.run(once())


def test_a_descriptor_that_outlives_its_session_is_capped_until_it_is_closed(
        tmp_path: Path) -> None:
    # Review 8 s8 L-5: the program passed its log's descriptor (SCM_RIGHTS) to a process
    # outside the session; after the session ended the log was capped once, then grew
    # without bound. Capped while anything can write it, also by a daemon started again.
    logs = SessionLogs(tmp_path / "logs", cap=1000)
    escaped = logs.open(5)

    async def ended() -> None:
        logs.done(5)
        await logs.settle()
    asyncio.run(ended())
    try:
        os.write(escaped, b"x" * 5000)
        checked(logs)
        assert logs.path(5).stat().st_size <= 1000
        restarted = SessionLogs(tmp_path / "logs", cap=1000)  # the daemon ran again
        os.write(escaped, b"y" * 5000)
        checked(restarted)
        assert logs.path(5).stat().st_size <= 1000
    finally:
        os.close(escaped)
    checked(restarted)  # no writer left: let go of (a log is not read for nothing)
    with open(logs.path(5), "ab") as late:  # only to show it: nobody could write it now
        late.write(b"z" * 5000)
    checked(restarted)
    assert logs.path(5).stat().st_size > 1000


def test_a_log_that_cannot_be_capped_is_said_once_until_it_can_be(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Review-9-s15 L-2: on a read-only state directory every checkpoint failed to cap
    every session's log, and said so each time (2.4 lines a second for as long as it
    lasted, into a journal that then drops the daemon's other lines)."""
    path = tmp_path / "session-5.log"
    path.mkdir()  # (cannot be opened to cap: as on a read-only file system, every time)
    uncapped: set[Path] = set()
    with caplog.at_level(logging.INFO, logger="shepherd.supervisor.logs"):
        for _ in range(5):
            cap_all([path], 1000, uncapped)
        said = [r.getMessage() for r in caplog.records]
        assert len(said) == 1 and "could not cap" in said[0], said
        path.rmdir()
        path.write_bytes(b"x" * 10)
        cap_all([path], 1000, uncapped)  # it can again: said, and a new failure is said
        assert uncapped == set() and "can be capped again" in caplog.records[-1].getMessage()
