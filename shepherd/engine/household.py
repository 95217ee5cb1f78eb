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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

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

    def running(self, now: Instant) -> bool:
        return self.ends_by_mono is None or self.ends_by_mono > now.mono

    def unseen_s(self, now: Instant) -> float:
        """Use since its last checkpoint, as this machine reckons it at ``now``."""
        end = now.mono if self.ends_by_mono is None else min(now.mono, self.ends_by_mono)
        return max(end - self.seen_mono, 0.0)

    def remaining_s(self, now: Instant) -> float | None:
        return None if self.ends_by_mono is None else max(self.ends_by_mono - now.mono, 0.0)


@dataclass(frozen=True)
class Household:
    usage: Mapping[tuple[str, str, date], float] = field(default_factory=dict)
    sessions: tuple[RemoteSession, ...] = ()

    def running(self, user: str, now: Instant) -> list[RemoteSession]:
        return [r for r in self.sessions if r.user == user and r.running(now)]
