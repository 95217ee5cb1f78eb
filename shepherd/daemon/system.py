"""The daemon's contact with the operating system: clocks, boot id, sd_notify, notifications."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import json
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from shepherd.engine.clock import ClockReading
from shepherd.priority import for_program
from shepherd.supervisor.account import Account
from shepherd.timeouts import within

log = logging.getLogger(__name__)

_TIME_ERROR = 5
_STA_UNSYNC = 0x0040
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
TIMEDATED = ["busctl", "get-property", "org.freedesktop.timedate1", "/org/freedesktop/timedate1",
             "org.freedesktop.timedate1", "NTPSynchronized"]


M_ARENA_MAX = -8  # mallopt(3)
MALLOC_ARENAS = 1


@functools.cache
def _libc() -> ctypes.CDLL:
    """The C library, loaded once: each ``CDLL`` makes classes of its own (about 30 KiB,
    in reference cycles only a full collection frees), so one per call was memory churn."""
    return ctypes.CDLL(None, use_errno=True)


def share_malloc_arenas() -> None:
    """Let the daemon's threads share one ``malloc`` arena. By default glibc gives each
    thread that allocates an arena of its own (up to eight per core); SQLite's pages,
    freed on the store's thread, then stay in that thread's arena and the main thread's
    requests grow another, so memory freed in one is never reused by the other. Called
    before any thread starts (arenas made earlier stay). Where ``mallopt`` is missing (a
    C library that is not glibc) nothing changes."""
    with contextlib.suppress(OSError, AttributeError):
        _libc().mallopt(M_ARENA_MAX, MALLOC_ARENAS)


def kernel_synchronized() -> bool | None:
    """The kernel's answer through ``adjtimex`` (read only), or None when it cannot be asked.

    ``adjtimex`` fails with EPERM in a unit with ``ProtectClock=yes`` (its system
    call filter covers the read-only call too): that is "unknown", never "yes".
    """
    try:
        libc = _libc()
        buffer = ctypes.create_string_buffer(512)  # struct timex, modes = 0: read only
        state = int(libc.adjtimex(buffer))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    status = int.from_bytes(buffer.raw[40:44], "little", signed=True)
    return state != _TIME_ERROR and not status & _STA_UNSYNC


class TimeSync:
    """Is the system clock network-synchronised? Fails closed: unknown is "no".

    Asked in order: the kernel (``adjtimex``); where the sandbox forbids that,
    ``systemd-timesyncd``'s flag file (readable under ``ProtectSystem=strict``);
    else timedated's ``NTPSynchronized`` over D-Bus (``busctl``), which is a
    subprocess, so it is only refreshed off the loop (``refresh``) and cached.
    """

    def __init__(self, kernel: Callable[[], bool | None] = kernel_synchronized,
                 flag: Path = TIMESYNC_FLAG) -> None:
        self._kernel = kernel
        self._flag = flag
        self._timedated = False

    def synchronized(self) -> bool:
        answer = self._kernel()
        if answer is not None:
            return answer
        if self._flag.exists():
            return True
        return self._timedated

    def needs_timedated(self) -> bool:
        return self._kernel() is None and not self._flag.exists()

    def refresh(self) -> None:
        """Ask timedated (blocking: run it in a worker thread). No answer means "no"."""
        try:
            done = subprocess.run(TIMEDATED, capture_output=True, text=True, timeout=10,
                                  check=False)
        except (OSError, subprocess.SubprocessError):
            self._timedated = False
            return
        self._timedated = done.returncode == 0 and done.stdout.split() == ["b", "true"]


TIME_SYNC = TimeSync()


def clock_synchronized() -> bool:
    return TIME_SYNC.synchronized()


CLOCK_PAIR_S = 0.0002  # the monotonic and boot clocks read within this of each other
CLOCK_PAIR_TRIES = 5


def read_clocks() -> ClockReading:
    """The clocks, the monotonic and boot readings taken as one moment.

    The trusted wall clock comes from the boot clock and deadlines from the monotonic
    one, so a gap between the two reads (another thread taking the GIL for its 5 ms
    switch interval, or the process preempted on a loaded machine) moved the wall
    time of an unchanged deadline by milliseconds. A pair read further apart than
    ``CLOCK_PAIR_S`` is read again (a few times at most: the tightest is kept).
    """
    best: tuple[float, float, float] | None = None
    for _ in range(CLOCK_PAIR_TRIES):
        mono = time.monotonic()
        boot = time.clock_gettime(time.CLOCK_BOOTTIME)
        gap = time.monotonic() - mono
        if best is None or gap < best[0]:
            best = (gap, mono, boot)
        if gap <= CLOCK_PAIR_S:
            break
    assert best is not None
    return ClockReading(datetime.now(UTC), best[1], best[2], clock_synchronized())


ANCHOR_BYTES = 512  # the record is padded to this, so a shorter one overwrites a longer


class ClockAnchor:
    """The last clock check, kept in a small file: trusted wall, ``CLOCK_BOOTTIME``, boot id.

    Within one boot, it says what the wall clock should read now, so a clock moved
    while the daemon was down is caught at start. It only has to survive the
    daemon, not the machine (after a reboot the boot id differs and it is not
    used that way), so it is written without fsync: no disk wait, no wake-up.
    """

    def __init__(self, path: Path, boot: str) -> None:
        self.path = path
        self.boot = boot
        self._fd = -1

    def load(self) -> tuple[ClockReading | None, datetime | None]:
        """(the last check of this boot, or None; the last trusted wall of any boot)."""
        try:
            data = json.loads(self.path.read_bytes().strip() or b"null")
            wall = datetime.fromisoformat(str(data["wall"]))
            if wall.tzinfo is None:
                return None, None
            if data.get("boot_id") != self.boot:
                return None, wall
            return ClockReading(wall, float(data["mono"]), float(data["boot"])), wall
        except (OSError, ValueError, KeyError, TypeError):
            return None, None

    def save(self, reading: ClockReading, trusted_wall: datetime) -> None:
        """One ``pwrite`` over the same bytes of an open file: no rename, no disk wait."""
        data = json.dumps({"boot_id": self.boot, "wall": trusted_wall.isoformat(),
                           "boot": reading.boot, "mono": reading.mono}).encode()
        try:
            if self._fd < 0:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
                                   | os.O_NOFOLLOW, 0o600)
            os.pwrite(self._fd, data.ljust(ANCHOR_BYTES), 0)
        except OSError as exc:
            log.warning("could not keep the clock anchor in %s: %s", self.path, exc)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return "unknown"


def sd_notify(message: str) -> None:
    """Tell systemd (``READY=1``, ``STATUS=...``, ``WATCHDOG=1``); quiet without systemd.

    Never waits: a supervisor that stops reading fills its queue, and a blocking send
    would then stop the daemon's event loop for good. The message is dropped instead.
    """
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.sendto(message.encode(), address)


def watchdog_interval() -> float | None:
    """Half of ``WATCHDOG_USEC``, in seconds, when systemd asks for pings."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000


def notify_desktop(account: Account, title: str, body: str, urgency: str) -> None:
    """Best effort: ``notify-send`` as the child on their session bus, never waited for here."""
    tool = shutil.which("notify-send")
    bus = f"/run/user/{account.uid}/bus"
    if tool is None or not os.path.exists(bus):
        return
    task = asyncio.ensure_future(_notify(account, [tool, "--app-name=Shepherd",
                                                   f"--urgency={urgency}", title, body], bus))
    _notifying.add(task)
    task.add_done_callback(_notifying.discard)


_notifying: set[asyncio.Future[None]] = set()


async def _notify(account: Account, args: list[str], bus: str) -> None:
    env = {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={bus}", "HOME": account.home,
           "PATH": "/usr/bin:/bin"}
    as_other = account.uid != os.getuid()
    try:
        process = await asyncio.create_subprocess_exec(
            *args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
            user=account.uid if as_other else None, group=account.gid if as_other else None,
            extra_groups=[] if as_other else None)
    except OSError as exc:
        log.debug("no desktop notification: %s", exc)
        return
    for_program(process.pid)  # the child's tool, at the child's priority, not the daemon's
    try:
        await within(process.wait(), 10)
    except TimeoutError:
        process.kill()
        await process.wait()
