"""Fixtures shared by every test package: a real PostgreSQL server, started once.

Every test: no dependence on the machine's own logind. Daemons started by tests count
running time unless a test gives them a bus of its own (tests/presence/bus.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.pgserver import PgServer, find_bindir

os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent/shepherd-tests-have-no-system-bus"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed here (no initdb found by pg_config or under "
                    "/usr/lib/postgresql); .ci/run installs Debian's postgresql package")
    server = PgServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty household database for one test."""
    if not pg_server.running():
        pg_server.start()  # a test stopped it and failed before starting it again
    yield pg_server.database()
