"""Child processes: spawn as a user with a clean environment, watch, stop the whole tree.

Owns the two launch backends of SPEC §4 behind one interface, ``LaunchBackend``:
direct process trees (user mode, tests, no systemd) and systemd transient units
(system mode when systemd runs). Must not decide anything: the daemon tells it
what to start and stop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from shepherd.supervisor.account import Account


class LaunchBackend(Protocol):
    name: str

    def spawn(self, session_id: int, command: Sequence[str], account: Account,
              env: dict[str, str], on_empty: Callable[[int], None]) -> dict[str, Any]:
        """Start a session; return how to find it again (kept in the crash snapshot)."""

    def adopt(self, session_id: int, process: dict[str, Any],
              on_empty: Callable[[int], None]) -> bool:
        """Supervise again a session a previous daemon started, if it still lives."""

    def refresh_all(self) -> None:
        """Rescan what each session holds (called at every checkpoint)."""

    async def stop(self, session_id: int, grace: float) -> None:
        """SIGTERM everything in the session, SIGKILL what is left after ``grace``."""
