"""The one place that knows the SQL schema: numbered forward migrations.

``PRAGMA user_version`` records the last migration applied. A file with a newer
version than the code knows is refused (never downgraded, never touched).
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: the core: audit log, usage, cooldowns, grants, sessions, crash snapshot, meta.
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,                 -- ISO 8601, UTC
        type TEXT NOT NULL,
        user TEXT,
        entry TEXT,
        actor TEXT NOT NULL,
        data TEXT NOT NULL,               -- JSON object
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX audit_ts ON audit(ts);

    CREATE TABLE usage (
        user TEXT NOT NULL,
        entry TEXT NOT NULL,
        day TEXT NOT NULL,                -- quota day, YYYY-MM-DD
        seconds REAL NOT NULL CHECK (seconds >= 0),
        PRIMARY KEY (user, entry, day)
    ) WITHOUT ROWID;

    CREATE TABLE cooldowns (
        user TEXT NOT NULL,
        entry TEXT NOT NULL,
        until TEXT NOT NULL,
        PRIMARY KEY (user, entry)
    ) WITHOUT ROWID;

    CREATE TABLE grants (
        id INTEGER PRIMARY KEY,
        user TEXT NOT NULL,
        target TEXT NOT NULL,             -- entry or group id
        day TEXT NOT NULL,
        seconds INTEGER NOT NULL CHECK (seconds > 0),
        actor TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        granted_at TEXT NOT NULL
    );
    CREATE INDEX grants_day ON grants(day, user, target);

    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        user TEXT NOT NULL,
        entry TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        end_reason TEXT,
        charged_s REAL NOT NULL DEFAULT 0,
        extension_s INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX sessions_started ON sessions(started_at);

    CREATE TABLE session_days (
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        day TEXT NOT NULL,
        seconds REAL NOT NULL CHECK (seconds >= 0),
        PRIMARY KEY (session_id, day)
    ) WITHOUT ROWID;

    CREATE TABLE snapshot (
        session_id INTEGER PRIMARY KEY REFERENCES sessions(id),
        boot_id TEXT NOT NULL,
        started_mono REAL NOT NULL,
        charged_mono REAL NOT NULL,       -- monotonic reading of the last checkpoint
        lease_day TEXT,                   -- the second charged ahead, settled at the end
        lease_s REAL NOT NULL DEFAULT 0,
        fired TEXT NOT NULL DEFAULT '[]', -- warning thresholds already issued
        process TEXT NOT NULL DEFAULT '{}', -- how to find the processes (pids, unit)
        checkpoint_at TEXT NOT NULL
    );
    """,
    # 2: time requests, locks, and the indexes a filtered audit page needs.
    """
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        user TEXT NOT NULL,
        entry TEXT NOT NULL,
        seconds INTEGER NOT NULL CHECK (seconds > 0),
        note TEXT NOT NULL DEFAULT '',
        requested_at TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'approved', 'declined')),
        answered_at TEXT,
        answered_by TEXT,
        granted_s INTEGER
    );
    CREATE INDEX requests_state ON requests(state, id);

    CREATE TABLE locks (
        user TEXT PRIMARY KEY,
        locked_at TEXT NOT NULL,
        actor TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE INDEX audit_type ON audit(type, id);
    CREATE INDEX audit_user ON audit(user, id);
    CREATE INDEX audit_entry ON audit(entry, id);
    """,
    # 3: a trigram full-text index of the audit log, so `audit --text` finds a rare
    # substring without reading the whole log. Written by the append code (no
    # triggers, so the plain sqlite3 tool can still edit the log), used only as a
    # prefilter: every hit is checked against the row itself.
    """
    CREATE VIRTUAL TABLE audit_text USING fts5(
        body, content='', contentless_delete=1, tokenize='trigram');
    INSERT INTO audit_text (rowid, body)
        SELECT id, type || ' ' || actor || ' ' || data FROM audit;
    """,
    # 4: a grant may take time back (-15m) or set the day's allowance (=1h): its
    # seconds are the change to the day's grants, negative when time was taken.
    """
    CREATE TABLE grants_signed (
        id INTEGER PRIMARY KEY,
        user TEXT NOT NULL,
        target TEXT NOT NULL,             -- entry or group id
        day TEXT NOT NULL,
        seconds INTEGER NOT NULL CHECK (seconds <> 0),
        actor TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        granted_at TEXT NOT NULL
    );
    INSERT INTO grants_signed SELECT id, user, target, day, seconds, actor, reason, granted_at
        FROM grants;
    DROP TABLE grants;
    ALTER TABLE grants_signed RENAME TO grants;
    CREATE INDEX grants_day ON grants(day, user, target);
    """,
    # 5: a running session's clock stands still while its child is away (locked,
    # idle, switched away): the paused time so far, so an adopted session keeps it.
    """
    ALTER TABLE snapshot ADD COLUMN paused_s REAL NOT NULL DEFAULT 0;
    """,
    # 6: time added may stop counting before its day ends (``expires_at``: --until a
    # time), or be given for the rest of the week (``week``: usable on any of its days
    # until the week's end); ``expiry_noted``: the expiry is in the audit log.
    """
    ALTER TABLE grants ADD COLUMN expires_at TEXT;
    ALTER TABLE grants ADD COLUMN week INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE grants ADD COLUMN expiry_noted INTEGER NOT NULL DEFAULT 0;
    """,
    # 7: what an expired grant paid for (its seconds less what went unused), noted with
    # its expiry: what it counts for from then on; and its target's use that day when
    # it was given (it pays for none of the use before). NULL on an older row: it pays
    # for nothing (an expired grant never gives time back).
    """
    ALTER TABLE grants ADD COLUMN paid_s REAL;
    ALTER TABLE grants ADD COLUMN used_before_s REAL;
    """,
    # 8: of a take-back or set (a row without an expiry), the week's time a set set
    # aside for its day (positive), or an aside a take-back of the week's time freed
    # (negative): ``seconds`` holds it taken off, so the day's own time changed by
    # ``seconds + aside_s`` (ledger10). 0 on an older row.
    """
    ALTER TABLE grants ADD COLUMN aside_s INTEGER NOT NULL DEFAULT 0;
    """,
    # 9: of a change of a day's own time (time added for today, a take-back, a set), the
    # day's use its own time had not paid for at that moment (time given until a moment
    # and the week's time had): the day never counts less afterwards, so time added
    # later pays for no use made before it (review-1215-s10). 0 on an older row.
    """
    ALTER TABLE grants ADD COLUMN beyond_s INTEGER NOT NULL DEFAULT 0;
    """,
    # 10: of time given until a moment, the day's use its own time had not paid for when
    # it was given (the week's time and time given until a moment before it had): it
    # pays for none of it (ledger11b). 0 on an older row (not known: as before).
    """
    ALTER TABLE grants ADD COLUMN beyond_before_s REAL NOT NULL DEFAULT 0;
    """,
    # 11: of a take-back or a set on a day with a daily and a weekly quota, what of the
    # day's time added for today was used at that moment: it stays added, the cut took
    # the quota's part (low17, Engine.kept). 0 on an older row: the day's own time
    # splits by its net grants, as it did.
    """
    ALTER TABLE grants ADD COLUMN kept_s INTEGER NOT NULL DEFAULT 0;
    """,
    # 12: of a change of a day's own time, what the day's words raised and took of it as
    # the change leaves it (Engine.raises, grants.py DayRaises: what its raises gave, what
    # take-backs took that no add gave back; a set that lowers the day takes what its
    # raises gave back first). 0 on an older row: such a set sets the week's time aside
    # first, as before.
    """
    ALTER TABLE grants ADD COLUMN raised_s INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE grants ADD COLUMN took_s INTEGER NOT NULL DEFAULT 0;
    """,
    # 13: with those, what was given for the week on the day since its last set that no
    # take-back of the week's time took back (DayRaises.week: such a take-back takes it
    # before what a set set aside). 0 on an older row: it takes what a set set aside
    # first, as before.
    """
    ALTER TABLE grants ADD COLUMN week_s INTEGER NOT NULL DEFAULT 0;
    """,
    # 14: of a running session, what it ran past its deadline up to ``charged_mono``, not
    # charged (rule 6: the stop's grace after its deadline's SIGTERM): its end says so
    # after a crash too, where the crash lost the memory of it (review-14-s23 F1). 0 on
    # an older row (nothing known: as before).
    """
    ALTER TABLE snapshot ADD COLUMN past_deadline_s REAL NOT NULL DEFAULT 0;
    """,
    # 15: with the day's raises, those that time given for the week since ended the count
    # of (DayRaises.under): raises again as that time is taken back. 0 on an older row:
    # a take-back of that time leaves them the day's own, as before.
    """
    ALTER TABLE grants ADD COLUMN under_s INTEGER NOT NULL DEFAULT 0;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
