"""Numbered schema migrations (sqlite-utils ``Migrations``), applied idempotently.

Never edit a migration that has shipped: add the next one. Tests build a database at
every earlier version (``stop_before``) and upgrade it.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

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
    """Every table of the data model in DESIGN.md."""
    # executescript would COMMIT the migration's transaction; run statements one by one.
    for stmt in _SCHEMA_0001.split(";"):
        if stmt.strip():
            db.execute(stmt)


SCHEMA_VERSION = len(migrations._migrations)


def migrate(db: sqlite_utils.Database) -> None:
    """Apply pending migrations; a no-op on an up-to-date database."""
    migrations.apply(db)


def applied(db: sqlite_utils.Database) -> list[str]:
    """Names of the migrations applied to ``db``, oldest first."""
    return [m.name for m in migrations.applied(db)]
