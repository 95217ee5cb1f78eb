"""Is the child really there? What the child's screen says, from logind over D-Bus.

Owns the source of truth for active time (rule 12 of the engine): the child's
logind sessions on the system bus (``LockedHint``, ``IdleHint`` with
``IdleSinceHintMonotonic``, and ``Active`` for a session switched away from its
seat), followed through ``PropertiesChanged``, ``SessionNew`` and
``SessionRemoved`` signals, never polled (only while the sessions storm, changing
more than ``STORM_SIGNALS`` times a second, are they read once a second instead).
``hints.py`` turns a child's sessions into one ``Presence`` (pure); ``logind.py`` is
the D-Bus client (I/O).

Must not decide anything about accounting: it reports what it sees, and the
engine decides what a lock or an idle means for a session. Where it cannot see,
it says the child is there (fail closed: time is counted).
"""

from shepherd.presence.hints import HERE, Presence, SeatSession, presence_of
from shepherd.presence.logind import LogindWatch

__all__ = ["HERE", "LogindWatch", "Presence", "SeatSession", "presence_of"]
