"""Shepherd: a parental-control session supervisor for home Linux machines.

Packages, each owning one concern:

- ``policy``     TOML policy -> validated, immutable objects, every error with path and line.
- ``engine``     pure accounting and decisions (no I/O, time passed in as values).
- ``store``      durable state on SQLite (apsw).
- ``supervisor`` child processes: spawn as a user, watch, stop the whole tree.
- ``ipc``        JSON-RPC framing, server, client, roles from peer credentials.
- ``words``      the one renderer of what a parent or child reads (pure).
"""

__version__ = "0.1.0"

import sys as _sys


def _asyncio_without_tls() -> None:
    """Import asyncio with its TLS left out. asyncio imports ``ssl`` (the module, ``_ssl``
    and libssl: 1.2 MiB resident in a daemon that runs for days) for TLS that no Shepherd
    process speaks: the IPC is a Unix socket, D-Bus too, and the household store's
    PostgreSQL connection does its TLS in libpq. Done before anything else imports asyncio
    (this package's first import); ``ssl`` itself stays importable for whoever wants it."""
    if "asyncio" in _sys.modules or "ssl" in _sys.modules:
        return
    _sys.modules["ssl"] = None  # type: ignore[assignment]  # asyncio: "ssl = None"
    try:
        import asyncio  # noqa: F401
    finally:
        del _sys.modules["ssl"]


_asyncio_without_tls()
