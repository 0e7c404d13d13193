"""Numbered schema migrations (sqlite-utils ``Migrations``), applied idempotently.

Never edit a migration that has shipped: add the next one. Tests build a database at
every earlier version (``stop_before``) and upgrade it.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

from db.connection import DatabaseError

migrations = Migrations("parley")

_SCHEMA_0001 = """
CREATE TABLE articles (
    id            INTEGER PRIMARY KEY,
    external_id   TEXT NOT NULL UNIQUE,
    title         TEXT,
    source        TEXT,
    url           TEXT,
    published_at  TEXT,
    text          TEXT NOT NULL,
    sha256        TEXT NOT NULL UNIQUE,
    meta          TEXT NOT NULL DEFAULT '{}',
    imported_at   TEXT NOT NULL
);

-- One row per segmented unit. ``target`` is how many annotators this sentence should
-- get (overlap for the reliability sample, possibly 1 elsewhere). ``n_done`` counts its
-- finished (labeled) annotations and is kept in step with ``annotations`` inside the
-- same transaction, so routing never has to count rows.
CREATE TABLE sentences (
    id          INTEGER PRIMARY KEY,
    article_id  INTEGER NOT NULL REFERENCES articles(id),
    idx         INTEGER NOT NULL,
    start       INTEGER NOT NULL,
    "end"       INTEGER NOT NULL,
    text        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('content', 'boilerplate')),
    target      INTEGER NOT NULL DEFAULT 2 CHECK (target >= 0),
    n_done      INTEGER NOT NULL DEFAULT 0 CHECK (n_done >= 0),
    ord         INTEGER NOT NULL DEFAULT 0,
    UNIQUE (article_id, idx)
);
-- Routing scans only sentences that still need labels, in routing order.
CREATE INDEX sentences_open ON sentences (ord, id)
    WHERE kind = 'content' AND n_done < target;

CREATE TABLE annotators (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    role           TEXT NOT NULL DEFAULT 'annotator'
                   CHECK (role IN ('annotator', 'reviewer', 'admin')),
    password_hash  TEXT,
    created_at     TEXT NOT NULL
);

-- Append-only log of every action. Never updated or deleted.
CREATE TABLE events (
    id                  INTEGER PRIMARY KEY,
    action              TEXT NOT NULL
                        CHECK (action IN ('label', 'skip', 'flag', 'unflag', 'undo',
                                          'adjudicate', 'unadjudicate')),
    sentence_id         INTEGER NOT NULL REFERENCES sentences(id),
    annotator_id        INTEGER NOT NULL REFERENCES annotators(id),
    labels              TEXT,            -- JSON list of label names, or NULL
    note                TEXT,
    duration_ms         INTEGER,
    guidelines_version  TEXT,
    source              TEXT NOT NULL DEFAULT 'app',   -- app | cli | import:<file>
    created_at          TEXT NOT NULL
);
CREATE INDEX events_sentence ON events (sentence_id);
CREATE INDEX events_annotator ON events (annotator_id, created_at);

-- Current state per (sentence, annotator), written in the same transaction as its event.
CREATE TABLE annotations (
    sentence_id         INTEGER NOT NULL REFERENCES sentences(id),
    annotator_id        INTEGER NOT NULL REFERENCES annotators(id),
    status              TEXT NOT NULL CHECK (status IN ('labeled', 'skipped')),
    labels              TEXT,            -- JSON list (status = labeled)
    flagged             INTEGER NOT NULL DEFAULT 0,
    note                TEXT,
    duration_ms         INTEGER,
    guidelines_version  TEXT,
    source              TEXT NOT NULL DEFAULT 'app',
    event_id            INTEGER NOT NULL REFERENCES events(id),
    created_at          TEXT NOT NULL,   -- first action on this item
    updated_at          TEXT NOT NULL,
    PRIMARY KEY (sentence_id, annotator_id)
) WITHOUT ROWID;
CREATE INDEX annotations_annotator ON annotations (annotator_id, updated_at);

-- Leases: who currently holds which sentence, so overlap is never exceeded.
CREATE TABLE assignments (
    sentence_id   INTEGER NOT NULL REFERENCES sentences(id),
    annotator_id  INTEGER NOT NULL REFERENCES annotators(id),
    expires_at    REAL NOT NULL,          -- unix seconds
    PRIMARY KEY (sentence_id, annotator_id)
) WITHOUT ROWID;
CREATE INDEX assignments_annotator ON assignments (annotator_id);

CREATE TABLE gold (
    sentence_id  INTEGER PRIMARY KEY REFERENCES sentences(id),
    labels       TEXT NOT NULL,          -- JSON list
    source       TEXT NOT NULL CHECK (source IN ('adjudicated', 'unanimous', 'majority')),
    reviewer_id  INTEGER REFERENCES annotators(id),
    rationale    TEXT,
    event_id     INTEGER REFERENCES events(id),
    updated_at   TEXT NOT NULL
);
CREATE INDEX gold_source ON gold (source);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL                 -- JSON
);
"""


@migrations(name="0001_initial")
def m0001_initial(db: sqlite_utils.Database) -> None:
    """Every table of the data model (docs/architecture.md)."""
    # executescript would COMMIT the migration's transaction; run statements one by one.
    for stmt in _SCHEMA_0001.split(";"):
        if stmt.strip():
            db.execute(stmt)


_SCHEMA_0002 = """
-- Each annotator's routing cursor: the sentence last routed to them. Routing resumes
-- there and walks forward, so relabeling an old sentence (Back) does not send them back
-- over everything they did since.
ALTER TABLE annotators ADD COLUMN cursor_sentence INTEGER;
-- Labeled annotations per annotator, kept by the triggers below.
ALTER TABLE annotators ADD COLUMN n_labeled INTEGER NOT NULL DEFAULT 0;
-- The same index with status added, so "labeled today" is counted from the index alone
-- (the label page shows it on every rerun); history and cursors use its prefix.
DROP INDEX annotations_annotator;
CREATE INDEX annotations_annotator ON annotations (annotator_id, updated_at, status);

-- Project progress without counting a million rows on every page rerun: content
-- sentences and those complete (n_done >= target), for sentences with id <= counted_to.
-- No INSERT trigger (it would double the import's insert time): newly imported
-- sentences (id > counted_to) are counted on the next read (db.labels.project_progress),
-- an index range over the new rows only. Updates and deletes of counted rows are kept
-- by the triggers below, whoever writes them.
CREATE TABLE project_counts (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    counted_to  INTEGER NOT NULL,
    content     INTEGER NOT NULL,
    complete    INTEGER NOT NULL
);

CREATE TRIGGER sentences_count_update AFTER UPDATE OF n_done, target, kind ON sentences
WHEN (old.kind != new.kind OR (old.n_done >= old.target) != (new.n_done >= new.target))
    AND new.id <= (SELECT counted_to FROM project_counts WHERE id = 1)
BEGIN
    UPDATE project_counts SET
        content = content + (new.kind = 'content') - (old.kind = 'content'),
        complete = complete + (new.kind = 'content' AND new.n_done >= new.target)
                            - (old.kind = 'content' AND old.n_done >= old.target)
    WHERE id = 1;
END;

CREATE TRIGGER sentences_count_delete AFTER DELETE ON sentences
WHEN old.id <= (SELECT counted_to FROM project_counts WHERE id = 1)
BEGIN
    UPDATE project_counts SET
        content = content - (old.kind = 'content'),
        complete = complete - (old.kind = 'content' AND old.n_done >= old.target),
        -- ids above the highest remaining one may be reused by the next import
        counted_to = min(counted_to, (SELECT coalesce(max(id), 0) FROM sentences))
    WHERE id = 1;
END;

CREATE TRIGGER annotations_count_insert AFTER INSERT ON annotations
WHEN new.status = 'labeled'
BEGIN
    UPDATE annotators SET n_labeled = n_labeled + 1 WHERE id = new.annotator_id;
END;

CREATE TRIGGER annotations_count_delete AFTER DELETE ON annotations
WHEN old.status = 'labeled'
BEGIN
    UPDATE annotators SET n_labeled = n_labeled - 1 WHERE id = old.annotator_id;
END;

CREATE TRIGGER annotations_count_update AFTER UPDATE OF status ON annotations
WHEN old.status != new.status
BEGIN
    UPDATE annotators SET n_labeled = n_labeled + (new.status = 'labeled')
        - (old.status = 'labeled') WHERE id = new.annotator_id;
END;

INSERT INTO project_counts (id, counted_to, content, complete)
    SELECT 1, coalesce(max(id), 0), coalesce(sum(kind = 'content'), 0),
           coalesce(sum(kind = 'content' AND n_done >= target), 0) FROM sentences;

UPDATE annotators SET
    n_labeled = (SELECT count(*) FROM annotations a
                 WHERE a.annotator_id = annotators.id AND a.status = 'labeled'),
    cursor_sentence = (SELECT a.sentence_id FROM annotations a
                       WHERE a.annotator_id = annotators.id
                       ORDER BY a.updated_at DESC LIMIT 1);
"""


@migrations(name="0002_routing_cursor_and_counts")
def m0002_routing_cursor_and_counts(db: sqlite_utils.Database) -> None:
    """Routing cursors per annotator; progress counters kept by triggers."""
    for stmt in _split_sql(_SCHEMA_0002):
        db.execute(stmt)


_SCHEMA_0003 = """
-- Names are unique after Unicode case folding (db.annotators.name_key). Not a UNIQUE
-- index: a database from an older version may hold clashes (Alice and alice), which
-- ``check`` reports; new names are refused by the write path under BEGIN IMMEDIATE.
ALTER TABLE annotators ADD COLUMN name_key TEXT;
CREATE INDEX annotators_name_key ON annotators (name_key);
-- Sign-in throttling, shared by every process that serves the project.
ALTER TABLE annotators ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE annotators ADD COLUMN locked_until REAL;

-- Append-only record of project-level actions that are not about one sentence
-- (removing an article, changing a role or password). ``actor`` is the annotator name
-- for actions taken in the app, ``cli:<os user>`` for the command line.
CREATE TABLE project_log (
    id          INTEGER PRIMARY KEY,
    action      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}',   -- JSON
    created_at  TEXT NOT NULL
);
"""


@migrations(name="0003_name_keys_throttle_project_log")
def m0003_name_keys_throttle_project_log(db: sqlite_utils.Database) -> None:
    """Case-folded annotator names, sign-in throttling, the project log."""
    from db.annotators import name_key

    for stmt in _split_sql(_SCHEMA_0003):
        db.execute(stmt)
    rows = db.execute("SELECT id, name FROM annotators").fetchall()
    db.conn.executemany("UPDATE annotators SET name_key = ? WHERE id = ?",
                        [(name_key(name), i) for i, name in rows])


def _split_sql(script: str) -> list[str]:
    """Statements of a script, keeping ``CREATE TRIGGER ... BEGIN ...; END`` whole
    (``sqlite3.complete_statement`` knows where a statement ends)."""
    import sqlite3

    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


SCHEMA_VERSION = len(migrations._migrations)


def migrate(db: sqlite_utils.Database) -> None:
    """Apply pending migrations; a no-op on an up-to-date database.

    Several processes (or Streamlit sessions) may open a new database at once. The
    migrations therefore run inside one ``BEGIN IMMEDIATE`` transaction, which waits
    for the write lock and then re-reads what is pending: sqlite-utils' own deferred
    ``BEGIN`` would fail with "database is locked" or "table already exists" instead.
    (A future ``transactional=False`` migration, e.g. VACUUM, needs its own path.)
    """
    check_known(db)
    if not migrations.pending(db):
        return  # the common case takes no lock
    from db.connection import write_transaction

    with write_transaction(db):
        migrations.apply(db)  # nested: sqlite-utils uses savepoints inside our transaction


class NewerDatabase(DatabaseError):
    """The database was written by a newer Parley (it has migrations this one lacks)."""


def check_known(db: sqlite_utils.Database) -> None:
    """Refuse a database that has migrations this version does not know: writing to it
    with older code could break invariants the newer schema relies on."""
    known = {m.name for m in migrations._migrations}
    unknown = [name for name in applied(db) if name not in known]
    if unknown:
        path = getattr(db, "path", None) or "the database"
        raise NewerDatabase(
            f"{path}: written by a newer version of Parley (schema {len(applied(db))}, this "
            f"version knows {len(known)}; unknown migration(s): {', '.join(unknown)}); "
            "upgrade Parley to open it")


def applied(db: sqlite_utils.Database) -> list[str]:
    """Names of the migrations applied to ``db``, oldest first."""
    return [m.name for m in migrations.applied(db)]
