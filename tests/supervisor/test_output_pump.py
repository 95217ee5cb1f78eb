"""A session's output reaches its log through a pipe and a pump (review-14-s30b H1; it
writes as the child: review-14-s31 H-1): the program holds no descriptor of a file on
the state directory's disk, so nothing it does through its output (``fallocate``, a
flood of writes, the descriptor handed on) takes more of that disk than its log's cap.
Both modes (see conftest), as another account."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shepherd.supervisor.logs import LOG_CAP_BYTES, open_for_writing
from shepherd.supervisor.starter import LOST, PUMP_NAME
from tests.supervisor.conftest import MODES, ROOT, none_left, start_daemon, survivors, wait_for

NOBODY_PYTHON = "/usr/bin/python3"  # nobody runs it: ours may sit in root's home

# What the program tries, said in a file of its own (its log is rotated under it); then a
# flood of 10 MiB as fast as it goes; then a line every 0.1 s.
FLOODS = (
    "import errno, os, signal, stat, sys, time\n"
    "said = ['fifo=%s' % stat.S_ISFIFO(os.fstat(1).st_mode)]\n"
    "for how, call in (('fallocate', lambda: os.posix_fallocate(1, 0, 1 << 20)),\n"
    "                  ('reopen', lambda: os.open('/proc/self/fd/1', os.O_RDWR))):\n"
    "    try:\n"
    "        call()\n"
    "        said.append(how + '=done')\n"
    "    except OSError as exc:\n"
    "        said.append(how + '=' + errno.errorcode.get(exc.errno, '?'))\n"

    "with open(sys.argv[1], 'w') as out:\n"
    "    out.write(' '.join(said))\n"
    "chunk = b'x' * 65535 + b'\\n'\n"
    "for _ in range(160):\n"
    "    os.write(1, chunk)\n"
    "n = 0\n"
    "while True:\n"
    "    n += 1\n"
    "    os.write(1, b'beat %d\\n' % n)\n"
    "    time.sleep(0.1)\n")


@pytest.fixture
def said_dir() -> Iterator[Path]:
    where = Path(tempfile.mkdtemp(prefix="shpump"))
    os.chmod(where, 0o777)
    yield where
    shutil.rmtree(where, ignore_errors=True)


def pumps_of(log: Path) -> list[int]:
    """The processes named as a pump that hold ``log`` open."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if Path(f"/proc/{name}/comm").read_bytes().strip() != PUMP_NAME:
                continue
            fds = Path(f"/proc/{name}/fd")
            if any(os.readlink(fds / fd) == str(log) for fd in os.listdir(fds)):
                found.append(int(name))
        except OSError:
            continue
    return found


def held(log: Path) -> int:
    """The bytes the log and its kept tail take on the disk (their blocks)."""
    total = 0
    for path in (log, log.with_name(log.name + ".1")):
        try:
            total += os.stat(path).st_blocks * 512
        except FileNotFoundError:
            continue
    return total


@ROOT
@pytest.mark.parametrize("mode", MODES)
def test_a_programs_output_goes_through_a_pump_it_cannot_touch_and_the_log_stays_capped(
        daemon_factory: Any, mode: str, token: str, said_dir: Path) -> None:
    said = said_dir / "said"
    d = start_daemon(daemon_factory, mode, f"""
[[entries]]
id = "game"
command = ["{NOBODY_PYTHON}", "-c", {json.dumps(FLOODS)}, "{said}", "{token}"]
""", system_mode=True)
    started = d.call("launch", entry="game", user="nobody")
    log = d.state / "logs" / f"session-{started['session_id']}.log"
    [pump] = wait_for(lambda: pumps_of(log))
    # The child's account (its writes cannot take ext4's blocks kept for root:
    # review-14-s31 H-1), with no capability left, and not dumpable: the child cannot
    # trace it nor reach its descriptors (the log's) through /proc.
    def status() -> dict[str, str]:
        return dict(line.split(":\t", 1) for line in
                    Path(f"/proc/{pump}/status").read_text().splitlines() if ":\t" in line)

    # (named first, then its files opened as root, then the child's: looked at once it is)
    wait_for(lambda: status()["Uid"].split()[:3] == ["65534"] * 3)
    assert status()["CapEff"].strip("0\n") == ""
    # SCHED_BATCH, at the program's nice: woken by the program's output or its end, it
    # never preempts the program (whose exit it would delay) nor the daemon.
    assert os.sched_getscheduler(pump) == os.SCHED_BATCH
    assert os.stat(f"/proc/{pump}/status").st_uid == 0  # (root's: not dumpable)
    peek = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           "ls", "-l", f"/proc/{pump}/fd/"], capture_output=True, text=True)
    assert peek.returncode != 0 and "denied" in peek.stderr, peek
    wait_for(lambda: said.exists() and said.read_text())
    tried = dict(kv.split("=") for kv in said.read_text().split())
    assert tried["fifo"] == "True"  # its stdout is a pipe, not the file
    assert tried["fallocate"] in ("ESPIPE", "ENODEV", "EINVAL")  # nothing to take
    assert tried["reopen"] in ("done", "EACCES")  # the pipe (root's) again, if at all
    [program] = survivors(token)
    assert os.readlink(f"/proc/{program}/fd/1").startswith("pipe:")
    assert os.readlink(f"/proc/{program}/fd/2").startswith("pipe:")
    assert all(not os.readlink(f"/proc/{program}/fd/{fd}").startswith(str(d.state))
               for fd in os.listdir(f"/proc/{program}/fd"))
    # The flood: never more on the disk than the log's cap and its kept tail, sampled
    # while it lasts (a partial copy of the tail, for a moment, is not counted).
    most = 0
    until = time.monotonic() + 3
    while time.monotonic() < until:
        most = max(most, held(log))
        time.sleep(0.01)
    assert LOG_CAP_BYTES < most <= 2 * LOG_CAP_BYTES + 8192, most
    wait_for(lambda: b"beat" in log.read_bytes())  # its output still flows after it
    # A daemon killed (-9) changes nothing for the program's output.
    d.kill9()
    beats = log.read_bytes().count(b"beat")
    wait_for(lambda: log.read_bytes().count(b"beat") > beats + 3)
    assert pumps_of(log) == [pump]
    d.start()
    d.call("stop", user="nobody")
    none_left(token)
    wait_for(lambda: not pumps_of(log))  # the pump ends with its session
    assert not open_for_writing(log)


def test_the_pump_keeps_the_logs_tail_before_passing_its_cap_and_ends_with_its_last_writer(
        tmp_path: Path) -> None:
    """The pump alone (``starter.pump``), in a process of its own: a write that would take
    the log past its cap first keeps the log's last ``cap`` bytes in ``.1`` and empties
    it; a tail it cannot keep is lost, said in the log; it drains through a ``SIGTERM``
    and ends when the pipe's last writer is gone."""
    from shepherd.supervisor.starter import pump

    def pumped(path: Path | None, cap: int) -> tuple[int, int, int]:
        log_fd = os.open(tmp_path / "session-1.log",
                         os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
        read_fd, write_fd = os.pipe()
        child = os.fork()
        if child == 0:
            try:
                os.close(write_fd)
                pump(read_fd, log_fd, cap, None, None if path is None else str(path))
            finally:
                os._exit(0)
        os.close(read_fd)
        return child, write_fd, log_fd

    log = tmp_path / "session-1.log"
    kept = tmp_path / "session-1.log.1"
    child, write_fd, log_fd = pumped(log, 1000)
    try:
        os.write(write_fd, b"a" * 600)
        wait_for(lambda: log.read_bytes() == b"a" * 600)
        os.write(write_fd, b"b" * 600)  # would pass 1000: the log's tail kept first
        wait_for(lambda: log.read_bytes() == b"b" * 600)
        assert kept.read_bytes() == b"a" * 600 and kept.stat().st_mode & 0o777 == 0o600
        os.write(write_fd, b"c" * 300 + b"d" * 300)
        wait_for(lambda: log.read_bytes() == b"c" * 300 + b"d" * 300)
        assert kept.read_bytes() == b"b" * 600
        os.write(write_fd, b"e" * 500)  # 1100 would pass: the last 600 kept, "e" alone
        wait_for(lambda: log.read_bytes() == b"e" * 500)
        assert kept.read_bytes() == b"c" * 300 + b"d" * 300
        os.kill(child, signal.SIGTERM)  # ignored: it drains on while the program stops
        os.write(write_fd, b"f")
        wait_for(lambda: log.read_bytes() == b"e" * 500 + b"f")
    finally:
        os.close(write_fd)  # the last writer: it ends
    assert os.waitpid(child, 0)[1] == 0
    os.close(log_fd)
    kept.unlink()
    child, write_fd, log_fd = pumped(None, 1000)  # its tail cannot be kept: said, and lost
    try:
        os.write(write_fd, b"g" * 900)
        wait_for(lambda: log.read_bytes() == b"g" * 900)
        os.write(write_fd, b"h" * 200)
        wait_for(lambda: log.read_bytes() == LOST + b"h" * 200)
        assert not kept.exists()
    finally:
        os.close(write_fd)
    assert os.waitpid(child, 0)[1] == 0
    os.close(log_fd)
