"""Session logs: written by the program itself, kept to their cap by rotation."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import subprocess
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from shepherd.supervisor.logs import LOG_KEEP_DAYS, SessionLogs, cap_all, cap_file


def test_a_log_past_its_cap_keeps_its_latest_part_and_the_writer_goes_on(tmp_path: Path) -> None:
    logs = SessionLogs(tmp_path / "logs", cap=1000)
    fd = logs.open(3)  # what the program gets as stdout and stderr
    try:
        os.write(fd, b"a" * 1500 + b"b" * 500)
        assert cap_file(logs.path(3), 1000)
        kept = logs.path(3).with_name("session-3.log.1")
        assert kept.read_bytes() == b"a" * 500 + b"b" * 500  # the latest 1000 bytes
        assert kept.stat().st_mode & 0o777 == 0o600  # as the log (review-14-s30b L2)
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

    asyncio.run(_ended(logs, 5))
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


LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
KEEP_SIZE = 1  # FALLOC_FL_KEEP_SIZE


def held(path: Path) -> int:
    """The bytes of disk the file holds (its blocks), not its size."""
    return path.stat().st_blocks * 512


def test_blocks_a_program_holds_past_its_logs_end_are_given_back_and_its_text_kept(
        tmp_path: Path) -> None:
    # Review-14-s30 F1: fallocate with KEEP_SIZE through the program's O_APPEND
    # descriptor held 100 MiB of blocks behind a log of size 0: the cap, looking at the
    # size only, never saw them, and they stayed after the session.
    logs = SessionLogs(tmp_path / "logs", cap=1000)
    fd = logs.open(6)
    try:
        os.write(fd, b"hello\n")
        assert LIBC.fallocate(fd, KEEP_SIZE, 0, 64 << 20) == 0, ctypes.get_errno()
        assert logs.path(6).stat().st_size == 6 and held(logs.path(6)) >= 64 << 20
        checked(logs)
        assert held(logs.path(6)) <= 64 * 1024 and logs.path(6).read_bytes() == b"hello\n"
        assert not logs.path(6).with_name("session-6.log.1").exists()  # nothing rotated
        assert LIBC.fallocate(fd, KEEP_SIZE, 0, 64 << 20) == 0  # again, after its end:
    finally:
        os.close(fd)
    asyncio.run(_ended(logs, 6))  # the session's end: looked at once more, then let go
    assert held(logs.path(6)) <= 64 * 1024 and logs.path(6).read_bytes() == b"hello\n"
    assert 6 not in logs.ended


async def _ended(logs: SessionLogs, session_id: int) -> None:
    logs.done(session_id)
    await logs.settle()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs of the test's own (root only)."""
    where = tmp_path / "small"
    where.mkdir()
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(where)],
            capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def free(where: Path) -> int:
    found = os.statvfs(where)
    return found.f_bavail * found.f_frsize


def test_a_log_that_took_the_whole_disk_is_emptied_though_its_tail_cannot_be_kept(
        small_disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Review-14-s30 F1: one posix_fallocate took every free block of the state directory's
    # file system; the cap then failed (its tail's copy needs space), the store could
    # write nothing, and it lasted after the session: every launch refused for good.
    logs = SessionLogs(small_disk / "logs", cap=1000)
    fd = logs.open(7)
    try:
        os.write(fd, b"x" * 5000)
        os.posix_fallocate(fd, 0, 5000 + free(small_disk))
        assert free(small_disk) < 64 * 1024  # full
        with caplog.at_level(logging.WARNING, logger="shepherd.supervisor.logs"):
            checked(logs)
        assert free(small_disk) > 15 << 20  # the space is back
        assert logs.path(7).stat().st_size == 0 and held(logs.path(7)) == 0
        assert not logs.path(7).with_name("session-7.log.1.tmp").exists()
        assert any("too full to keep" in r.getMessage() for r in caplog.records)
        os.write(fd, b"after")  # the program writes on
        assert logs.path(7).read_bytes() == b"after"
    finally:
        os.close(fd)


def test_logs_of_sessions_ended_long_ago_are_removed_and_the_others_kept(
        tmp_path: Path) -> None:
    # Review-14-s30 F1 (more): every session's log stayed for good (up to twice the cap
    # each): a child's launches filled root's disk over months.
    logs = SessionLogs(tmp_path / "logs", cap=1000)
    old = time.time() - (LOG_KEEP_DAYS + 1) * 86400
    running = logs.open(1)
    try:
        for session_id in (1, 2, 3):
            logs.path(session_id).parent.mkdir(exist_ok=True)
            logs.path(session_id).write_bytes(b"log")
            logs.path(session_id).with_name(f"session-{session_id}.log.1").write_bytes(b"old")
        for session_id in (1, 2):  # 1 still runs (an old file of a live session), 2 ended
            for name in (f"session-{session_id}.log", f"session-{session_id}.log.1"):
                os.utime(logs.directory / name, (old, old))
        checked(logs)  # the first check of a daemon's run
        assert logs.path(1).exists() and logs.path(3).exists()  # running; recent
        assert not logs.path(2).exists()
        assert not (logs.directory / "session-2.log.1").exists()
    finally:
        os.close(running)


def test_all_the_logs_together_stay_within_their_budget_the_oldest_ended_removed_first(
        tmp_path: Path) -> None:
    """Review-14-s31 M-1: 212 launches of a program that wrote 2 MiB each left 225 MiB of
    logs in 20 s (each kept for 30 days). At each check after a session ended, the logs
    together are kept within the budget (the blocks they hold): the oldest ended
    sessions' go first; a running session's never, however old."""
    logs = SessionLogs(tmp_path / "logs", cap=100_000, budget=10 * 65536)
    live = logs.open(1)  # the oldest, still running
    os.close(live)
    logs.path(1).write_bytes(b"r" * 65536)
    now = time.time()  # (all of this month: the removal by age takes none of them)
    os.utime(logs.path(1), (now - 3600, now - 3600))
    for session_id in range(2, 22):  # 20 ended sessions, 64 KiB each, older first
        logs.path(session_id).write_bytes(b"x" * 65536)
        os.utime(logs.path(session_id), (now - 100 + session_id, now - 100 + session_id))
    logs.ended = set(range(2, 22))
    checked(logs)
    left = sorted(int(p.name.split("-")[1].split(".")[0]) for p in logs.directory.iterdir())
    assert left[0] == 1  # running: kept
    assert left[1:] == list(range(13, 22))  # the 9 newest ended ones, within 10 x 64 KiB
    held = sum(p.stat().st_blocks * 512 for p in logs.directory.iterdir())
    assert held <= 10 * 65536


def test_an_empty_kept_tail_goes_at_the_logs_last_look(tmp_path: Path) -> None:
    """Review-14-s31b L-2: the pump makes ``.1`` at its start (it cannot later, as the
    child); one never written was left for each session. At the log's last look (no
    writer left) an empty ``.1`` is removed; a written one stays."""
    logs = SessionLogs(tmp_path / "logs")
    for session_id in (1, 2):
        os.close(logs.open(session_id))
        logs.path(session_id).write_bytes(b"out\n")
    kept_path_1 = logs.path(1).with_name("session-1.log.1")
    kept_path_2 = logs.path(2).with_name("session-2.log.1")
    kept_path_1.write_bytes(b"")
    kept_path_2.write_bytes(b"tail\n")
    asyncio.run(_ended(logs, 1))
    asyncio.run(_ended(logs, 2))
    checked(logs)
    assert not kept_path_1.exists() and kept_path_2.read_bytes() == b"tail\n"
    assert logs.path(1).read_bytes() == b"out\n"


def test_the_budget_is_looked_at_without_a_list_of_every_log(tmp_path: Path) -> None:
    """Issue 13 (memory): a check after a session ended stat'ed every log into a dict of
    them all (and Paths of each), every ``TRIM_EVERY_S`` while sessions end; with 10,000
    logs left (a month of short sessions) that was megabytes made and freed each time,
    and the daemon's memory grew 6-8 MiB over 10,000 sessions. Under the budget, the
    logs are now summed as the directory is read: what the check allocates at its peak
    does not grow with the number of logs."""
    directory = tmp_path / "logs"
    directory.mkdir()
    for session_id in range(10_000):
        os.close(os.open(directory / f"session-{session_id}.log", os.O_CREAT | os.O_WRONLY))
    (directory / "session-3.log.1").write_bytes(b"tail\n")
    logs = SessionLogs(directory)
    logs._swept = True  # (a check after the first of the daemon's run)
    logs._pruned_at = time.monotonic()  # (within the hour: no removal by age)
    logs.ended = {9_999}
    tracemalloc.start()
    try:
        checked(logs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024, f"the check allocated {peak >> 10} KiB at its peak"
    assert len(os.listdir(directory)) == 10_001  # all within the budget: none removed


def test_a_look_at_the_budget_put_off_is_made_when_no_session_runs_any_more(
        tmp_path: Path) -> None:
    """Review-14-s34 L1: the budget is looked at no more often than ``TRIM_EVERY_S``
    after sessions end; what was written after the last look (the last sessions' pumps)
    stayed past the budget until another session ended. A look put off is owed: the
    logs are not idle until it is made, at a later check."""
    logs = SessionLogs(tmp_path / "logs", cap=100_000, budget=4 * 65536)
    logs._swept = True
    logs._pruned_at = time.monotonic()
    logs._trimmed_at = time.monotonic()  # (just looked at)
    for session_id in range(1, 9):  # 8 ended sessions, 64 KiB each, past the budget
        os.close(logs.open(session_id))
        logs.path(session_id).write_bytes(b"x" * 65536)
        logs.live.discard(session_id)
    logs.ended = {8}
    checked(logs)  # within TRIM_EVERY_S of the last look: put off
    assert len(list(logs.directory.iterdir())) == 8 and not logs.idle
    logs._trimmed_at -= 60  # (later)
    checked(logs)  # no session ended since: the look owed is made
    held = sum(p.stat().st_blocks * 512 for p in logs.directory.iterdir())
    assert held <= 4 * 65536 and logs.idle
