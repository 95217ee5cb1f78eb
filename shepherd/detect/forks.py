"""A short memory of which process forked which (from the kernel's fork events).

A program can fork and let the process that ran it exit at once (a daemonising
launcher, an ``LD_PRELOAD`` constructor): its exec is seen, but the process is
gone before it is looked at or moved, and the program goes on in a child that
never execs. The memory answers "what did that process fork?" without reading
``/proc`` per fork. Bounded: the oldest forks are forgotten first.
"""

from __future__ import annotations

from collections import deque

REMEMBERED = 4096  # forks; on a busy machine (100 forks a second) some 40 seconds


class _Kids:
    """What one parent forked, oldest first: a list forgotten from the front (the
    oldest fork of all is its parent's oldest), positions counted from its first fork."""

    __slots__ = ("base", "handed", "pids", "start")

    def __init__(self) -> None:
        self.pids: list[int] = []
        self.base = 0  # the position of pids[0]
        self.start = 0  # the position of the oldest fork still remembered
        self.handed = 0  # later siblings handed out up to here (``unlooked_siblings``)

    def since(self, position: int) -> list[int]:
        return self.pids[max(position, self.start) - self.base:]

    def forget_oldest(self) -> None:
        self.start += 1
        dropped = self.start - self.base
        if dropped > 64 and dropped * 2 > len(self.pids):  # trimmed now and then: O(1) a fork
            del self.pids[:dropped]
            self.base = self.start


class ForkMemory:
    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self.order: deque[tuple[int, int]] = deque()
        self.kids: dict[int, _Kids] = {}
        self.parent: dict[int, int] = {}
        self.position: dict[int, int] = {}  # a child's place among its parent's forks
        self.execed: set[int] = set()  # remembered children that ran a program of their own
        # Remembered children found gone or zombies (a zombie never runs again): not read
        # again at each refusal (a child's storm reaped late, 2,500 zombies, session 38);
        # forgotten when the pid is forked again (review-14-s38b F3: kept by its fork's
        # position, another parent's fork of the same pid matched it).
        self.gone: set[int] = set()
        self.steps = 0  # remembered forks gone through by the lookups (tests count them)

    def forked(self, parent: int, child: int) -> None:
        if len(self.order) >= self.size:
            old_parent, old_child = self.order.popleft()
            old = self.kids[old_parent]
            if self.parent.get(old_child) == old_parent and self.position[old_child] == old.start:
                del self.parent[old_child], self.position[old_child]
                self.execed.discard(old_child)
                self.gone.discard(old_child)
            old.forget_oldest()
            if old.start == old.base + len(old.pids):
                del self.kids[old_parent]
        kids = self.kids.setdefault(parent, _Kids())
        self.order.append((parent, child))
        self.parent[child] = parent
        self.position[child] = kids.base + len(kids.pids)
        kids.pids.append(child)
        self.execed.discard(child)  # a new process (the pid may be used again)
        self.gone.discard(child)

    def ran_program(self, pid: int) -> None:
        """The kernel says ``pid`` ran a program (an exec): it is a start of its own."""
        if pid in self.parent:
            self.execed.add(pid)

    def found_gone(self, pid: int) -> None:
        """``pid``, a remembered child, was found gone or a zombie: not handed out again
        as a later sibling until the pid is forked again."""
        if pid in self.parent:
            self.gone.add(pid)

    def descendants(self, pid: int) -> list[int]:
        """What ``pid`` forked, and what those forked, and so on (parents first). A pid
        may have been used again since: the caller checks who each process is."""
        found: list[int] = []
        seen = {pid}
        todo = deque([pid])
        while todo:
            kids = self.kids.get(todo.popleft())
            for child in kids.since(kids.start) if kids is not None else ():
                self.steps += 1
                if child not in seen:
                    seen.add(child)
                    found.append(child)
                    todo.append(child)
        return found

    def _later(self, pid: int, unlooked: bool) -> list[int]:
        parent = self.parent.get(pid)
        kids = self.kids.get(parent) if parent is not None else None
        if kids is None:
            return []
        after = self.position[pid] + 1
        if unlooked:
            after = max(after, kids.handed)
            kids.handed = max(kids.handed, kids.base + len(kids.pids))
        later = kids.since(after)
        self.steps += len(later)
        return [kid for kid in later if kid not in self.execed and kid not in self.gone]

    def later_siblings(self, pid: int) -> list[int]:
        """What ``pid``'s parent forked after it and that never ran a program of its own:
        where a fork with ``CLONE_PARENT`` puts its child (a shell's next command, which
        execs, is a start of its own; the caller checks what each runs)."""
        return self._later(pid, unlooked=False)

    def unlooked_siblings(self, pid: int) -> list[int]:
        """``later_siblings``, less those handed out by an earlier call (for any of the
        parent's forks): each fork is handed out once, so a shell loop of programs gone
        at once and subshells costs what it forked, not that times each start. A
        sibling looked at once needs no second look: it runs what it ran then until it
        execs, and its exec is a start of its own."""
        return self._later(pid, unlooked=True)
