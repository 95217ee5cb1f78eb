"""The rest of the household, as values: what other machines charged and still run.

Several machines may share one store (SPEC §5). The engine on each machine owns
its own sessions; the others' come in as values, read from the store and
replaced whole whenever it changes:

- ``usage``: what the other machines charged, per (user, entry, quota day);
- ``sessions``: their running sessions, each placed on this machine's monotonic
  clock: ``seen_mono`` is when its machine last checkpointed it (its charged
  use reaches that far), and ``ends_by_mono`` the latest it can run on by its
  machine's last word (its deadline then; None: no limit).

A remote session counts as running until ``ends_by_mono``, and its use since
``seen_mono`` counts as spent on its entry's quotas, as a local session's
uncharged time does. So a machine that goes silent (a partition, a crash) is
assumed to go on using its sessions to the deadline it last announced: nothing
is given away by its silence.

A remote session whose machine last said it was paused (its child away, rule 12)
spends nothing and shares no quota while paused, as a local paused one; it still
counts as running (``max_sessions``) until its machine says it ended. Its machine
tells the household at once when it resumes. Silent while paused (a partition),
it is believed paused: what it then spends is within what a partition can give
away (each machine spending what was left when the link went down).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from shepherd.engine.clock import Instant


@dataclass(frozen=True)
class RemoteSession:
    machine: str
    session_id: int
    user: str
    entry: str
    started_at: datetime
    seen_mono: float
    ends_by_mono: float | None
    pause: Mapping[str, Any] | None = None  # paused at its last word: cause, since

    @property
    def paused(self) -> bool:
        return self.pause is not None

    def running(self, now: Instant) -> bool:
        return self.paused or self.ends_by_mono is None or self.ends_by_mono > now.mono

    def unseen_s(self, now: Instant) -> float:
        """Use since its last checkpoint, as this machine reckons it at ``now``."""
        if self.paused:
            return 0.0
        end = now.mono if self.ends_by_mono is None else min(now.mono, self.ends_by_mono)
        return max(end - self.seen_mono, 0.0)

    def remaining_s(self, now: Instant) -> float | None:
        """Its time left; a paused one's stands still where its machine last said."""
        if self.ends_by_mono is None:
            return None
        if self.paused:
            return max(self.ends_by_mono - self.seen_mono, 0.0)
        return max(self.ends_by_mono - now.mono, 0.0)


@dataclass(frozen=True)
class Household:
    usage: Mapping[tuple[str, str, date], float] = field(default_factory=dict)
    sessions: tuple[RemoteSession, ...] = ()

    def running(self, user: str, now: Instant) -> list[RemoteSession]:
        return [r for r in self.sessions if r.user == user and r.running(now)]
