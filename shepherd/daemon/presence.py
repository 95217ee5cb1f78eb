"""The daemon's end of the presence source: which children to watch, and the watch's life.

The logind watch (``shepherd.presence``) reports what each child's screen says;
this module starts it when the policy counts active time somewhere, follows
policy reloads, and hands every report to the daemon's typed commands
(``child_presence``, ``presence_problem``), which decide with the engine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from shepherd.policy import Policy
from shepherd.presence import LogindWatch, Presence
from shepherd.supervisor.account import Account

log = logging.getLogger("shepherd.daemon")


def counts_active(policy: Policy) -> bool:
    """Does any entry count only active time (so the screen must be watched)?"""
    return any(policy.counts_active(e) for e in policy.entries)


def children(policy: Policy, user_mode: bool, child: str | None) -> dict[str, int]:
    """Login name → uid of the children to watch. User mode: the invoking user plays one."""
    if user_mode:
        return {child: os.getuid()} if child is not None else {}
    found: dict[str, int] = {}
    for user in policy.users:
        try:
            found[user.name] = Account.lookup(user.name).uid
        except KeyError:
            continue  # no such account here: it cannot be at the screen either
    return found


class PresenceFeed:
    """Owns the ``LogindWatch`` while the policy needs one."""

    def __init__(self, on_change: Callable[[str, Presence], None],
                 on_problem: Callable[[str | None], None], on_wake: Callable[[], None],
                 user_mode: bool, child: str | None) -> None:
        self._on_change = on_change
        self._on_problem = on_problem
        self._on_wake = on_wake
        self._user_mode = user_mode
        self._child = child
        self.watch: LogindWatch | None = None

    @property
    def problem(self) -> str | None:
        """Why active time cannot be seen (None: it can, or it is not asked for)."""
        return self.watch.problem if self.watch is not None else None

    async def follow(self, policy: Policy) -> None:
        """Start watching when the policy first asks for it; then follow its children."""
        if not counts_active(policy):
            return
        watched = children(policy, self._user_mode, self._child)
        if self.watch is not None:
            self.watch.set_children(watched)
            return
        self.watch = LogindWatch(watched, self._on_change, self._on_problem, self._on_wake)
        if await self.watch.start():
            log.info("presence: following %d child(ren)'s sessions through logind",
                     len(watched))

    async def close(self) -> None:
        if self.watch is not None:
            await self.watch.close()
