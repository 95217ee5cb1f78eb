"""Repeated identical refusals, audited once with a count (review-9-s12 M1).

A child's loop of refused launches (a shell ``while`` calling ``shepherd launch``) must not
cost a durable audit row each: the rate limit lets about 100 requests a second through,
which would be millions of rows a day, kept for the audit retention. So the first refusal
of a (child, entry, reason codes, origin, who asked) is audited at once, as before; the
same refusal repeated within ``REFUSAL_WINDOW_S`` after it is only counted, and one row
says how many there were when the window closes, when that child's refusal of that entry
changes, or at a clean stop. A refusal with other reasons, or of another entry, is audited at once.
Programs started outside and stopped are coalesced too (review-14-s17 M1: a child's shell
loop starting a refused game cost a row each, 34 a second, enough to bury the parent's
audit and fill the disk overnight), by their command line: each different one (a way of
starting the game: renamed, through ``env``, ``nohup``...) is audited at once with its pid
and command, up to ``OUTSIDE_KINDS`` of them a minute per child, over all their entries
(then all the rest of each entry are counted together); the same one again is counted,
its row saying how many and the pids of the first ``PIDS_KEPT`` of them. They never close
each other's windows.

A child's own starts (a launch it asked for, a program it started outside) are held to
a rate too (``StartRate``): each start writes a session's records to the store as root
(about 2 KB, kept for the audit's retention), so a loop of launches and stops of an
entry with no quota was a way to fill the state disk. At most ``MOST_STARTS`` in any
``START_WINDOW_S``; the next is refused in words (``too_many_starts``), audited as the
refusals above. A parent's launches are not held. Counted once the quick look passes: a
start whose program then fails to start, or that the store's decision refuses, wrote
its records too, so it counts (the words say "started or tried to start").

The counts live in memory: a crash (or SIGKILL) loses the count of the window it was in,
never the first refusal's own row. Monotonic time only (``mono``): injected in tests.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

REFUSAL_WINDOW_S = 60.0  # repeats of one refusal within this after it are one row with a count
PIDS_KEPT = 20  # of a program started outside and stopped again and again: the pids said
# different command lines started outside audited each, a minute, per child over all
# entries (review-14-s33 M2: 60 per entry was ~190 MB of store a day for each entry with
# a detect rule, a child starting its refused game with a new argument each time)
OUTSIDE_KINDS = 12

MOST_STARTS = 12  # a child's own starts in any START_WINDOW_S (~35 MB of store a day at most)
START_WINDOW_S = 60.0  # (the words say "in the last minute")

# The key's entry for every name that is no entry of the child's: names made up one
# after another are one window, not a row each (review-14-s32 H2: 6.4 MB a minute).
UNKNOWN = "\0unknown"

Key = tuple[str, str, tuple[str, ...], str, str]  # child, entry, reason codes, origin, actor


@dataclass
class Repeats:
    """Repeats of one audited refusal, still to be written as one row."""
    user: str
    entry: str
    actor: str
    data: dict[str, Any]  # the first refusal's audit data (its reasons, its origin)
    opened: float  # mono of the audited refusal
    count: int = 0
    last_wall: str = ""  # when the last repeat was (ISO)
    key: Key = field(default=("", "", (), "", ""))
    pids: list[int] = field(default_factory=list)  # started outside: the repeats' first pids
    # started outside: the repeats' command lines, the first PIDS_KEPT different ones (the
    # ways past OUTSIDE_KINDS share a row: review-14-s17b N3, it named one for all)
    commands: list[list[str]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The audit data of the repeats row: the refusal's own, with how many and when
        (started outside: the repeats' pids, not the first one's)."""
        row = {**self.data, "repeated": self.count, "window_s": int(REFUSAL_WINDOW_S),
               "last": self.last_wall}
        if "pid" in self.data:
            del row["pid"]
            row["pids"] = list(self.pids)
            row.pop("command", None)
            row["commands"] = [list(c) for c in self.commands]
        return row


class RefusalCoalescer:
    """Which refusals to audit now, and which counts of repeats are due to be written."""

    def __init__(self, window_s: float = REFUSAL_WINDOW_S) -> None:
        self.window_s = window_s
        self._open: dict[Key, Repeats] = {}

    def refused(self, key: Key, mono: float, wall: str, *, actor: str,
                data: dict[str, Any], entry: str | None = None) -> tuple[bool, list[Repeats]]:
        """One refusal: whether to audit it now, and the counts to write first (closed
        windows, and this child's other refusal of this entry, which this one replaces;
        a program started outside replaces none: see ``outside_key``)."""
        due = self.due(mono)
        user = key[0]
        if key[3] == "shepherd":
            # (only its own kind: the windows of programs started outside stay open, or a
            # launch between their starts audited each: review-14-s32 H1)
            for other in [k for k in self._open
                          if k[:2] == key[:2] and k[3] == "shepherd" and k != key]:
                done = self._open.pop(other)  # the refusal changed: its repeats told first
                if done.count:
                    due.append(done)
        held = self._open.get(key)
        if held is not None and 0 <= mono - held.opened < self.window_s:
            held.count += 1
            held.last_wall = wall
            pid = data.get("pid")
            if isinstance(pid, int) and len(held.pids) < PIDS_KEPT:
                held.pids.append(pid)
            command = data.get("command")
            if (isinstance(command, list) and command not in held.commands
                    and len(held.commands) < PIDS_KEPT):
                held.commands.append([str(a) for a in command])
            return False, due
        # (its row names ``entry`` where the key holds another: UNKNOWN)
        self._open[key] = Repeats(user, key[1] if entry is None else entry, actor, dict(data),
                                  mono, key=key)
        return True, due

    def outside_key(self, key: Key, command: Sequence[str], mono: float) -> Key:
        """The key of a program started outside: ``key`` with its command line, or,
        past ``OUTSIDE_KINDS`` open for the child (over all entries), with none
        (counted with all the rest)."""
        with_command: Key = (key[0], key[1], key[2], key[3],
                             key[4] + "\0" + "\0".join(command))
        held = self._open.get(with_command)
        if held is not None and 0 <= mono - held.opened < self.window_s:
            return with_command
        kinds = sum(1 for k, r in self._open.items()
                    if k[0] == key[0] and k[3] == key[3] and "\0" in k[4]
                    and 0 <= mono - r.opened < self.window_s)
        return with_command if kinds < OUTSIDE_KINDS else key

    def due(self, mono: float) -> list[Repeats]:
        """The windows that have closed (a clock going backwards closes them too)."""
        closed = [k for k, r in self._open.items() if not 0 <= mono - r.opened < self.window_s]
        out = [self._open.pop(k) for k in closed]
        return [r for r in out if r.count]

    def drain(self) -> list[Repeats]:
        """Every count not yet written (a clean stop)."""
        out = [r for r in self._open.values() if r.count]
        self._open.clear()
        return out


class StartRate:
    """A child's own starts, at most ``most`` in any ``window_s`` (monotonic seconds)."""

    def __init__(self, most: int = MOST_STARTS, window_s: float = START_WINDOW_S) -> None:
        self.most = most
        self.window_s = window_s
        self._starts: dict[str, deque[float]] = {}

    def _recent(self, user: str, mono: float) -> deque[float]:
        starts = self._starts.get(user, deque())
        while starts and not 0 <= mono - starts[0] < self.window_s:
            starts.popleft()
        return starts

    def next_start(self, user: str, mono: float) -> float | None:
        """None: ``user`` may start now; else the moment (mono) the next start may come."""
        starts = self._recent(user, mono)
        return starts[0] + self.window_s if len(starts) >= self.most else None

    def started(self, user: str, mono: float) -> None:
        """A start of ``user``'s let through (and everyone's old starts forgotten)."""
        for other in list(self._starts):
            if not self._recent(other, mono):
                del self._starts[other]
        self._starts.setdefault(user, deque()).append(mono)

    def users(self) -> list[str]:
        return sorted(self._starts)
