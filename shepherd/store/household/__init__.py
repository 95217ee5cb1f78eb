"""The household store: several machines' daemons sharing one budget through PostgreSQL.

Owns the PostgreSQL schema and its migrations, the per-machine audit chains,
the shared state (usage per machine, the household's cooldowns, grants, locks
and requests, every machine's running sessions), the launch transaction that
locks a child's row, the backend the writer uses to reconnect, and the
listener that hears other machines' changes (``LISTEN``/``NOTIFY``). Imported
only when a policy has ``[household]``. Must not make decisions: the engine
decides, the store remembers and tells.
"""
