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
