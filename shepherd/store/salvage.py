"""Checking a store's pages, and taking what can be read from a damaged file.

SQLite notices a damaged page only when it reads it. ``page_problem`` makes it
read them: ``PRAGMA quick_check`` of the whole file (linear in its size), or of
the books alone (``BOOKS``: every table but the audit log, a few milliseconds).

A file found damaged at open, before the daemon holds any books in memory, is
moved aside as before, but its tables are not thrown away with it: ``salvage``
copies every table SQLite can still check whole into the fresh store (the audit
log with its rows and ids, so its chain still verifies). A table of the books
that is not whole is copied as far as it can be read and named in ``lost``; if it
is one that time depends on (``FAIL_CLOSED``), the fresh store is marked
(``meta books_lost``) and the daemon locks every child until a parent looks:
recorded time is never silently forgotten, and a doubt never gives time.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw

log = logging.getLogger(__name__)

# Every table but the audit log and its text index, in an order foreign keys accept.
BOOKS = ("meta", "usage", "cooldowns", "grants", "sessions", "session_days", "snapshot",
         "requests", "locks")
# The tables time depends on: one not read whole, and the daemon cannot know what was used.
FAIL_CLOSED = ("usage", "grants", "cooldowns", "locks", "snapshot")
BOOKS_LOST_KEY = "books_lost"


def page_problem(conn: apsw.Connection, tables: Sequence[str] | None = None) -> str | None:
    """What ``PRAGMA quick_check`` found (of the whole file, or of ``tables``), or None.

    Run it on a connection whose page cache is its own (a side connection): pages
    another connection holds in memory are read again from the disk."""
    found: list[str] = []
    try:
        if tables is not None:  # (an older store may not have them all yet)
            have = {str(r[0]) for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            tables = [t for t in tables if t in have]
        for table in tables if tables is not None else (None,):
            pragma = "PRAGMA quick_check" if table is None else f"PRAGMA quick_check({table})"
            rows = [str(r[0]) for r in conn.execute(pragma)]
            if rows != ["ok"]:
                found += rows[:3]
    except (apsw.CorruptError, apsw.NotADBError) as exc:
        found.append(str(exc))
    if not found:
        return None
    return "a check of its pages found damage (" + "; ".join(found[:3]) + ")"


@dataclass(frozen=True)
class Salvage:
    """What was taken from a damaged file: the tables read whole, and those that were not."""

    kept: tuple[str, ...]
    lost: tuple[str, ...]

    @property
    def fail_closed(self) -> tuple[str, ...]:
        return tuple(t for t in self.lost if t in FAIL_CLOSED)


def salvage(damaged: Path, into: apsw.Connection, schema_version: int) -> Salvage:
    """Copy what can be read of ``damaged`` (a file moved aside, with its WAL) into the
    fresh store ``into`` (already migrated, empty but for its own rows)."""
    kept: list[str] = []
    lost: list[str] = []
    try:
        source = apsw.Connection(str(damaged), flags=apsw.SQLITE_OPEN_READWRITE,
                                 vfs="unix-excl")  # a WAL index in memory, never a -shm
    except apsw.Error as exc:
        log.error("could not read the damaged store %s at all: %s", damaged, exc)
        return nothing_read(into, damaged)
    try:
        try:
            version = int(source.pragma("user_version"))
        except apsw.Error:
            version = -1
        if version != schema_version:
            return nothing_read(into, damaged)
        into.execute("BEGIN IMMEDIATE")
        try:
            for table in BOOKS:
                (kept if _copy(source, into, table) else lost).append(table)
            if _copy(source, into, "audit", partial=False):
                kept.append("audit")
                into.execute("DELETE FROM audit_text")
                into.execute("INSERT INTO audit_text (rowid, body) SELECT id, type || ' ' || "
                             "actor || ' ' || data FROM audit")
            else:  # the chain starts afresh (its history stays in the file set aside)
                lost.append("audit")
                into.execute("DELETE FROM meta WHERE key IN ('audit_head', 'audit_anchor')")
            result = Salvage(tuple(kept), tuple(lost))
            if result.fail_closed:
                mark_lost(into, damaged, result.fail_closed)
            into.execute("COMMIT")
        except apsw.Error as exc:
            with contextlib.suppress(apsw.Error):
                into.execute("ROLLBACK")
            log.error("could not copy from the damaged store %s: %s", damaged, exc)
            return nothing_read(into, damaged)
    finally:
        with contextlib.suppress(apsw.Error):
            source.close()
    return result


def nothing_read(into: apsw.Connection, damaged: Path) -> Salvage:
    """Nothing could be taken from the damaged file: the fresh store is marked so that
    the daemon fails closed."""
    mark_lost(into, damaged, FAIL_CLOSED)
    return Salvage((), (*BOOKS, "audit"))


def mark_lost(into: apsw.Connection, damaged: Path, tables: Sequence[str]) -> None:
    """``meta books_lost``: which tables time depends on could not be read whole, and
    where the damaged file was kept; the daemon locks every child and clears it."""
    into.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                 (BOOKS_LOST_KEY, json.dumps({"tables": list(tables),
                                              "kept_as": str(damaged)})))


def _copy(source: apsw.Connection, into: apsw.Connection, table: str,
          partial: bool = True) -> bool:
    """True when the table was read whole (and copied); else as much as could be read is
    copied (``partial``) and False."""
    whole = page_problem(source, [table]) is None
    if not whole and not partial:
        return False
    rows: list[tuple[Any, ...]] = []
    columns: list[str] = []
    try:
        columns = [str(r[1]) for r in source.execute(f"PRAGMA table_info({table})")]
        for row in source.execute(f"SELECT {', '.join(columns)} FROM {table}"):
            rows.append(tuple(row))
    except apsw.Error as exc:
        whole = False
        if not partial:
            return False
        log.error("the damaged store's %s could be read only in part: %s", table, exc)
    if columns:
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        for row in rows:
            try:
                into.execute(sql, row)
            except apsw.Error:
                whole = False  # a row damaged past what the schema accepts
    return whole
