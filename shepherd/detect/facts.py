"""What ``/proc`` says about a process, read only as far as the rules need.

The real uid is read first (``/proc/PID/status``): most processes are not a
child's, and nothing more is read about them. Everything here may fail with the
process gone: the answer is then None.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from shepherd.supervisor.proctree import real_uid

__all__ = ["real_uid"]

ENV_DESKTOP = b"GIO_LAUNCHED_DESKTOP_FILE="
MAX_READ = 256 * 1024  # a command line or environment longer than this is cut


@dataclass(frozen=True)
class Needs:
    """Which facts the rules look at (so nothing else is read per process)."""

    exe: bool = False
    cmdline: bool = False
    flatpak: bool = False
    desktop: bool = False

    @property
    def any(self) -> bool:
        return self.exe or self.cmdline or self.flatpak or self.desktop


@dataclass(frozen=True)
class ProcessFacts:
    pid: int
    uid: int                          # the real uid: whose process it is
    start: int = 0                    # start time (ticks after boot): names it across pid reuse
    cgroup: str = ""                  # cgroup v2 path
    exe: str | None = None            # the executable's real path
    argv: tuple[str, ...] = ()
    flatpak_info: str | None = None   # name= in /.flatpak-info of the process's root
    desktop_file: str | None = None   # GIO_LAUNCHED_DESKTOP_FILE's id (no directory, no .desktop)

    @property
    def unit(self) -> str:
        """The last part of the cgroup path: a systemd unit name, for most processes."""
        return self.cgroup.rsplit("/", 1)[-1]

    @property
    def command_line(self) -> str:
        return " ".join(self.argv)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_READ)
    except OSError:
        return None


def start_time(pid: int) -> int | None:
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    try:
        return int(raw[raw.rindex(b")") + 2:].split()[19])
    except (ValueError, IndexError):
        return None


def cgroup_path(pid: int) -> str | None:
    raw = _read(f"/proc/{pid}/cgroup")
    if raw is None:
        return None
    for line in raw.decode(errors="replace").splitlines():
        if line.startswith("0::"):
            return line[3:]
    return ""


def read_facts(pid: int, needs: Needs, uid: int | None = None) -> ProcessFacts | None:
    """The facts the rules need, or None when the process is gone."""
    if uid is None:
        uid = real_uid(pid)
        if uid is None:
            return None
    start, cgroup = start_time(pid), cgroup_path(pid)
    if start is None or cgroup is None:
        return None
    exe: str | None = None
    if needs.exe:
        try:
            exe = os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
        except OSError:
            exe = None  # a kernel thread, or gone
    argv: tuple[str, ...] = ()
    if needs.cmdline:
        raw = _read(f"/proc/{pid}/cmdline") or b""
        argv = tuple(a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0") if a)
    flatpak_info = None
    if needs.flatpak and "app-flatpak-" not in cgroup:
        info = _read(f"/proc/{pid}/root/.flatpak-info")
        if info is not None:
            flatpak_info = _flatpak_name(info)
    desktop_file = None
    if needs.desktop:
        environ = _read(f"/proc/{pid}/environ") or b""
        for item in environ.split(b"\0"):
            if item.startswith(ENV_DESKTOP):
                name = item[len(ENV_DESKTOP):].decode(errors="replace").rsplit("/", 1)[-1]
                desktop_file = name.removesuffix(".desktop")
                break
    return ProcessFacts(pid, uid, start, cgroup, exe, argv, flatpak_info, desktop_file)


def _flatpak_name(info: bytes) -> str | None:
    section = ""
    for line in info.decode(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Application]" and line.startswith("name="):
            return line[len("name="):].strip() or None
    return None
