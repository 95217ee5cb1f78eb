"""How the writer keeps an SQLite store file open, checked and healed (one machine).

Before every transaction the path must still name the file the writer opened
and every store file must be writable. A deleted or replaced file is recreated
at once from the writer's still-open connection (nothing is lost; a
replacement is moved aside, never deleted). Side connections (reads,
maintenance) are attached to the same file, never opened any other way, so the
writer's POSIX locks are never dropped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

import apsw

from shepherd.store import files
from shepherd.store.connection import (
    Database,
    StoreError,
    StoreUnavailable,
    describe,
    is_transient,
)
from shepherd.store.protocol import Prepared, StateStore
from shepherd.store.store import Store

log = logging.getLogger(__name__)


class SqliteBackend:
    """The embedded store: one file (or memory, ``path=None``, for tests)."""

    name = "sqlite"

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def open(self, now: datetime) -> StateStore:
        try:
            return Store.open(self.path, now)
        except (apsw.Error, OSError) as exc:
            raise StoreUnavailable(describe(exc)) from None

    def prepare(self, store: StateStore) -> Prepared:
        assert isinstance(store, Store)
        note = None
        db = store.db
        if db.path is not None and files.identity(db.path) != db.identity:
            try:
                store, note = self._rescue(store)
            except (StoreError, apsw.Error, OSError) as exc:
                return Prepared(None, "the store file is gone and could not be recreated: "
                                f"{describe(exc)}")
        return Prepared(store, store.db.problem(), note)

    def moved(self, store: StateStore) -> bool:
        assert isinstance(store, Store)
        return store.db.path is not None and files.identity(store.db.path) != store.db.identity

    def side(self, store: StateStore | None, write: bool) -> StateStore:
        # Reads go on while writes fail (a lock, a full disk); not while the files are wrong.
        if self.path is None or store is None:
            raise StoreUnavailable("the store is not open")
        assert isinstance(store, Store)
        problem = store.db.problem()
        if problem is not None:
            raise StoreUnavailable(problem)
        return Store(Database.attach(self.path, readonly=not write))

    def bounded(self, store: StateStore,
                maintenance: bool = False) -> AbstractContextManager[None]:
        return contextlib.nullcontext()  # a local file: SQLite's busy timeout bounds it

    def verify_command(self) -> list[str] | None:
        """The live file is held by this process alone: the writer runs this command on a
        copy of it (``StoreWriter.verify``, through ``verify_job_command``)."""
        if self.path is None:
            return None
        return verify_job_command(self.path)

    def problem(self, store: StateStore) -> str | None:
        assert isinstance(store, Store)
        return store.db.problem()

    def is_transient(self, exc: BaseException) -> bool:
        return is_transient(exc)

    def describe(self, exc: BaseException) -> str:
        return describe(exc)

    def _rescue(self, store: Store) -> tuple[Store, dict[str, object]]:
        """The path lost our file: put the open copy back, move any stranger aside."""
        assert self.path is not None
        path = self.path
        gone = not path.exists()
        why = f"{path} was {'deleted' if gone else 'replaced'} while the daemon ran"
        rescue = files.side_file(path, f".rescue-{files.stamp()}")
        copy = apsw.Connection(str(rescue))
        try:
            with copy.backup("main", store.db.conn, "main") as backup:
                backup.step(-1)
        finally:
            copy.close()
        store.close(clean=False)
        # The side files at the path were our connection's: set them aside on their own, so
        # neither our copy nor a stranger's file is ever read with a WAL not its own.
        stale = path.with_name(f"{path.name}.stale-{files.stamp()}")
        for suffix in files.SIDE_SUFFIXES:
            with contextlib.suppress(FileNotFoundError):
                os.replace(files.side_file(path, suffix), files.side_file(stale, suffix))
        moved = None if gone else files.move_aside(path, why, label="replaced")
        os.replace(rescue, path)
        files.sync_directory(path.parent)
        healed = Store.open(path, check=False)
        log.error("%s: recreated it from the daemon's open copy", why)
        return healed, {"problem": why, "action": "recreated from the daemon's open copy",
                        "moved_to": moved.moved_to if moved else None}


def verify_job_command(path: Path) -> list[str]:
    """The audit check of an SQLite file, in a process of its own."""
    return [sys.executable, "-m", "shepherd.store.verify_job", str(path)]
