"""The store seam: what the daemon asks of a store, and how the writer keeps one open.

Two backends implement it: the embedded SQLite file (``store.py``, one machine)
and the household's PostgreSQL database (``shepherd.store.household``, several
machines sharing one budget). The daemon talks only to ``StateStore`` through
``StoreWriter``; the writer talks to a ``StoreBackend`` to open, check, heal and
side-connect to it. Every ``StateStore`` method is one transaction (or joins the
caller's ``batch()``), and runs on the writer's thread or a side thread — never
on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from shepherd.store.audit import AuditFilter, AuditPage, VerifyResult

Parts = Sequence[tuple[date, float]]


class Checkpoint(NamedTuple):
    """One running session at a checkpoint: what it used since the last one, where it is."""

    session_id: int
    parts: Parts  # (quota day, seconds) charged since the last checkpoint
    charged_mono: float  # the monotonic reading it is charged up to
    lease_day: date  # where the second charged ahead goes
    fired: tuple[int, ...]  # warning thresholds already issued
    paused_s: float = 0.0  # its clock stood still this long so far (rule 12)
    # it ran past its deadline this long up to ``charged_mono``, not charged (rule 6)
    past_deadline_s: float = 0.0


CheckpointRow = Checkpoint | tuple[Any, ...]  # a Checkpoint, or its fields in order

# One grant as recorded: user, target, day, seconds (signed), expires_at (None: for its
# day, taken back or set), week, expiry_noted, paid_s (what it paid, noted at its expiry).
# (user, target, day, seconds, expires_at, week, expiry noted, paid_s, aside_s, beyond_s)
GrantRecordRow = tuple[str, str, date, int, datetime | None, bool, bool, float | None, int,
                       int]


@dataclass(frozen=True)
class TimedGrantRow:
    """Time added that stops counting at ``expires_at`` (``week``: usable on any day of
    its week until then)."""

    id: int
    user: str
    target: str
    day: date
    seconds: int
    expires_at: datetime
    week: bool
    paid_s: float | None = None  # what it paid for, noted when it expired (None: unknown)
    used_before_s: float | None = None  # its target's use that day when it was given
    signed_after_s: int = 0  # the net of its day's take-backs and sets made after it
    # of time given until a moment, its day's use its own time had not paid for when it
    # was given (TimedGrant.beyond_before, ledger11b); 0 on an older row
    beyond_before_s: float = 0.0


@dataclass(frozen=True)
class Accounting:
    """What the engine needs at start: usage, cooldowns, grants and locks.

    A household store gives this machine's own usage here; the other machines'
    is in ``HouseholdView``.
    """

    usage: dict[tuple[str, str, date], float]
    cooldowns: dict[tuple[str, str], datetime]
    grants: dict[tuple[str, str, date], int]  # for their day (no expiry of their own)
    locked: set[str]
    timed_grants: tuple[TimedGrantRow, ...] = ()  # --until a time, or for the week
    expiries_noted: frozenset[int] = frozenset()  # timed grants whose expiry is audited
    # of ``grants``, the week's time sets set aside for their day (Engine.aside)
    aside: dict[tuple[str, str, date], int] = field(default_factory=dict)
    # per day, the use its own time had not paid for when it last changed (Engine.beyond)
    beyond: dict[tuple[str, str, date], int] = field(default_factory=dict)
    # per day, of its time added for today what was used when a take-back or a set last
    # cut it (Engine.kept, low17)
    kept: dict[tuple[str, str, date], int] = field(default_factory=dict)
    # per day, what its words raised and took of its own time as its last row left it:
    # (raised, took, week), grants.py DayRaises (Engine.raises)
    raises: dict[tuple[str, str, date], tuple[int, int, int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class SnapshotRow:
    """A session that was running at the last checkpoint."""

    session_id: int
    user: str
    entry: str
    started_at: datetime
    boot_id: str
    started_mono: float
    charged_mono: float
    extension_s: int
    fired: tuple[int, ...]
    process: dict[str, Any]
    lease_day: date | None = None
    lease_s: float = 0.0
    paused_s: float = 0.0  # time its clock stood still while its child was away
    past_deadline_s: float = 0.0  # it ran past its deadline, not charged (rule 6)


@dataclass(frozen=True)
class Books:
    """What a daemon holds in memory of a store: written over a store rebuilt after damage
    (``Store.restore_books``), so that no time is given back."""

    accounting: Accounting  # from ``since`` on
    sessions: tuple[SnapshotRow, ...]  # running now, charged up to their ``charged_mono``
    next_session_id: int
    since: date  # the first quota day the daemon holds


@dataclass(frozen=True)
class TimeRequest:
    id: int
    user: str
    entry: str
    seconds: int
    note: str
    requested_at: str
    state: str
    answered_by: str | None
    granted_s: int | None

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class RemoteSessionRow:
    """A session running on another machine of the household, as the store last heard.

    ``age_s`` is how long ago (on the store server's clock) its machine last
    checkpointed it; ``remaining_s`` the time it had left then by its machine's
    reckoning (None: no limit); ``pause``: its clock stood still then (why, since when).
    """

    machine: str
    session_id: int
    user: str
    entry: str
    started_at: datetime
    age_s: float
    remaining_s: float | None
    pause: dict[str, Any] | None = None  # its clock stands still (rule 12): cause, since


@dataclass(frozen=True)
class HouseholdView:
    """The household's shared state as one transaction saw it (PostgreSQL only)."""

    usage: dict[tuple[str, str, date], float]  # the other machines' charged use
    sessions: tuple[RemoteSessionRow, ...]
    cooldowns: dict[tuple[str, str], datetime]
    grants: dict[tuple[str, str, date], int]
    locked: set[str]
    events: tuple[dict[str, Any], ...] = field(default=())
    server_now: datetime | None = None  # the server's clock, read in the same transaction
    timed_grants: tuple[TimedGrantRow, ...] = ()  # the household's, --until or for the week
    expiries_noted: frozenset[int] = frozenset()  # their expiries audited (by any machine)
    aside: dict[tuple[str, str, date], int] = field(default_factory=dict)  # Engine.aside
    beyond: dict[tuple[str, str, date], int] = field(default_factory=dict)  # Engine.beyond
    kept: dict[tuple[str, str, date], int] = field(default_factory=dict)  # Engine.kept
    raises: dict[tuple[str, str, date], tuple[int, int, int, int]] = field(
        default_factory=dict)  # Engine.raises
    policies: dict[str, str] = field(default_factory=dict)  # other machines' policy hashes


@dataclass(frozen=True)
class LaunchPlan:
    """A launch the engine allowed, to be recorded in the transaction that decided it."""

    ts: datetime
    session_id: int
    user: str
    entry: str
    boot_id: str
    started_mono: float
    lease_day: date
    process: Mapping[str, Any]
    remaining_s: float | None = None  # its deadline, for the household to see


class StateStore(Protocol):
    """Durable state, one transaction per method (see ``store.py`` for the rules)."""

    @property
    def machine(self) -> str | None:
        """This machine's name in a household store; None: one machine."""
        ...

    def batch(self) -> AbstractContextManager[Any]: ...

    def close(self, clean: bool = True) -> None: ...

    # -- audit
    def audit(self, ts: datetime, kind: str, data: Mapping[str, Any], *,
              user: str | None = None, entry: str | None = None,
              actor: str = "shepherd") -> int: ...

    def audit_page(self, flt: AuditFilter, limit: int = ...,
                   before: int | None = None) -> AuditPage: ...

    def verify_audit(self) -> VerifyResult: ...

    def prune_audit(self, older_than: datetime) -> int: ...

    # -- meta
    def meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def trusted_wall(self) -> datetime | None: ...

    def set_trusted_wall(self, wall: datetime) -> None: ...

    # -- reading state
    def load_accounting(self, since: date) -> Accounting: ...

    def household(self, since: date) -> HouseholdView | None: ...

    def next_session_id(self) -> int: ...

    def snapshots(self) -> list[SnapshotRow]: ...

    def usage_rows(self, since: date, until: date,
                   user: str | None = None) -> list[tuple[str, str, date, float]]: ...

    def grant_rows(self, since: date, until: date) -> list[GrantRecordRow]:
        """Every grant of the days from ``since`` to ``until``, as recorded."""
        ...

    def extension_rows(self, since: datetime) -> list[tuple[str, str, datetime, int]]:
        """Every extended session started at or after ``since``: its child, its entry, when
        it started and the extension's seconds (what ``usage`` counts as allowed)."""
        ...

    # -- sessions
    def start_session(self, ts: datetime, session_id: int, user: str, entry: str, *,
                      boot_id: str, started_mono: float, lease_day: date,
                      process: Mapping[str, Any],
                      audit_data: Mapping[str, Any] | None,
                      remaining_s: float | None = None) -> None: ...

    def launch(self, user: str, since: date,
               decide: Callable[[HouseholdView | None], LaunchPlan | None]
               ) -> LaunchPlan | None:
        """Decide and record a launch in one transaction: ``decide`` gets the
        household's state as it stands (None for one machine) and returns what to
        record, or None (nothing is written)."""
        ...

    def launch_failed(self, ts: datetime, session_id: int, user: str, entry: str, *,
                      audit_data: Mapping[str, Any]) -> None: ...

    def session_running(self, ts: datetime, session_id: int, process: Mapping[str, Any],
                        audit_data: Mapping[str, Any]) -> None: ...

    def session_process(self, session_id: int, process: Mapping[str, Any]) -> None:
        """How to find a running session's program again changed (a restart reads it)."""
        ...

    def session_fired(self, session_id: int, fired: tuple[int, ...]) -> None:
        """A running session's warnings issued so far (a restart gives none again)."""
        ...

    def checkpoint(self, ts: datetime, charges: Iterable[CheckpointRow], *,
                   remaining: Mapping[int, float | None] | None = None,
                   paused: Mapping[int, Mapping[str, Any] | None] | None = None) -> None: ...

    def set_extension(self, ts: datetime, session_id: int, extension_s: int, seconds: int,
                      actor: str, audit_data: Mapping[str, Any]) -> None: ...

    def end_session(self, ts: datetime, session_id: int, parts: Parts, reason: str,
                    cooldown_until: datetime | None, *, actor: str = "shepherd",
                    settle_lease: bool = True,
                    audit_data: Mapping[str, Any] | None = None) -> float: ...

    # -- admin actions
    def grant(self, ts: datetime, user: str, target: str, day: date, seconds: int, *,
              actor: str, reason: str = "", audit_data: Mapping[str, Any] | None = None,
              expires_at: datetime | None = None, week: bool = False,
              used_before_s: float | None = None,
              taken_from: Sequence[tuple[int, int]] = (), aside_s: int = 0,
              beyond_s: int = 0, beyond_before_s: float = 0.0,
              kept_s: int = 0, raises: tuple[int, int, int, int] | None = None
              ) -> int | None:
        """The new grant's id (None: nothing recorded, ``seconds`` 0); a timed grant keeps
        ``used_before_s``, its target's use that day when it was given; a take-back or
        set keeps ``aside_s``, the week's time it set aside (TimeGranted.week_aside_s);
        a change of the day's own time keeps ``beyond_s`` (TimeGranted.beyond_own_s);
        time given until a moment keeps ``beyond_before_s`` (TimeGranted.beyond_before_s);
        every grant keeps ``kept_s``, the added part of its day's own time as it leaves
        it (TimeGranted.kept_s: the last row's stands), and ``raises``, what its day's
        words raised and took of that time (TimeGranted.raises, likewise; given with no
        row of its own to write, a set that changed nothing or a take-back out of time
        given until a moment only, they go on the day's last row; None: not changed).
        ``taken_from``:
        (grant id, seconds) taken back from time given until a moment, in the same
        transaction (one taken back to nothing is gone; the audit keeps both)."""
        ...

    def grant_expired(self, ts: datetime, grant_id: int, user: str, target: str,
                      data: Mapping[str, Any], paid_s: float | None = None) -> None:
        """A timed grant stopped counting: audited once (in a household: by one machine),
        and what it paid for kept with it (``paid_s``; None: not known)."""
        ...

    def clear_cooldown(self, ts: datetime, user: str, entry: str, *, actor: str) -> bool: ...

    def set_locked(self, ts: datetime, user: str, locked: bool, *, actor: str) -> None: ...

    # -- time requests
    def add_request(self, ts: datetime, user: str, entry: str, seconds: int,
                    note: str) -> int: ...

    def requests(self, pending_only: bool = True) -> list[TimeRequest]: ...

    def answer_request(self, ts: datetime, request_id: int, approve: bool, seconds: int | None,
                       day: date, *, actor: str, target: str | None = None) -> TimeRequest:
        """Approve (the request becomes a grant on its entry, or on ``target``: the budget
        that limits an entry with no limit of its own) or decline."""
        ...

    # -- maintenance
    def backup(self, target: Path) -> VerifyResult: ...


@dataclass(frozen=True)
class Prepared:
    """The writer's store after ``StoreBackend.prepare``: maybe reopened or healed."""

    store: StateStore | None
    problem: str | None = None  # why it cannot take a transaction now
    note: dict[str, Any] | None = None  # a heal to report in ``store_recovered``
    fresh: bool = False  # rebuilt after damage in place: the daemon's books go over it first


class StoreBackend(Protocol):
    """How the writer opens, checks, heals and side-connects to one kind of store."""

    name: str  # "sqlite" or "postgresql"

    def open(self, now: datetime) -> StateStore:
        """Open (creating or migrating). ``StoreVersionError`` is fatal; other errors
        are transient (``is_transient``) and tried again."""
        ...

    def prepare(self, store: StateStore) -> Prepared:
        """Before every transaction: may the store be used now? Heals what it can."""
        ...

    def problem(self, store: StateStore) -> str | None:
        """Why this connection must not be touched now (checked, never healed), or None."""
        ...

    def close(self, store: StateStore, clean: bool) -> None:
        """Close the writer's store (``clean``: it was usable to the end)."""
        ...

    def moved(self, store: StateStore) -> bool:
        """Cheap, on the loop: does the store need healing before the next change?"""
        ...

    def side(self, store: StateStore | None, write: bool) -> StateStore:
        """A connection of its own for reads or maintenance (raises ``StoreUnavailable``)."""
        ...

    def bounded(self, store: StateStore,
                maintenance: bool = False) -> AbstractContextManager[None]:
        """Around every operation: a store that does not answer within the backend's
        limit is cut off, raising ``StoreUnavailable`` (transient)."""
        ...

    def scrub(self, store: StateStore, whole: bool) -> str | None:
        """Off the loop, now and then: read the stored pages again and check them (the
        books, or the whole store); what is found damaged is healed before the next
        change. None: nothing found (or nothing of the kind to check)."""
        ...

    def fingerprint(self, store: StateStore) -> Hashable:
        """Cheap, on the loop: what changes whenever the stored pages may have (a write of
        ours or anyone's). The books' check is skipped while it stays the same, so an idle
        daemon does not wake a thread to read pages nothing touched; None: not known
        (check as due)."""
        ...

    def picture(self) -> AbstractContextManager[StateStore]:
        """The store as last written, read without opening it to write, for a daemon
        that starts while it cannot be opened (another program holds it, it is
        read-only): the running sessions must be supervised from the books meanwhile.
        Called on the writer's thread while its store is not open. ``StoreUnavailable``
        when it cannot be read this way either."""
        ...

    def drop_picture(self) -> None:
        """Let go of what ``picture`` kept for the next read (the writer stops)."""
        ...

    def verify_command(self) -> list[str] | None:
        """How to verify the audit log in a process of its own (None: on a thread)."""
        ...

    def is_transient(self, exc: BaseException) -> bool: ...

    def describe(self, exc: BaseException) -> str: ...


Change = Callable[[StateStore], Any]
