"""A minimal inotify watcher on the asyncio loop (the kernel tells us; we never poll).

Used for ``cgroup.events``: the kernel reports every change of a cgroup's
``populated`` state as a modification of that file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import struct
from collections.abc import Callable
from pathlib import Path

IN_MODIFY = 0x00000002
IN_IGNORED = 0x00008000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")
log = logging.getLogger(__name__)


class Inotify:
    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = -1
        self._by_wd: dict[int, Callable[[], None]] = {}
        self._by_path: dict[Path, int] = {}

    def _open(self) -> None:
        fd = int(self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC))
        if fd < 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))
        self._fd = fd
        asyncio.get_running_loop().add_reader(fd, self._read)

    def add(self, path: Path, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever the file is modified (until ``remove``)."""
        if self._fd < 0:
            self._open()
        wd = int(self._libc.inotify_add_watch(self._fd, os.fsencode(path), IN_MODIFY))
        if wd < 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), str(path))
        self._by_wd[wd] = callback
        self._by_path[path] = wd

    def remove(self, path: Path) -> None:
        wd = self._by_path.pop(path, None)
        if wd is not None:
            self._by_wd.pop(wd, None)
            self._libc.inotify_rm_watch(self._fd, wd)

    def _read(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        due: list[Callable[[], None]] = []
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size + length
            callback = self._by_wd.get(wd)
            if mask & IN_IGNORED:  # the file is gone (its group removed)
                self._by_wd.pop(wd, None)
                self._by_path = {p: w for p, w in self._by_path.items() if w != wd}
            if callback is not None and callback not in due:
                due.append(callback)
        for callback in due:  # one watch's failure must not leave the others unheard
            try:
                callback()
            except Exception:
                log.exception("a cgroup watch failed to handle its change")

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
        self._by_wd.clear()
        self._by_path.clear()
