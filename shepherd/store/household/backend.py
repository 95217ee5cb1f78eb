"""How the writer keeps its connection to the household store.

A lost connection (the server restarted, the network went away) is noticed at
the next transaction, which fails as transient: the writer says the store is
unavailable and tries again with backoff; before each try the dead connection
is dropped and a new one made. The writer's connection holds the machine's name
(a session advisory lock) for as long as it lives, so two machines given one name
never pass for one. Reads and maintenance get connections of their
own; the audit chains are verified in a process of its own, as for SQLite.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Hashable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime

from shepherd.store.connection import StoreUnavailable
from shepherd.store.household.connect import describe, is_transient
from shepherd.store.household.store import PgStore
from shepherd.store.protocol import Prepared, StateStore

# No operation on the household store may take longer, whatever the network does: a
# server (or anything between) that accepts the connection and never answers would
# otherwise hold the writer for ever (TCP keepalives and ``tcp_user_timeout`` see a
# live peer). Longer than the server's own ``lock_timeout`` and the launch decision's
# cap, shorter than a client's patience for its answer.
OPERATION_LIMIT_S = 15.0
MAINTENANCE_LIMIT_S = 120.0


class PgBackend:
    name = "postgresql"

    def __init__(self, url: str, machine: str) -> None:
        self.url = url
        self.machine = machine

    def open(self, now: datetime) -> StateStore:
        store = PgStore.open(self.url, self.machine)
        try:
            with self.bounded(store):
                store.claim_name()
        except BaseException:
            store.close()
            raise
        return store

    def prepare(self, store: StateStore) -> Prepared:
        assert isinstance(store, PgStore)
        if store.broken:
            store.close(clean=False)
            return Prepared(None, "the connection to the household store was lost")
        return Prepared(store)

    def problem(self, store: StateStore) -> str | None:
        assert isinstance(store, PgStore)
        return "the connection to the household store was lost" if store.broken else None

    def moved(self, store: StateStore) -> bool:
        return False

    def scrub(self, store: StateStore, whole: bool) -> str | None:
        return None  # the server keeps its own pages (checksums are its business)

    def fingerprint(self, store: StateStore) -> Hashable:
        return "server"  # nothing of ours to check: the books' check never wakes a thread

    def close(self, store: StateStore, clean: bool) -> None:
        store.close(clean=clean)

    def side(self, store: StateStore | None, write: bool) -> StateStore:
        try:
            return PgStore.attach(self.url, self.machine, "maintenance" if write else "reads")
        except StoreUnavailable:
            raise
        except Exception as exc:
            if is_transient(exc):
                raise StoreUnavailable(describe(exc)) from None
            raise

    @contextlib.contextmanager
    def bounded(self, store: StateStore, maintenance: bool = False) -> Iterator[None]:
        """One operation, cut off (and the store declared unavailable) if the server
        has not answered within the limit."""
        assert isinstance(store, PgStore)
        limit = MAINTENANCE_LIMIT_S if maintenance else OPERATION_LIMIT_S
        expired = threading.Event()

        def cut() -> None:
            expired.set()
            store.cut()

        timer = threading.Timer(limit, cut)
        timer.daemon = True
        timer.start()
        try:
            yield
        except Exception:
            if expired.is_set():
                raise StoreUnavailable(f"the household store did not answer within "
                                       f"{limit:.0f} seconds") from None
            raise
        finally:
            timer.cancel()

    def picture(self) -> AbstractContextManager[StateStore]:
        # An unreachable household store: the daemon works from its local journal.
        raise StoreUnavailable("the household store cannot be reached")

    def drop_picture(self) -> None:
        pass  # it keeps none

    def verify_command(self) -> list[str] | None:
        return [sys.executable, "-m", "shepherd.store.verify_job", self.url, self.machine]

    def is_transient(self, exc: BaseException) -> bool:
        return is_transient(exc)

    def describe(self, exc: BaseException) -> str:
        return describe(exc)
