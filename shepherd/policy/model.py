"""The policy's shape: immutable pydantic models for every key of SPEC §2.

Values are normalised on the way in, so the engine never parses text:
durations become whole seconds (``None`` = unlimited, ``0`` = none allowed),
clock times become minutes after midnight, day sets become weekday numbers
(Monday = 0). Cross-references between entries, users and groups are checked
in ``check.py``, where every problem of a file is gathered at once.
"""

from __future__ import annotations

import functools
import re
import sys
import types
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shepherd.policy.durations import parse_duration
from shepherd.policy.pattern import PatternError, compile_pattern

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAYS = frozenset(range(5))
WEEKENDS = frozenset({5, 6})
MINUTES_PER_DAY = 24 * 60

_ID_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}\$?")
_CLOCK_RE = re.compile(r"(\d{1,2}):(\d{2})")


def _clock_minutes(value: object) -> int:
    if not isinstance(value, str):
        raise ValueError(f'got {value!r} (expected a time of day "HH:MM")')
    match = _CLOCK_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f'got {value!r} (expected a time of day "HH:MM")')
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes != 0):
        raise ValueError(f'got {value!r}, an impossible time (expected "00:00" to "24:00")')
    return hours * 60 + minutes


def _not_midnight_end(minutes: int) -> int:
    if minutes == MINUTES_PER_DAY:
        raise ValueError('got "24:00", which can only end a window (expected "00:00" to "23:59")')
    return minutes


def _day_set(value: object) -> frozenset[int]:
    named = {"daily": frozenset(range(7)), "weekdays": WEEKDAYS, "weekends": WEEKENDS}
    expected = '"daily", "weekdays", "weekends" or a list of "mon".."sun"'
    if isinstance(value, str):
        if value in named:
            return named[value]
        raise ValueError(f"got {value!r} (expected {expected})")
    if isinstance(value, list):
        if not value:
            raise ValueError(f"is empty, so the window never opens (expected {expected})")
        days: set[int] = set()
        for item in value:
            if not isinstance(item, str) or item not in DAY_NAMES:
                raise ValueError(f"got {item!r} in the list (expected {expected})")
            days.add(DAY_NAMES.index(item))
        return frozenset(days)
    raise ValueError(f"got {value!r} (expected {expected})")


def _identifier(value: str) -> str:
    if not _ID_RE.fullmatch(value):
        raise ValueError(
            f"got {value!r} (expected lowercase letters, digits, '_', '.' or '-', "
            "starting with a letter or digit, at most 64 characters)"
        )
    return value


def _user_name(value: str) -> str:
    if not _USER_RE.fullmatch(value):
        raise ValueError(f"got {value!r} (expected a Unix account name such as \"alex\")")
    return value


def _week_duration(value: object) -> int:
    if isinstance(value, dict):
        raise ValueError("got a table (expected one duration for the whole week, like \"8h\"; "
                         "amounts that vary by day belong in daily_quota)")
    return parse_duration(value)


Duration = Annotated[int, BeforeValidator(parse_duration)]
WeekDuration = Annotated[int, BeforeValidator(_week_duration)]
ClockTime = Annotated[int, BeforeValidator(_clock_minutes)]
DaySet = Annotated[frozenset[int], BeforeValidator(_day_set)]
Identifier = Annotated[StrictStr, AfterValidator(_identifier)]
UserName = Annotated[StrictStr, AfterValidator(_user_name)]
NonEmptyText = Annotated[StrictStr, Field(min_length=1)]


def _without_pydantic_plugins() -> None:
    """pydantic looks for plugins in every installed distribution's entry points when the
    first model is built, imports what they name, and keeps what the search imports
    (importlib's metadata, email, zipfile, csv: 2 MiB) for the process's life. The policy
    is validated with none, and the daemon runs as root for days: it should not load code
    some other package installed for pydantic. So the search finds none. (If pydantic moves
    its loader this does nothing, and tests/daemon/test_memory.py says so.)"""
    name = "pydantic.plugin._loader"
    if name not in sys.modules:
        loader = types.ModuleType(name, "No pydantic plugins (shepherd/policy/model.py).")
        loader.get_plugins = tuple  # type: ignore[attr-defined]  # plugins: none
        sys.modules[name] = loader


_without_pydantic_plugins()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuotaSchedule(_Model):
    """A daily quota that may vary by day: one duration, or per-day keys (specific day wins)."""

    single: Duration | None = None
    weekdays: Duration | None = None
    weekends: Duration | None = None
    mon: Duration | None = None
    tue: Duration | None = None
    wed: Duration | None = None
    thu: Duration | None = None
    fri: Duration | None = None
    sat: Duration | None = None
    sun: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _accept_single_duration(cls, value: Any) -> Any:
        if isinstance(value, dict):
            if "single" in value:
                raise ValueError(
                    "unknown key 'single' (expected weekdays, weekends or mon..sun)"
                )
            return value
        return {"single": value}

    def for_weekday(self, weekday: int) -> int | None:
        """Seconds allowed on a day with this weekday (Monday = 0); ``None`` = unlimited."""
        specific = getattr(self, DAY_NAMES[weekday])
        if specific is not None:
            return int(specific)
        broad = self.weekdays if weekday in WEEKDAYS else self.weekends
        return broad if broad is not None else self.single

    def unset_days(self) -> list[str]:
        """Day names this schedule leaves unlimited (only possible in table form)."""
        return [name for day, name in enumerate(DAY_NAMES) if self.for_weekday(day) is None]

    def largest(self) -> int | None:
        values = [self.for_weekday(day) for day in range(7)]
        return None if None in values else max(v for v in values if v is not None)


class TimeWarning(_Model):
    before: Duration
    message: StrictStr = ""
    severity: Literal["info", "warning", "critical"] = "warning"

    @field_validator("before")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("got 0s, a warning at the deadline itself (expected more than 0s)")
        return value


DEFAULT_WARNINGS = (
    TimeWarning(before=300, message="5 minutes left"),
    TimeWarning(before=60, severity="critical", message="1 minute left, save now"),
)


DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Count = Literal["running", "active"]
"""What a session is billed for: every second its program runs, or only while the
child is really there (the screen unlocked, in use, and the active one on its seat)."""
WhilePaused = Literal["freeze", "run"]
"""What a paused session's programs do: frozen (cgroup v2 freezer) until the child is
back, so a faked lock pauses the game with the clock; or run on, unbilled."""


class Supervisor(_Model):
    admin_group: NonEmptyText = "shepherd-admin"
    day_starts_at: Annotated[ClockTime, AfterValidator(_not_midnight_end)] = 0
    week_starts_on: DayName = "mon"  # the quota week starts on this day at day_starts_at
    count: Count = "active"
    idle_after: Duration = 300  # idle this long = not in use (the idle is then not billed)
    while_paused: WhilePaused = "freeze"
    stop_grace: Duration = 10
    audit_retention: Duration = 400 * 86_400
    on_restart: Literal["adopt", "stop"] = "adopt"
    default_warnings: tuple[TimeWarning, ...] = DEFAULT_WARNINGS

    @property
    def week_start_weekday(self) -> int:
        """The weekday (Monday = 0) on which a quota week starts."""
        return DAY_NAMES.index(self.week_starts_on)


class User(_Model):
    name: UserName
    max_sessions: Annotated[StrictInt, Field(ge=1, le=64)] = 1


class Window(_Model):
    """Open from ``start`` (inclusive) to ``end`` (exclusive) on each of ``days``.

    ``end <= start`` means the window runs past midnight and belongs to the day it starts on.
    """

    days: DaySet
    start: Annotated[ClockTime, AfterValidator(_not_midnight_end)]
    end: ClockTime

    @field_validator("end")
    @classmethod
    def _not_empty(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("start") == value:
            raise ValueError("equals start, so the window is empty (expected a different time)")
        return value

    @property
    def length_minutes(self) -> int:
        return (self.end - self.start) % MINUTES_PER_DAY or MINUTES_PER_DAY


class Limits(_Model):
    max_run: Duration | None = None
    daily_quota: QuotaSchedule | None = None
    weekly_quota: WeekDuration | None = None
    cooldown: Duration | None = None


def _one_or_many(value: object) -> object:
    """A single string stands for a list of one."""
    return [value] if isinstance(value, str) else value


def _absolute_path(value: str) -> str:
    if not value.startswith("/") or "\0" in value:
        raise ValueError(f"got {value!r} (expected an absolute path such as \"/usr/bin/game\")")
    return value


_APP_ID_RE = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+")
_DESKTOP_ID_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,254}")


def _flatpak_id(value: str) -> str:
    if not _APP_ID_RE.fullmatch(value):
        raise ValueError(f"got {value!r} (expected a Flatpak application id such as "
                         "\"org.prismlauncher.PrismLauncher\")")
    return value


def _desktop_id(value: str) -> str:
    bare = value.removesuffix(".desktop")
    if not _DESKTOP_ID_RE.fullmatch(bare) or "/" in value:
        raise ValueError(f"got {value!r} (expected a desktop file id such as "
                         "\"org.prismlauncher.PrismLauncher.desktop\", without a directory)")
    return bare


def _command_pattern(value: str) -> str:
    try:
        re.compile(value)  # Python's syntax, its errors located (compiled only, never searched)
    except RecursionError:
        raise ValueError(f"got a pattern of {len(value)} characters nested too deeply "
                         "(expected a regular expression that names the program)") from None
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        raise ValueError(f"got {value!r}, not a regular expression: {exc.msg}{where} "
                         "(expected a Python regular expression, searched in the command "
                         "line joined by spaces)") from None
    try:
        pattern = compile_pattern(value)
    except PatternError as exc:
        raise ValueError(f"got {value!r}, which RE2 does not take: {exc.reason} (expected a "
                         "regular expression without lookarounds such as (?=...) or (?<!...) "
                         "and without backreferences such as \\1: command lines are searched "
                         "by RE2, a linear-time engine, so that whatever a child writes costs "
                         "no more than its length)") from None
    if pattern.search("") is not None:
        raise ValueError(f"got {value!r}, which matches an empty command line and so every "
                         "program the child runs (expected a pattern that names the program)")
    return value


AbsolutePath = Annotated[StrictStr, AfterValidator(_absolute_path)]
FlatpakId = Annotated[StrictStr, AfterValidator(_flatpak_id)]
DesktopId = Annotated[StrictStr, AfterValidator(_desktop_id)]
CommandPattern = Annotated[StrictStr, AfterValidator(_command_pattern)]


class Detect(_Model):
    """How to recognise an entry's program started outside Shepherd: any one key matches.

    ``exe``: absolute paths of the executable (compared with the process's real
    executable); ``cmdline``: a regular expression searched in the command line
    joined by spaces; ``flatpak``: application ids; ``desktop``: desktop file ids
    (kept without ``.desktop``). A single string stands for a list of one.
    """

    exe: Annotated[tuple[AbsolutePath, ...], BeforeValidator(_one_or_many)] = ()
    cmdline: CommandPattern | None = None
    flatpak: Annotated[tuple[FlatpakId, ...], BeforeValidator(_one_or_many)] = ()
    desktop: Annotated[tuple[DesktopId, ...], BeforeValidator(_one_or_many)] = ()

    @model_validator(mode="after")
    def _says_something(self) -> Detect:
        if not (self.exe or self.cmdline or self.flatpak or self.desktop):
            raise ValueError("recognises nothing (expected at least one of exe, cmdline, "
                             "flatpak, desktop)")
        return self


class Entry(_Model):
    id: Identifier
    label: NonEmptyText | None = None
    command: Annotated[tuple[NonEmptyText, ...], Field(min_length=1)]
    users: tuple[UserName, ...] | None = None
    limits: Limits = Limits()
    windows: tuple[Window, ...] = ()
    warnings: tuple[TimeWarning, ...] | None = None
    detect: Detect | None = None
    count: Count | None = None  # None: the supervisor's
    while_paused: WhilePaused | None = None  # None: the supervisor's

    @property
    def title(self) -> str:
        return self.label or self.id


class Group(_Model):
    id: Identifier
    entries: Annotated[tuple[Identifier, ...], Field(min_length=1)]
    daily_quota: QuotaSchedule | None = None
    weekly_quota: WeekDuration | None = None


_MACHINE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_SECRET_WORDS = ("passwords never go in the policy: put it in libpq's password file "
                 "(~/.pgpass) or its service file, and name the service "
                 '(store = "postgresql:///shepherd?service=shepherd")')


def _household_url(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        raise ValueError(f"got {value!r} (expected a PostgreSQL URL such as "
                         '"postgresql:///shepherd?service=shepherd")')
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    if "@" in authority and ":" in authority.rsplit("@", 1)[0]:
        raise ValueError(f"holds a password; {_SECRET_WORDS}")
    query = rest.split("?", 1)[1] if "?" in rest else ""
    # libpq decodes percent-encoded keys (``pass%77ord`` is ``password``); a client
    # key's passphrase (``sslpassword``) is as secret as the password.
    keys = {unquote(part.split("=", 1)[0]).strip().lower() for part in query.split("&")}
    if keys & {"password", "sslpassword"}:
        raise ValueError(f"holds a password; {_SECRET_WORDS}")
    return value


def _machine_name(value: str) -> str:
    if not _MACHINE_RE.fullmatch(value):
        raise ValueError(f"got {value!r} (expected a short name such as \"laptop\": letters, "
                         "digits, '_', '.' or '-', at most 63 characters)")
    return value


class Household(_Model):
    """Several machines share one store (SPEC §5): where it is, and what this one is called."""

    store: Annotated[StrictStr, AfterValidator(_household_url)]
    machine: Annotated[StrictStr, AfterValidator(_machine_name)] | None = None

    def machine_name(self, host_name: str) -> str:
        """This machine's name: as the policy says, else the host name (made a valid name)."""
        if self.machine is not None:
            return self.machine
        name = re.sub(r"[^A-Za-z0-9_.-]", "-", host_name.split(".")[0])[:63].strip("-")
        return name or "machine"


class Policy(_Model):
    version: Literal[1]
    supervisor: Supervisor = Supervisor()
    household: Household | None = None
    users: Annotated[tuple[User, ...], Field(min_length=1)]
    entries: tuple[Entry, ...] = ()
    groups: tuple[Group, ...] = ()

    # Lookups by id, built once: the engine asks them for every entry of every child.
    @functools.cached_property
    def _entry_index(self) -> dict[str, Entry]:
        return {e.id: e for e in reversed(self.entries)}  # the first one wins

    @functools.cached_property
    def _user_index(self) -> dict[str, User]:
        return {u.name: u for u in reversed(self.users)}

    @functools.cached_property
    def _groups_index(self) -> dict[str, tuple[Group, ...]]:
        return {e.id: tuple(g for g in self.groups if e.id in g.entries) for e in self.entries}

    def entry(self, entry_id: str) -> Entry | None:
        return self._entry_index.get(entry_id)

    def find_entry(self, name: str, user_name: str | None = None) -> Entry | None:
        """The entry a person means by ``name``: its id, else its id or its label in any
        case ("Rest Game", "minecraft"), among ``user_name``'s entries when given. A name
        that fits several entries finds none."""
        exact = self.entry(name)
        if exact is not None:
            return exact
        wanted = " ".join(name.split()).casefold()
        fits = [e for e in self.entries
                if (user_name is None or self.entry_allows(e, user_name))
                and wanted in (e.id.casefold(), " ".join(e.title.split()).casefold())]
        return fits[0] if len({e.id for e in fits}) == 1 else None

    def title(self, entry_id: str) -> str:
        """An entry's label (its id when it has none, or is not in the policy)."""
        entry = self.entry(entry_id)
        return entry.title if entry is not None else entry_id

    def user(self, name: str) -> User | None:
        return self._user_index.get(name)

    def group(self, group_id: str) -> Group | None:
        return next((g for g in self.groups if g.id == group_id), None)

    def entry_allows(self, entry: Entry, user_name: str) -> bool:
        return entry.users is None or user_name in entry.users

    def groups_of(self, entry_id: str) -> tuple[Group, ...]:
        known = self._groups_index.get(entry_id)
        if known is not None:
            return known
        return tuple(g for g in self.groups if entry_id in g.entries)

    def counts_active(self, entry: Entry) -> bool:
        """Is this entry billed only while the child is there (``count = "active"``)?"""
        return (entry.count or self.supervisor.count) == "active"

    def freezes(self, entry: Entry) -> bool:
        """Are this entry's programs frozen while its session is paused (rule 12)?"""
        return (self.counts_active(entry)
                and (entry.while_paused or self.supervisor.while_paused) == "freeze")

    def warnings_for(self, entry: Entry) -> tuple[TimeWarning, ...]:
        """An entry's own ``warnings`` replace the defaults; ``warnings = []`` means none."""
        return entry.warnings if entry.warnings is not None else self.supervisor.default_warnings
