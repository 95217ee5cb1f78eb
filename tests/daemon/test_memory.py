"""What keeps the daemon's memory small (figures: bench/memory.py, BENCHMARKS.md)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shepherd.store import Store
from shepherd.store.sqlite_backend import CACHE_KIB, SqliteBackend
from tests.daemon.conftest import ROOT

THREADS_THAT_ALLOCATE = textwrap.dedent("""
    import ctypes, sys, threading
    from shepherd.daemon import system
    if sys.argv[1] == "shared":
        system.share_malloc_arenas()
    kept = []
    def work():  # what the store's threads do: allocate and keep
        kept.append([bytearray(50_000) for _ in range(20)])
    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ctypes.CDLL(None).malloc_stats()  # glibc: one "Arena N:" paragraph per arena, on stderr
""")


def _arenas(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", THREADS_THAT_ALLOCATE, mode], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def test_the_daemons_threads_share_one_malloc_arena() -> None:
    if _arenas("own") < 2:
        pytest.skip("this C library gives threads no arenas of their own (not glibc)")
    assert _arenas("shared") == 1


DAEMON_IMPORTS = textwrap.dedent("""
    import sys
    from shepherd.cli import main
    try:
        main(["daemon", "--help"])  # the command line the daemon is started with
    except SystemExit:
        pass
    import shepherd.daemon.service  # and everything the daemon itself imports
    print("MODULES", *sorted(sys.modules))
""")


def test_the_daemon_does_not_import_the_other_commands_modules() -> None:
    # The daemon runs for days: the TUI, the explainer, the review and remote commands'
    # modules (about 2 MiB) were imported by the command line and kept for nothing.
    done = subprocess.run([sys.executable, "-c", DAEMON_IMPORTS], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    loaded = set(done.stdout.split("MODULES", 1)[1].split())
    assert "shepherd.daemon.core" in loaded and "shepherd.cli.daemon_cmd" in loaded
    unneeded = {"shepherd.cli.remote", "shepherd.cli.review", "shepherd.cli.explain_cmd",
                "shepherd.cli.tui_cmd", "shepherd.cli.desktop", "shepherd.cli.demo",
                "shepherd.cli.agent_cmd", "shepherd.explain.live", "shepherd.explain.day",
                "shepherd.explain.simulate", "textual"}
    assert not loaded & unneeded
    assert not {m for m in loaded if m.startswith("shepherd.tui")}


def test_the_daemons_store_connections_keep_a_small_page_cache(tmp_path: Path) -> None:
    # SQLite's default page cache (2,000 KiB a connection) filled up over 10,000 sessions
    # and stayed: a fifth of the memory the daemon gained after its start.
    backend = SqliteBackend(tmp_path / "shepherd.db")
    store = backend.open(datetime.now(UTC))
    side = backend.side(store, write=False)
    try:
        for connection in (store, side):
            assert isinstance(connection, Store)
            assert connection.db.conn.pragma("cache_size") == -CACHE_KIB
    finally:
        side.close(clean=False)
        store.close()


def test_the_daemon_does_not_import_tls() -> None:
    # asyncio imports ``ssl`` (the module, ``_ssl``, libssl: 1.2 MiB of the daemon's
    # resident set) though the daemon speaks TLS to no one; the household store's
    # PostgreSQL connection does its TLS in libpq, which is not Python's ``ssl``.
    done = subprocess.run([sys.executable, "-c", DAEMON_IMPORTS], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    loaded = set(done.stdout.split("MODULES", 1)[1].split())
    assert "asyncio" in loaded and "shepherd.ipc.server" in loaded
    assert not loaded & {"ssl", "_ssl"}


def test_tls_stays_importable_for_what_needs_it() -> None:
    # Only asyncio is kept from it: a library that wants ``ssl`` later still gets it.
    code = ("import shepherd.daemon.service, ssl, asyncio.base_events as b;"
            "print(ssl.PROTOCOL_TLS_CLIENT is not None, b.ssl is None)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["True", "True"]


def test_the_daemon_does_not_look_for_pydantic_plugins() -> None:
    # pydantic looked through every installed distribution's entry points for plugins
    # when the policy's first model was built, and kept what that imports (importlib's
    # metadata, email, zipfile, csv: 30 modules, 2 MiB) for the daemon's whole life.
    done = subprocess.run([sys.executable, "-c", DAEMON_IMPORTS], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    loaded = set(done.stdout.split("MODULES", 1)[1].split())
    assert "shepherd.policy.model" in loaded and "pydantic.main" in loaded
    assert not loaded & {"importlib.metadata", "email", "zipfile", "csv"}
