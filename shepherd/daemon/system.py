"""The daemon's contact with the operating system: clocks, boot id, sd_notify, notifications."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime

from shepherd.engine.clock import ClockReading
from shepherd.supervisor.account import Account

log = logging.getLogger(__name__)

_TIME_ERROR = 5
_STA_UNSYNC = 0x0040


def clock_synchronized() -> bool:
    """True when the kernel says the clock is synchronised (NTP), via ``adjtimex``."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        buffer = ctypes.create_string_buffer(512)  # struct timex, modes = 0: read only
        state = int(libc.adjtimex(buffer))
    except (OSError, AttributeError):
        return False
    status = int.from_bytes(buffer.raw[40:44], "little", signed=True)
    return state != _TIME_ERROR and not status & _STA_UNSYNC


def read_clocks() -> ClockReading:
    return ClockReading(datetime.now(UTC), time.monotonic(),
                        time.clock_gettime(time.CLOCK_BOOTTIME), clock_synchronized())


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return "unknown"


def sd_notify(message: str) -> None:
    """Tell systemd (``READY=1``, ``STATUS=...``, ``WATCHDOG=1``); quiet without systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), address)


def watchdog_interval() -> float | None:
    """Half of ``WATCHDOG_USEC``, in seconds, when systemd asks for pings."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000


def notify_desktop(account: Account, title: str, body: str, urgency: str) -> None:
    """Best effort: ``notify-send`` as the child on their session bus. Never blocks long."""
    tool = shutil.which("notify-send")
    bus = f"/run/user/{account.uid}/bus"
    if tool is None or not os.path.exists(bus):
        return
    env = {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={bus}", "HOME": account.home,
           "PATH": "/usr/bin:/bin"}
    as_other = account.uid != os.getuid()
    try:
        subprocess.Popen([tool, "--app-name=Shepherd", f"--urgency={urgency}", title, body],
                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True,
                         user=account.uid if as_other else None,
                         group=account.gid if as_other else None,
                         extra_groups=[] if as_other else None)
    except OSError as exc:
        log.debug("no desktop notification: %s", exc)
