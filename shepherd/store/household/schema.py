"""The household store's schema: numbered forward migrations, as for SQLite.

``shepherd_schema.version`` records the last migration applied; a database
with a newer version than the code knows is refused, never touched. Daemons of
several machines may start at once: migrations run under an advisory lock.

What is the household's and what is a machine's:

- usage is kept per machine (``machine``; ``origin`` is ``live``, or
  ``imported`` for history copied in by ``store migrate``): each machine's
  daemon is the only writer of its own live rows, so a machine never reads
  back and overwrites what it charged itself; the household's use of a day is
  the sum over machines;
- cooldowns, grants, locks and time requests are the household's;
- sessions, their days and the crash snapshot carry the machine that runs them
  (session numbers are per machine); the snapshot's ``heartbeat`` is the
  server's clock at the last checkpoint and ``remaining_s`` the time the
  session had left then, so other machines can count a silent one; ``pause``
  says its clock stands still (its child is away: rule 12), why and since when;
- the audit log is one table of several hash chains (``chains``): one per
  machine, and one per imported SQLite log (kept in SQLite's own formula);
- ``children`` holds one row per child that a launch locks (``FOR UPDATE``), so
  two machines never decide launches for the same child at once;
- ``journal_marks`` is the last local-journal record of each machine applied
  here: a record is applied exactly once, whatever is replayed.
"""

from __future__ import annotations

# Taken by every migration: two daemons starting at once migrate one after the other.
MIGRATION_LOCK = 0x5348_4550  # "SHEP"
MACHINE_LOCK = 0x4D41_4348  # "MACH": (MACHINE_LOCK, hashtext(machine)) is a machine's name

MIGRATIONS: tuple[str, ...] = (
    # 1: the household's core.
    """
    CREATE TABLE meta (
        machine TEXT NOT NULL,            -- '' for the household's own keys
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (machine, key)
    );

    CREATE TABLE chains (
        chain TEXT PRIMARY KEY,           -- a machine's name, or "NAME/imported"
        machine TEXT NOT NULL,
        formula TEXT NOT NULL CHECK (formula IN ('household', 'sqlite')),
        anchor_n BIGINT NOT NULL DEFAULT 0,
        anchor_hash TEXT NOT NULL,
        head_n BIGINT NOT NULL DEFAULT 0,
        head_hash TEXT NOT NULL
    );

    CREATE TABLE audit (
        seq BIGSERIAL PRIMARY KEY,        -- the household's order (paging cursor)
        chain TEXT NOT NULL REFERENCES chains (chain),
        n BIGINT NOT NULL,                -- the row's place in its chain
        machine TEXT NOT NULL,
        ts TEXT COLLATE "C" NOT NULL,     -- ISO 8601, UTC: compared as text
        type TEXT NOT NULL,
        child TEXT,
        entry TEXT,
        actor TEXT NOT NULL,
        data TEXT NOT NULL,               -- JSON object, exactly as hashed
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        UNIQUE (chain, n)
    );
    CREATE INDEX audit_ts ON audit (ts);
    CREATE INDEX audit_type ON audit (type, seq);
    CREATE INDEX audit_child ON audit (child, seq);
    CREATE INDEX audit_entry ON audit (entry, seq);

    CREATE TABLE usage (
        child TEXT NOT NULL,
        entry TEXT NOT NULL,
        day DATE NOT NULL,                -- quota day
        machine TEXT NOT NULL,
        origin TEXT NOT NULL DEFAULT 'live' CHECK (origin IN ('live', 'imported')),
        seconds DOUBLE PRECISION NOT NULL CHECK (seconds >= 0),
        PRIMARY KEY (child, entry, day, machine, origin)
    );
    CREATE INDEX usage_day ON usage (day);

    CREATE TABLE cooldowns (
        child TEXT NOT NULL,
        entry TEXT NOT NULL,
        until TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (child, entry)
    );

    CREATE TABLE grants (
        id BIGSERIAL PRIMARY KEY,
        child TEXT NOT NULL,
        target TEXT NOT NULL,             -- entry or group id
        day DATE NOT NULL,
        seconds INTEGER NOT NULL CHECK (seconds <> 0),
        actor TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        granted_at TEXT NOT NULL,
        machine TEXT NOT NULL,
        source TEXT UNIQUE                -- "MACHINE/imported/ID" for a copied grant
    );
    CREATE INDEX grants_day ON grants (day, child, target);

    CREATE TABLE sessions (
        machine TEXT NOT NULL,
        id BIGINT NOT NULL,
        child TEXT NOT NULL,
        entry TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        end_reason TEXT,
        charged_s DOUBLE PRECISION NOT NULL DEFAULT 0,
        extension_s INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (machine, id)
    );
    CREATE INDEX sessions_running ON sessions (child) WHERE ended_at IS NULL;

    CREATE TABLE session_days (
        machine TEXT NOT NULL,
        session_id BIGINT NOT NULL,
        day DATE NOT NULL,
        seconds DOUBLE PRECISION NOT NULL CHECK (seconds >= 0),
        PRIMARY KEY (machine, session_id, day),
        FOREIGN KEY (machine, session_id) REFERENCES sessions (machine, id)
    );

    CREATE TABLE snapshot (
        machine TEXT NOT NULL,
        session_id BIGINT NOT NULL,
        boot_id TEXT NOT NULL,
        started_mono DOUBLE PRECISION NOT NULL,
        charged_mono DOUBLE PRECISION NOT NULL,
        lease_day DATE,
        lease_s DOUBLE PRECISION NOT NULL DEFAULT 0,
        fired TEXT NOT NULL DEFAULT '[]',
        process TEXT NOT NULL DEFAULT '{}',
        checkpoint_at TEXT NOT NULL,
        heartbeat TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),  -- the server's clock
        remaining_s DOUBLE PRECISION,     -- time left at the heartbeat; NULL: no limit
        PRIMARY KEY (machine, session_id),
        FOREIGN KEY (machine, session_id) REFERENCES sessions (machine, id)
    );

    CREATE TABLE requests (
        id BIGSERIAL PRIMARY KEY,
        child TEXT NOT NULL,
        entry TEXT NOT NULL,
        seconds INTEGER NOT NULL CHECK (seconds > 0),
        note TEXT NOT NULL DEFAULT '',
        requested_at TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'approved', 'declined')),
        answered_at TEXT,
        answered_by TEXT,
        granted_s INTEGER,
        machine TEXT NOT NULL,
        source TEXT UNIQUE
    );
    CREATE INDEX requests_state ON requests (state, id);

    CREATE TABLE locks (
        child TEXT PRIMARY KEY,
        locked_at TEXT NOT NULL,
        actor TEXT NOT NULL,
        machine TEXT NOT NULL
    );

    CREATE TABLE children (
        child TEXT PRIMARY KEY
    );

    CREATE TABLE journal_marks (
        machine TEXT PRIMARY KEY,
        seq BIGINT NOT NULL
    );

    CREATE TABLE imports (
        machine TEXT PRIMARY KEY,         -- whose SQLite history was copied in
        source TEXT NOT NULL,             -- the file it came from
        head_n BIGINT NOT NULL,           -- its audit log's last row copied
        head_hash TEXT NOT NULL,
        copied_at TEXT NOT NULL
    );
    """,
    # 2: a running session's clock stands still while its child is away (rule 12):
    # the paused time so far, so an adopted session keeps it (as SQLite's migration 5),
    # and its pause now (JSON: cause and since; NULL: counted), so other machines count
    # no unseen use for it and show it paused.
    """
    ALTER TABLE snapshot ADD COLUMN paused_s DOUBLE PRECISION NOT NULL DEFAULT 0;
    ALTER TABLE snapshot ADD COLUMN pause TEXT;
    """,
    # 3: time added may stop counting before its day ends (``expires_at``: --until a
    # time), or be given for the rest of the week (``week``), as SQLite's migration 6;
    # ``expiry_noted``: the expiry is in the audit log (by whichever machine saw it first).
    """
    ALTER TABLE grants ADD COLUMN expires_at TIMESTAMPTZ;
    ALTER TABLE grants ADD COLUMN week BOOLEAN NOT NULL DEFAULT false;
    ALTER TABLE grants ADD COLUMN expiry_noted BOOLEAN NOT NULL DEFAULT false;
    """,
    # 4: what an expired grant paid for, noted with its expiry (by the machine that noted
    # it), and its target's use that day when it was given, as SQLite's migration 7;
    # NULL on an older row: it pays for nothing.
    """
    ALTER TABLE grants ADD COLUMN paid_s DOUBLE PRECISION;
    ALTER TABLE grants ADD COLUMN used_before_s DOUBLE PRECISION;
    """,
    # 5: of a take-back or set, the week's time it set aside for its day, as SQLite's
    # migration 8 (ledger10); 0 on an older row.
    """
    ALTER TABLE grants ADD COLUMN aside_s INTEGER NOT NULL DEFAULT 0;
    """,
    # 6: of a change of a day's own time, the day's use its own time had not paid for
    # then, as SQLite's migration 9 (review-1215-s10); 0 on an older row.
    """
    ALTER TABLE grants ADD COLUMN beyond_s INTEGER NOT NULL DEFAULT 0;
    """,
    # 7: of time given until a moment, the day's use its own time had not paid for when
    # it was given, as SQLite's migration 10 (ledger11b); 0 on an older row.
    """
    ALTER TABLE grants ADD COLUMN beyond_before_s DOUBLE PRECISION NOT NULL DEFAULT 0;
    """,
    # 8: of a take-back or a set, what of its day's time added for today was used then,
    # as SQLite's migration 11 (low17, Engine.kept); 0 on an older row (split by the net).
    """
    ALTER TABLE grants ADD COLUMN kept_s INTEGER NOT NULL DEFAULT 0;
    """,
    # 9: of the day's own time, what its words raised and took, as
    # SQLite's migration 12 (Engine.raises); 0 on an older row.
    """
    ALTER TABLE grants ADD COLUMN raised_s INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE grants ADD COLUMN took_s INTEGER NOT NULL DEFAULT 0;
    """,
    # 10: with those, what was given for the week since the day's last set, as SQLite's
    # migration 13 (DayRaises.week); 0 on an older row.
    """
    ALTER TABLE grants ADD COLUMN week_s INTEGER NOT NULL DEFAULT 0;
    """,
    # 11: of a running session, what it ran past its deadline up to ``charged_mono``, not
    # charged, as SQLite's migration 14 (review-14-s23 F1); 0 on an older row.
    """
    ALTER TABLE snapshot ADD COLUMN past_deadline_s DOUBLE PRECISION NOT NULL DEFAULT 0;
    """,
    # 12: the raises time given for the week since ended the count of, as SQLite's
    # migration 15 (DayRaises.under); 0 on an older row.
    """
    ALTER TABLE grants ADD COLUMN under_s INTEGER NOT NULL DEFAULT 0;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
