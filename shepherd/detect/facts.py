"""What ``/proc`` says about a process, read only as far as the rules need.

The real uid is read first (``/proc/PID/status``): most processes are not a
child's, and nothing more is read about them. Everything here may fail with the
process gone: the answer is then None. A process whose main thread has exited
while another runs is running: what it runs is read through that thread
(``proctree.task_dir``).
"""

from __future__ import annotations

import itertools
import os
import re
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache

from shepherd.supervisor.proctree import (
    READ_STARVED,
    live_thread,
    read_bytes,
    real_uid,
    task_dir,
)

__all__ = ["real_uid"]

ENV_DESKTOP = b"GIO_LAUNCHED_DESKTOP_FILE="
MAX_READ = 256 * 1024  # an environment (or other file) longer than this is cut
# A command line is read only as far as the rules need (review 14 s10 H1: a child's
# processes with 6 MiB of arguments each, read whole and decoded into a tuple of
# 600,000 strings on every program start, held the daemon's loop for minutes):
# - a ``cmdline`` rule searches its first MAX_CMDLINE bytes (RE2, linear time and no
#   captures: about a millisecond for 128 KiB with any pattern measured). A longer one is
#   cut and matches every cmdline rule: fail closed (padding could push the game's name
#   out of what is searched);
# - an ``exe`` rule needs the command line only when the executable is the dynamic
#   loader (the program it runs is an argument): its first EXE_ARGS_READ bytes, then at
#   most MAX_CMDLINE when the program is not named in those.
MAX_CMDLINE = 128 * 1024
EXE_ARGS_READ = 4096
ARGS_KEPT = 64  # arguments kept in the facts (the audit and the log show 32 at most)


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
    exe: str | None = None            # the executable's real path (the program ld.so runs)
    exe_id: tuple[int, int] | None = None  # its (st_dev, st_ino): a bind mount or hard link
    # Run from memory (``memfd_create``): the files in ``/proc`` through which each such
    # program's bytes are read, to be compared with the rules' files: its ``exe`` (and
    # ``execve``), or, run by the loader, each memfd it mapped (``map_files``: the loader
    # runs ``/proc/self/fd/N`` even where ``vm.memfd_noexec = 2`` stops an ``execve`` of
    # it; its ``exe`` is the loader, review-14-s36b H-A).
    copies: tuple[str, ...] = ()
    argv: tuple[str, ...] = ()  # its first ARGS_KEPT arguments (all of them for a test's facts)
    flatpak_info: str | None = None   # name= in /.flatpak-info of the process's root
    desktop_file: str | None = None   # GIO_LAUNCHED_DESKTOP_FILE's id (no directory, no .desktop)
    argv_cut: bool = False  # its command line was longer than MAX_CMDLINE (matches any cmdline)
    line: str | None = None  # the arguments joined by spaces, as read (None: from argv)
    exe_cut: bool = False  # the loader runs a program not named in time (matches any exe)
    # Read in the middle of an exec, as far as can be told: its new program shown with no
    # command line, or with the one it had before (its exec event comes when the exec is
    # over). A process can also empty its own command line (``PR_SET_MM_MAP``, no
    # privilege needed) and look so for good: ``in_exec`` is never a reason to look away.
    in_exec: bool = False
    # Run by the dynamic loader: the files it has mapped to run (the loader's own left
    # out), each with its identity. What its command line says can be rewritten after
    # the loader read it (``/proc/PID/mem``, by its parent of the same uid: review-14-s34
    # H1); what it has mapped cannot be. Exe rules match any of them. (Read as it starts,
    # at its exec's looks, and at each look of a scan: a program that maps a game's file
    # later is not seen, review-14-s34b L1, as a launcher loading a game is not.)
    loaded: tuple[tuple[str, tuple[int, int] | None], ...] = ()
    # Run by the loader, no program mapped yet (its first moments): looked at again soon.
    loading: bool = False

    @property
    def unit(self) -> str:
        """The last part of the cgroup path: a systemd unit name, for most processes."""
        return self.cgroup.rsplit("/", 1)[-1]

    @property
    def command_line(self) -> str:
        """The arguments joined by spaces (empty ones left out): what cmdline rules search."""
        return " ".join(self.argv) if self.line is None else self.line


def shown_command(argv: tuple[str, ...], count: int = 32, width: int = 256) -> list[str]:
    """A command line as the audit and the log show it: its first ``count`` arguments,
    each cut at ``width`` characters (a child writes it: up to 6 MiB)."""
    return [a if len(a) <= width else a[:width] + "…" for a in argv[:count]]


def _read(path: str, limit: int = MAX_READ) -> bytes | None:
    """The file's first ``limit`` bytes; None when it cannot be read (the process is
    gone, or not ours to read). Out of descriptors or memory: raised, never "gone"."""
    try:
        return read_bytes(path, limit)
    except OSError as exc:
        if exc.errno in READ_STARVED:
            raise
        return None


def _read_on(path: str, limit: int) -> bytes | None:
    """Like ``_read``, reading on to the end (or ``limit``): a file of rows (``maps``) is
    given a few whole rows at a time, never on a page's edge, and ``_read`` took its
    first ones for all of it (review-14-s34b: the rows past the first 4 KiB unseen)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in READ_STARVED:
            raise
        return None
    try:
        chunks: list[bytes] = []
        got = 0
        while got < limit:
            chunk = os.read(fd, min(limit - got, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        if exc.errno in READ_STARVED:
            raise
        return None
    finally:
        os.close(fd)


def launch_marks(pid: int, needs: Needs) -> int:
    """A digest of what a program is run with that the rules read and that an exec of
    the same executable may change: its command line (and environment, for desktop
    rules). Another value: the process runs something else."""
    where = f"/proc/{pid}"
    cmdline = _read(f"{where}/cmdline", MAX_CMDLINE + 1) if needs.cmdline else None
    environ = _read(f"{where}/environ") if needs.desktop else None
    return hash((cmdline, environ))


def start_time(pid: int) -> int | None:
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    try:
        return int(raw[raw.rindex(b")") + 2:].split()[19])
    except (ValueError, IndexError):
        return None


def seconds_since(start: int) -> float:
    """How long ago a process with this start time (ticks after boot, from
    ``/proc/PID/stat``) started: ``CLOCK_BOOTTIME``, the clock that start time counts in
    (suspend included). 0 for an unknown start (0)."""
    if start <= 0:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return max(time.clock_gettime(time.CLOCK_BOOTTIME) - start / ticks, 0.0)


def running_since(pid: int) -> int | None:
    """The start time of a process that runs (None when it is gone or a zombie). One
    whose main thread exited while another thread runs is running."""
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    try:
        fields = raw[raw.rindex(b")") + 2:].split()
        if fields[0] in (b"Z", b"X") and live_thread(pid) is None:
            return None
        return int(fields[19])
    except (ValueError, IndexError):
        return None


def has_program(pid: int) -> bool:
    """True while the process has a program: its executable can be read. A process in
    the middle of its exit (its memory released, not a zombie yet), a zombie and a gone
    one have none (also false for a process whose executable we may not read: a
    non-dumpable one of another account, when we are not root)."""
    try:
        os.readlink(f"/proc/{pid}/exe")
    except OSError:
        where = task_dir(pid)  # its main thread may have exited while another runs
        if where == f"/proc/{pid}":
            return False
        try:
            os.readlink(f"{where}/exe")
        except OSError:
            return False
    return True


def cgroup_path(pid: int | str) -> str | None:
    """The cgroup v2 path of ``/proc/<pid>`` (a pid, or ``PID/task/TID``)."""
    raw = _read(f"/proc/{pid}/cgroup")
    if raw is None:
        return None
    for line in raw.decode(errors="replace").splitlines():
        if line.startswith("0::"):
            return line[3:]
    return ""


def read_facts(pid: int, needs: Needs, uid: int | None = None,
               with_cgroup: bool = True) -> ProcessFacts | None:
    """The facts the rules need, or None when the process is gone (or a zombie).
    ``with_cgroup=False``: its cgroup is read only when a rule needs it (flatpak,
    desktop), else left empty (``in_cgroup`` reads it for a process a rule matched)."""
    if uid is None:
        uid = real_uid(pid)
        if uid is None:
            return None
    raw = _read(f"/proc/{pid}/stat")  # read once: its start, and whether its leader runs
    if raw is None:
        return None
    try:
        fields = raw[raw.rindex(b")") + 2:].split()
        start, leader_runs = int(fields[19]), fields[0] not in (b"Z", b"X")
    except (ValueError, IndexError):
        return None
    # A zombie is gone; a process whose main thread exited while another runs is read
    # through that thread (``task_dir``).
    if not leader_runs and live_thread(pid) is None:
        return None
    where = f"/proc/{pid}" if leader_runs else task_dir(pid)
    cgroup = ""
    if with_cgroup or needs.flatpak or needs.desktop:
        found = cgroup_path(where.removeprefix("/proc/"))
        if found is None:
            return None
        cgroup = found
    exe: str | None = None
    exe_id: tuple[int, int] | None = None
    exe_cut = False
    argv: tuple[str, ...] = ()
    line: str | None = None
    cut = False
    in_exec = False
    if needs.cmdline or needs.exe:
        limit = MAX_CMDLINE + 1 if needs.cmdline else EXE_ARGS_READ
        # The executable before and after the command line: the same, and a command line
        # there, and the two were read of one program; else it is said (``in_exec``), not
        # read again here (review-14-s33 H1: read again after a yield, a child's processes
        # with an emptied line handed the daemon's CPU to its busy loops at each look).
        before = _link(where) if needs.exe else None
        raw = _read(f"{where}/cmdline", limit) or b""
        after = _link(where) if needs.exe or not raw else None
        in_exec = after is not None and (not raw or (needs.exe and after != before))
        if needs.cmdline:
            cut = len(raw) > MAX_CMDLINE
            line = "" if cut else joined(raw)  # a cut line matches every cmdline rule
        if len(raw) >= limit and b"\0" in raw:  # more to come: the last one read may be cut
            raw = raw[:raw.rfind(b"\0") + 1]
        argv = first_arguments(raw, ARGS_KEPT)
    loaded: tuple[tuple[str, tuple[int, int] | None], ...] = ()
    loading = False
    copies: tuple[str, ...] = ()
    if needs.exe:
        exe, exe_id, exe_cut, by_loader = _executable(where, argv, after)
        if by_loader:
            loaded, maps_cut, copies = mapped_programs(where)
            loading = not loaded and not maps_cut
            exe_cut = exe_cut or maps_cut  # (its mappings past what is read: fail closed)
            if loaded and (exe is None or is_loader(exe, exe_id)
                           or all(path != exe and (exe_id is None or mapped != exe_id)
                                  for path, mapped in loaded)):
                # Its line names no program, or one it has not mapped (the loader maps its
                # program before anything else: the line was rewritten after the loader
                # read it, review-14-s36 H1, naming an earlier entry's program, an allowed
                # one, it ran as that entry's session): what it mapped is its program (a
                # library's name last).
                exe, exe_id = min(loaded, key=lambda item: ".so" in os.path.basename(item[0]))
            in_memory = [(path, mapped) for path, mapped in loaded if path.startswith(MEMFD)]
            if in_memory:
                # A copy in memory it mapped to run (``ld.so /proc/self/fd/N``, the memfd
                # named by its own pid, named like a library so that a library was taken
                # for its program, or its line rewritten to name one it maps anyway once
                # the loader had opened the memfd: review-14-s37 H-1): an exact copy is
                # found by its content (``copies``), a changed one cannot be known, and
                # the loader maps it even where ``vm.memfd_noexec = 2`` stops an
                # ``execve`` of it (review-14-s36b H-A): a program that cannot be known,
                # named by that copy (a parent is never told it ran libc).
                exe, exe_id = in_memory[0]
                exe_cut = True
            in_exec = in_exec or loading
        # Not a deleted file: an exact copy in a file is the "renamed copy" case, and a
        # program whose file was replaced by an update must not be compared for it.
        if not by_loader and exe is not None and exe.startswith(MEMFD):
            copies = (f"{where}/exe",)
    flatpak_info = None
    if needs.flatpak and "app-flatpak-" not in cgroup:
        info = _read(f"{where}/root/.flatpak-info")
        if info is not None:
            flatpak_info = _flatpak_name(info)
    desktop_file = None
    if needs.desktop:
        environ = b"\0" + (_read(f"{where}/environ") or b"")  # found, never split whole
        at = environ.find(b"\0" + ENV_DESKTOP)
        if at >= 0:
            value = environ[at + 1 + len(ENV_DESKTOP):].split(b"\0", 1)[0]
            name = value.decode(errors="replace").rsplit("/", 1)[-1]
            desktop_file = name.removesuffix(".desktop")
    return ProcessFacts(pid, uid, start, cgroup, exe, exe_id, copies, argv, flatpak_info,
                        desktop_file, cut, line, exe_cut, in_exec, loaded, loading)


def mapped_programs(where: str) -> tuple[tuple[tuple[str, tuple[int, int] | None], ...],
                                         bool, tuple[str, ...]]:
    """The files a process run by the dynamic loader has mapped to run (executable
    mappings in ``/proc/PID/maps``), the loader's own left out, each with its identity
    (through ``map_files``, the very file mapped, where this process may read it; else
    through the process's root): its program and the libraries it uses. And True when
    its mappings are more than ``MAX_READ`` bytes of rows: what it maps later is listed
    first (below the rest), so thousands of small mappings could push its program out
    of what is read (review-14-s34b H2); it is then taken to run any program. And the
    ``map_files`` through which each of those that is a memfd is read (``copies``)."""
    raw = _read_on(f"{where}/maps", MAX_READ + 1)
    if raw is None:
        return (), False, ()
    if len(raw) > MAX_READ:
        return (), True, ()
    loader = identity(f"{where}/exe")
    found: dict[str, tuple[int, int] | None] = {}
    copies: list[str] = []
    for row in raw.split(b"\n"):
        fields = row.split(None, 5)
        if len(fields) < 6 or b"x" not in fields[1] or not fields[5].startswith(b"/"):
            continue
        path = fields[5].decode(errors="replace").removesuffix(" (deleted)")
        if path in found:
            continue
        mapping = f"{where}/map_files/{fields[0].decode()}"
        mapped = identity(mapping)
        if mapped is None:
            mapped = identity(f"{where}/root{path}")
        if mapped is not None and mapped == loader:
            continue
        found[path] = mapped
        if path.startswith(MEMFD):
            copies.append(mapping)
    return tuple(found.items()), False, tuple(copies)


def read_again(facts: ProcessFacts, needs: Needs) -> ProcessFacts | None:
    """The facts of the same process read once more: said ``in_exec`` when they differ
    (a process in its exec can read as its new program with its old command line, the
    executable the same before and after: review-14-s33 M1, 1 read in 38,799 at load);
    None when it is gone (or its pid another process's)."""
    again = read_facts(facts.pid, needs, facts.uid, with_cgroup=False)
    if again is None or again.start != facts.start:
        return None
    if (again.exe, again.argv, again.line) != (facts.exe, facts.argv, facts.line):
        return replace(again, in_exec=True)
    return replace(again, cgroup=facts.cgroup)


def in_cgroup(facts: ProcessFacts) -> ProcessFacts | None:
    """The facts with the process's cgroup (read now when it was left out: ``read_facts``
    with ``with_cgroup=False``); None when the process is gone."""
    if facts.cgroup:
        return facts
    cgroup = cgroup_path(task_dir(facts.pid).removeprefix("/proc/"))
    return None if cgroup is None else replace(facts, cgroup=cgroup)


def first_arguments(raw: bytes, count: int) -> tuple[str, ...]:
    """The first ``count`` non-empty arguments of a command line as ``/proc`` gives it
    (NUL-separated): split no further than needed, whatever its length."""
    return tuple(itertools.islice(_arguments(raw), count))


def joined(raw: bytes) -> str:
    """A command line's arguments joined by spaces, empty ones left out (as a shell
    shows it): bytes replaced in one pass, never a string per argument."""
    raw = raw.strip(b"\0")
    if b"\0\0" in raw:
        raw = _EMPTY_ARGUMENTS.sub(b"\0", raw)
    return raw.replace(b"\0", b" ").decode(errors="replace")


_EMPTY_ARGUMENTS = re.compile(rb"\0{2,}")


COMPARED_AT_MOST = 512 * 1024 * 1024  # bytes: a larger copy is not read through
_CHUNK = 1024 * 1024


MEMFD = "/memfd:"  # how /proc names a file made by memfd_create


def same_content(copy: str, path: str) -> bool:
    """True when ``copy`` (a program run from memory, through ``/proc``: ``copies``) is a
    byte-for-byte copy of the file at ``path`` (sizes first: a different size is
    answered without reading)."""
    try:
        with open(copy, "rb") as ours, open(path, "rb") as theirs:
            size = os.fstat(ours.fileno()).st_size
            if size != os.fstat(theirs.fileno()).st_size or size > COMPARED_AT_MOST:
                return False
            while True:
                chunk = ours.read(_CHUNK)
                if chunk != theirs.read(_CHUNK):
                    return False
                if not chunk:
                    return True
    except OSError:
        return False


def identity(path: str) -> tuple[int, int] | None:
    """A file's (st_dev, st_ino), symlinks followed; None when there is none."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _link(where: str) -> str | None:
    """What ``/proc/PID/exe`` names (None: a kernel thread, or gone)."""
    try:
        return os.readlink(f"{where}/exe")
    except OSError:
        return None


def _executable(where: str, argv: tuple[str, ...], link: str | None
                ) -> tuple[str | None, tuple[int, int] | None, bool, bool]:
    """The program the process runs: its path, its file's identity, True when it
    cannot be known (the dynamic loader, its program not named in the first
    ``MAX_CMDLINE`` bytes of its command line: it matches every exe rule, fail closed),
    and True when the kernel ran the dynamic loader (what it mapped is read then:
    ``mapped_programs``).

    ``/proc/PID/exe`` names the file the kernel ran. When that is the dynamic loader
    (``ld.so GAME``: the loader maps the game itself, the kernel never sees it), the
    program is the loader's first argument that is not one of its options, found
    through the process's own root and working directory (its mount namespace's
    view, so a path only it can see still leads to the file). ``where``: the process's
    directory in ``/proc`` (``task_dir``); ``argv``: its first arguments, and ``link``:
    what its ``exe`` names, as read."""
    if link is None:
        return None, None, False, False  # a kernel thread, or gone
    exe = link.removesuffix(" (deleted)")
    exe_id = identity(f"{where}/exe")
    if not is_loader(exe, exe_id):
        return exe, exe_id, False, False
    program, decided = _loaded(iter(argv[1:]))
    if not decided:  # more options than were read: read on, as far as a cmdline rule would
        raw = _read(f"{where}/cmdline", MAX_CMDLINE + 1) or b""
        cut = len(raw) > MAX_CMDLINE
        if cut:  # its last argument may be cut short: not taken for a path
            raw = raw[:raw.rfind(b"\0", 0, MAX_CMDLINE) + 1]
        words = _arguments(raw)
        next(words, None)  # the loader's own name
        program, decided = _loaded(words)
        if not decided and cut:
            return exe, exe_id, True, True
    if program is None:
        return exe, exe_id, False, True
    if not program.startswith("/"):
        try:
            program = os.path.join(os.readlink(f"{where}/cwd"), program)
        except OSError:
            return exe, exe_id, False, True
    program = os.path.normpath(program)
    return program, identity(f"{where}/root{program}"), False, True


def _arguments(raw: bytes) -> Iterator[str]:
    """A command line's non-empty arguments, one at a time (a child may write 600,000)."""
    start = 0
    while start < len(raw):
        end = raw.find(b"\0", start)
        if end < 0:
            end = len(raw)
        if end > start:
            yield raw[start:end].decode(errors="replace")
        start = end + 1


# ld.so's options that take a value (glibc's and musl's); the program is the first other word.
_LOADER_VALUE_OPTIONS = frozenset({"--library-path", "--glibc-hwcaps-prepend",
                                   "--glibc-hwcaps-mask", "--inhibit-rpath", "--audit",
                                   "--preload", "--argv0"})
LOADER_NAME = re.compile(r"ld-linux[^/]*\.so[^/]*|ld-musl-[^/]*|ld(?:64)?\.so(?:\.[0-9]+)*")


# ld.so's options after which it only reports (the program is not run).
_LOADER_REPORTS = frozenset({"--list", "--verify", "--help", "--version", "--list-tunables",
                             "--list-diagnostics"})


def loaded_program(argv: tuple[str, ...]) -> str | None:
    """The program named in a command line that starts with the dynamic loader (None
    when there is none, or the loader only reports on it: ``--list``, ``--verify``)."""
    return _loaded(iter(argv[1:]))[0]


def _loaded(words: Iterator[str]) -> tuple[str | None, bool]:
    """The program named in the loader's arguments, and whether they said (a program,
    or an option after which it only reports); (None, False): they ran out first."""
    for word in words:
        if word in _LOADER_REPORTS:
            return None, True
        if word == "--":
            return next(words, None), True
        if not word.startswith("--"):
            return word, True
        if word in _LOADER_VALUE_OPTIONS and next(words, None) is None:
            break
    return None, False


def is_loader(exe: str, exe_id: tuple[int, int] | None) -> bool:
    """True when the executable is a dynamic loader: the one ``/bin/sh`` names as its ELF
    interpreter (by path or identity), or a file named like one (ld-linux*, ld-musl*)."""
    path, identity = system_loader()
    if exe == path or (exe_id is not None and exe_id == identity):
        return True
    return LOADER_NAME.fullmatch(os.path.basename(exe)) is not None


@cache
def system_loader() -> tuple[str | None, tuple[int, int] | None]:
    """The dynamic loader's real path and identity, from ``/bin/sh``'s ELF interpreter."""
    interp = elf_interpreter("/bin/sh")
    if interp is None:
        return None, None
    return os.path.realpath(interp), identity(interp)


def elf_interpreter(path: str) -> str | None:
    """The ``PT_INTERP`` of an ELF file (its dynamic loader), or None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
            if len(head) < 52 or head[:4] != b"\x7fELF":
                return None
            wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
            if wide:
                phoff, = struct.unpack_from(order + "Q", head, 32)
                phentsize, phnum = struct.unpack_from(order + "HH", head, 54)
            else:
                phoff, = struct.unpack_from(order + "I", head, 28)
                phentsize, phnum = struct.unpack_from(order + "HH", head, 42)
            for n in range(min(phnum, 64)):
                handle.seek(phoff + n * phentsize)
                ph = handle.read(phentsize)
                if len(ph) < (56 if wide else 32) or struct.unpack_from(order + "I", ph)[0] != 3:
                    continue
                if wide:
                    offset, size = struct.unpack_from(order + "Q", ph, 8)[0], \
                        struct.unpack_from(order + "Q", ph, 32)[0]
                else:
                    offset, size = struct.unpack_from(order + "I", ph, 4)[0], \
                        struct.unpack_from(order + "I", ph, 16)[0]
                handle.seek(offset)
                return handle.read(min(size, 4096)).rstrip(b"\0").decode(errors="replace")
    except (OSError, struct.error):
        return None
    return None


def _flatpak_name(info: bytes) -> str | None:
    section = ""
    for line in info.decode(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Application]" and line.startswith("name="):
            return line[len("name="):].strip() or None
    return None
