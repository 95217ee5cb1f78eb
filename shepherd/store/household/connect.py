"""Connecting to the household's PostgreSQL: libpq settings, migrations, errors in words.

The URL comes from the policy and never holds a secret: libpq reads passwords
from its password file (``~/.pgpass``) and whole settings from its service file
(``service=shepherd``), or the server trusts the Unix account (peer). Every
connection is bounded in time, so a partition turns into an error the writer
can act on (fail closed, try again) instead of a thread stuck forever.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from shepherd.store.connection import StoreError, StoreUnavailable, StoreVersionError
from shepherd.store.household.schema import MIGRATION_LOCK, MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5
# Waits the server ends for us: a lock held by a stuck peer, a statement that never
# returns, a transaction left open by a client that vanished.
# The server's side of TCP keepalive too: a connection a partition cut is ended
# there within seconds, releasing the machine's name for its reconnection.
SERVER_OPTIONS = ("-c lock_timeout=10s -c statement_timeout=60s "
                  "-c idle_in_transaction_session_timeout=60s -c TimeZone=UTC "
                  "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 "
                  "-c tcp_keepalives_count=3 -c tcp_user_timeout=10000")
# TCP: notice a dead link within seconds rather than the kernel's quarter of an hour.
TCP_SETTINGS: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 5,
                                "keepalives_interval": 2, "keepalives_count": 3,
                                "tcp_user_timeout": 10_000}


def is_household_url(url: str) -> bool:
    return url.startswith(("postgresql:", "postgres:"))


def where(url: str) -> str:
    """Where the household store is, in words and without secrets: "the database shepherd
    on db.home" (host, port, service and database only; never a user or password)."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the household's PostgreSQL database"
    said = [f"the database {parts['dbname']}"] if parts.get("dbname") else []
    if parts.get("service"):
        said.append(("of " if said else "") + f"the PostgreSQL service {parts['service']}")
    if not said:
        said.append("the household's PostgreSQL database")
    host = str(parts.get("host") or "")
    if host and not host.startswith("/"):
        port = f":{parts['port']}" if parts.get("port") else ""
        said.append(f"on {host}{port}")
    elif not parts.get("service"):
        said.append("on this computer")
    return " ".join(said)


def connect(url: str, machine: str, purpose: str = "store") -> psycopg.Connection[Any]:
    """A connection in autocommit mode (transactions are explicit); raises
    ``StoreUnavailable`` with a sentence when the server cannot be reached."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                               application_name=f"shepherd {machine} {purpose}"[:63],
                               options=SERVER_OPTIONS, **TCP_SETTINGS)
    except psycopg.Error as exc:
        raise StoreUnavailable(describe(exc)) from None


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Bring the schema up to date (under an advisory lock); refuse a newer one."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS shepherd_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT max(version) FROM shepherd_schema").fetchone()
        version = int(row[0]) if row and row[0] is not None else 0
        if version > SCHEMA_VERSION:
            raise StoreVersionError(
                f"the household store has schema version {version}, newer than this "
                f"Shepherd knows ({SCHEMA_VERSION}); upgrade Shepherd on this machine")
        for number in range(version + 1, SCHEMA_VERSION + 1):
            conn.execute(MIGRATIONS[number - 1])
            conn.execute("INSERT INTO shepherd_schema (version) VALUES (%s)", (number,))
            log.info("household store migrated to schema version %d", number)
    return SCHEMA_VERSION


def is_transient(exc: BaseException) -> bool:
    """Errors that say "not now": the server is away, a lock waited too long, a
    serialisation conflict. The change is worth trying again."""
    return isinstance(exc, (StoreUnavailable, psycopg.OperationalError, psycopg.InterfaceError,
                            OSError)) and not isinstance(exc, StoreVersionError)


# The server answered, and said no: what the parent must fix is the login, not the network.
_LOGIN_REFUSED = (
    ("password authentication failed", "refused this machine's password"),
    ("no password supplied", "asked for a password and this machine has none"),
    ("no pg_hba.conf entry", "does not let this machine in (pg_hba.conf)"),
    ("does not exist", "does not know this machine's user or database"),
)


# libpq's reasons, in the parent's words first (libpq's own line follows in brackets).
_AWAY = (
    ("No such file or directory", "its server is not running on this computer"),
    ("Connection refused", "its server is not running or does not listen there"),
    ("could not translate host name", "the name of the computer that holds it is not known "
                                      "here"),
    ("No route to host", "the network does not reach the computer that holds it"),
    ("Network is unreachable", "this computer is not on a network that reaches it"),
    ("timeout expired", "its server did not answer in time"),
    ("timed out", "its server did not answer in time"),
    ("server closed the connection", "the connection to it was lost"),
    ("terminating connection", "its server ended the connection"),
    ("connection is bad", "the connection to it was lost"),
    ("the connection is lost", "the connection to it was lost"),
    ("connection is closed", "the connection to it was lost"),
)


def _refused(message: str) -> str | None:
    for needle, said in _LOGIN_REFUSED:
        if needle in message and "FATAL" in message:
            detail = next((line.strip() for line in message.splitlines() if needle in line),
                          needle)
            return (f"the household store {said} ({detail}); check the password file "
                    "(PGPASSFILE or ~/.pgpass) and the service file, then the daemon tries "
                    "again by itself")
    return None


def describe(exc: BaseException) -> str:
    """A sentence for the log and ``health``."""
    if isinstance(exc, StoreError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return "the household store kept a lock too long (another machine is stuck)"
    refused = _refused(str(exc))
    if refused is not None:
        return refused
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        why = next((said for needle, said in _AWAY if needle in str(exc)), None)
        if why is None:
            return f"the household store cannot be reached ({text})"
        return f"the household store cannot be reached: {why} ({text})"
    return f"the household store failed: {text}"
