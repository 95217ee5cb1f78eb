"""Recognising an entry's program from what is known about a process (pure: no I/O).

A policy entry's ``detect`` table names its program four ways; any one matches:

- ``exe``: the process's executable, as the kernel knows it (``/proc/PID/exe``,
  symlinks resolved; the program the dynamic loader was asked to run when that
  is ``ld.so``), compared by path *and* by the file's identity (device and
  inode, from a fresh ``stat`` of the rule's path at each match: a hard link, a
  bind mount in the child's own namespace and a re-pointed symlink are all the
  same file). The strongest evidence: a child cannot make another program run
  from that file. A renamed *copy* is another file (see README); only a copy run
  from memory (``memfd``) is compared byte for byte.
- ``flatpak``: the application id, from the flatpak scope's cgroup name
  (``app-flatpak-<id>-<n>.scope``) or ``/.flatpak-info`` in the process's root.
- ``desktop``: the desktop file id the program was launched from
  (``GIO_LAUNCHED_DESKTOP_FILE``, or the systemd scope/service name desktops give
  a launched app: ``app-[<launcher>-]<id>-<random>.scope``, ``app-<id>@<random>.service``).
- ``cmdline``: a regular expression searched in the arguments joined by spaces,
  by a linear-time engine (``policy.pattern``): a child's long command line costs
  a search in proportion to its length, never a backtracking stall of the loop.

The last three are things a child could imitate (an environment variable, a
scope name, ``argv[0]``). When several entries match, the strongest kind of
evidence wins (exe, flatpak, desktop, cmdline), then the entry written first;
so imitating another entry's desktop id does not take a program out of the
entry its executable names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from shepherd.detect.facts import Needs, ProcessFacts
from shepherd.policy.model import Entry, Policy
from shepherd.policy.pattern import CommandPattern, compile_pattern

KINDS = ("exe", "flatpak", "desktop", "cmdline")  # strongest first
_FLATPAK_SCOPE = re.compile(r"app-flatpak-(?P<id>.+)-\d+\.scope")


@dataclass(frozen=True)
class Match:
    entry: str
    by: str  # which kind of rule matched: exe, flatpak, desktop or cmdline


@dataclass(frozen=True)
class Recognised:
    """A child's process recognised as an entry's program: what the daemon is handed."""

    pid: int
    user: str
    entry: str
    by: str
    exe: str | None = None
    argv: tuple[str, ...] = ()
    fresh: bool = True  # seen as it started (stopped at once if refused), not found later
    start: int = 0      # its start time (ticks after boot): what it forked started later
    cgroup: str = ""    # the cgroup v2 path it was seen in (where it was started)
    # Its program cannot be known (``exe_cut``; or ``argv_cut`` and no rule but a cut
    # ``cmdline`` one knows it): it may be any entry's, so it is refused
    # (review-14-s34c H1: decided as the first entry alone, an allowed one, it became a
    # session of it and ran a refused game; decided as refused when any entry it may be
    # was, it could still run an allowed game past that game's limits, charged to another).
    unknown: str = ""  # "loader" or "command_line": what could not be read


def _unescape(name: str) -> str:
    """systemd escapes unit names (``-`` inside an id is ``\\x2d``)."""
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), name)


def flatpak_of(facts: ProcessFacts) -> str | None:
    """The flatpak application id: the scope flatpak runs it in, else ``/.flatpak-info``."""
    unit = _unescape(facts.unit)
    found = _FLATPAK_SCOPE.fullmatch(unit)
    if found is not None:
        return found.group("id")
    return facts.flatpak_info


def unit_names_app(unit: str, app_id: str) -> bool:
    """True when a desktop's scope or service name for a launched app carries this id."""
    escaped = re.escape(app_id)
    return re.fullmatch(rf"app-(?:[^-]+-)?{escaped}(?:-[^-]+\.scope|@[^.]*\.service|\.service)",
                        _unescape(unit)) is not None


@dataclass(frozen=True)
class _Rules:
    entry: str
    exe: frozenset[str]
    exe_paths: tuple[str, ...]
    cmdline: CommandPattern | None
    flatpak: frozenset[str]
    desktop: tuple[str, ...]


class Recogniser:
    """The policy's ``detect`` rules, compiled once per policy."""

    def __init__(self, policy: Policy, resolve: Callable[[str], str] = str,
                 identify: Callable[[str], tuple[int, int] | None] = lambda _path: None,
                 same_content: Callable[[str, str], bool] = lambda _copy, _path: False
                 ) -> None:
        """``resolve``: where a rule's path really leads (the caller's realpath): the kernel
        names a process's executable by its real path, never by a symlink to it.
        ``identify``: the (device, inode) a rule's path leads to *now* (the caller's
        stat), asked at each match, so an update that re-points a symlink is followed.
        ``same_content``: whether a program run from memory (a memfd, one of the facts'
        ``copies``) is a copy of a rule's file (asked only for those)."""
        self.identify = identify
        self.same_content = same_content
        self.rules = tuple(_compile(e, resolve) for e in policy.entries if e.detect is not None)
        self.needs = Needs(
            exe=any(r.exe for r in self.rules),
            cmdline=any(r.cmdline is not None for r in self.rules),
            flatpak=any(r.flatpak for r in self.rules),
            desktop=any(r.desktop for r in self.rules))

    def matches(self, facts: ProcessFacts) -> list[Match]:
        """Every entry the process is recognised as, the strongest evidence first."""
        found: list[Match] = []
        for kind in KINDS:
            for rules in self.rules:
                if self._matches(rules, kind, facts) and all(m.entry != rules.entry for m in found):
                    found.append(Match(rules.entry, kind))
        return found

    def match(self, facts: ProcessFacts) -> Match | None:
        found = self.matches(facts)
        return found[0] if found else None

    def _matches(self, rules: _Rules, kind: str, facts: ProcessFacts) -> bool:
        if kind == "exe":
            if facts.exe_cut and rules.exe:  # its program cannot be known: fail closed
                return True
            if facts.exe is not None and facts.exe in rules.exe:
                return True
            if facts.exe_id is not None and any(
                    self.identify(path) == facts.exe_id for path in rules.exe_paths):
                return True
            for path, mapped in facts.loaded:  # run by the loader: what it mapped
                if path in rules.exe or (mapped is not None and any(
                        self.identify(rule) == mapped for rule in rules.exe_paths)):
                    return True
            return any(self.same_content(copy, path)
                       for copy in facts.copies for path in rules.exe_paths)
        return _matches(rules, kind, facts)


def _compile(entry: Entry, resolve: Callable[[str], str]) -> _Rules:
    detect = entry.detect
    assert detect is not None
    return _Rules(entry.id, frozenset(detect.exe) | {resolve(path) for path in detect.exe},
                  tuple(detect.exe),
                  compile_pattern(detect.cmdline) if detect.cmdline is not None else None,
                  frozenset(detect.flatpak), detect.desktop)


def _matches(rules: _Rules, kind: str, facts: ProcessFacts) -> bool:
    if kind == "flatpak":
        return bool(rules.flatpak) and flatpak_of(facts) in rules.flatpak
    if kind == "desktop":
        if facts.desktop_file is not None and facts.desktop_file in rules.desktop:
            return True
        return any(unit_names_app(facts.unit, app) for app in rules.desktop)
    if kind == "cmdline":
        if rules.cmdline is None:
            return False
        # Cut (longer than the kernel allows today): it could hide the name; fail closed.
        return facts.argv_cut or rules.cmdline.search(facts.command_line) is not None
    return False
