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


class ForkMemory:
    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self.order: deque[tuple[int, int]] = deque()
        self.children: dict[int, list[int]] = {}
        self.parent: dict[int, int] = {}
        self.execed: set[int] = set()  # remembered children that ran a program of their own

    def forked(self, parent: int, child: int) -> None:
        if len(self.order) >= self.size:
            old_parent, old_child = self.order.popleft()
            kids = self.children.get(old_parent)
            if kids is not None:
                if old_child in kids:
                    kids.remove(old_child)
                if not kids:
                    del self.children[old_parent]
            if self.parent.get(old_child) == old_parent:
                del self.parent[old_child]
                self.execed.discard(old_child)
        self.order.append((parent, child))
        self.children.setdefault(parent, []).append(child)
        self.parent[child] = parent
        self.execed.discard(child)  # a new process (the pid may be used again)

    def ran_program(self, pid: int) -> None:
        """The kernel says ``pid`` ran a program (an exec): it is a start of its own."""
        if pid in self.parent:
            self.execed.add(pid)

    def descendants(self, pid: int) -> list[int]:
        """What ``pid`` forked, and what those forked, and so on (parents first). A pid
        may have been used again since: the caller checks who each process is."""
        found: list[int] = []
        seen = {pid}
        todo = [pid]
        while todo:
            for child in self.children.get(todo.pop(0), ()):
                if child not in seen:
                    seen.add(child)
                    found.append(child)
                    todo.append(child)
        return found

    def later_siblings(self, pid: int) -> list[int]:
        """What ``pid``'s parent forked after it and that never ran a program of its own:
        where a fork with ``CLONE_PARENT`` puts its child (a shell's next command, which
        execs, is a start of its own; the caller checks what each runs)."""
        parent = self.parent.get(pid)
        kids = self.children.get(parent, []) if parent is not None else []
        later = kids[kids.index(pid) + 1:] if pid in kids else []
        return [kid for kid in later if kid not in self.execed]
