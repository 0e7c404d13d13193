"""Routing, leases, labels and events: the hot path of the label page.

Every function that writes takes the raw connection of an open ``BEGIN IMMEDIATE``
transaction (``db.write_transaction``), so the read that picks a sentence and the
lease that reserves it cannot interleave with another annotator's.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Sequence

import sqlite_utils

# Candidate scan: walks the partial index of sentences that still need labels, in
# routing order, and skips those this annotator already did or that are full once
# other people's live leases are counted. Each check is a primary-key probe.
_NEXT_SQL = """
SELECT s.id FROM sentences AS s INDEXED BY sentences_open
WHERE s.kind = 'content' AND s.n_done < s.target AND s.ord >= :from_ord
  AND NOT EXISTS (SELECT 1 FROM annotations AS a
                  WHERE a.sentence_id = s.id AND a.annotator_id = :me)
  AND s.n_done + (SELECT count(*) FROM assignments AS l
                  WHERE l.sentence_id = s.id AND l.annotator_id != :me
                    AND l.expires_at > :now) < s.target
ORDER BY s.ord, s.id
LIMIT 1
"""


# ----------------------------------------------------------------------------- annotators


def get_annotator(db: sqlite_utils.Database, name: str) -> dict | None:
    """The annotator row (id, name, role, password_hash, created_at) or None."""
    rows = list(db.query("SELECT * FROM annotators WHERE name = ?", [name]))
    return rows[0] if rows else None


def insert_annotator(conn: sqlite3.Connection, name: str, role: str,
                     password_hash: str | None, now: str) -> int:
    """Create an annotator; raises sqlite3.IntegrityError when the name exists."""
    cur = conn.execute(
        "INSERT INTO annotators (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
        [name, role, password_hash, now])
    return int(cur.lastrowid)


def update_annotator(conn: sqlite3.Connection, name: str, *, role: str | None = None,
                     password_hash: str | None = None) -> None:
    """Change an existing annotator's role and/or password hash."""
    if role is not None:
        conn.execute("UPDATE annotators SET role = ? WHERE name = ?", [role, name])
    if password_hash is not None:
        conn.execute("UPDATE annotators SET password_hash = ? WHERE name = ?",
                     [password_hash, name])


def list_annotators(db: sqlite_utils.Database) -> list[dict]:
    """All annotators with their label counts (no password hashes)."""
    return list(db.query(
        "SELECT n.id, n.name, n.role, n.password_hash IS NOT NULL AS has_password, "
        "n.created_at, (SELECT count(*) FROM annotations a WHERE a.annotator_id = n.id "
        "AND a.status = 'labeled') AS labels FROM annotators n ORDER BY n.name"))


# ----------------------------------------------------------------------------- routing


def held_lease(conn: sqlite3.Connection, annotator_id: int, now: float) -> int | None:
    """The sentence this annotator holds a live lease on and has not finished, if any."""
    row = conn.execute(
        "SELECT l.sentence_id FROM assignments l WHERE l.annotator_id = ? AND l.expires_at > ? "
        "AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.sentence_id = l.sentence_id "
        "AND a.annotator_id = l.annotator_id) LIMIT 1", [annotator_id, now]).fetchone()
    return row[0] if row else None


def cursor_ord(conn: sqlite3.Connection, annotator_id: int) -> int | None:
    """Routing position of the annotator's most recent action (where to resume)."""
    row = conn.execute(
        "SELECT s.ord FROM annotations a JOIN sentences s ON s.id = a.sentence_id "
        "WHERE a.annotator_id = ? ORDER BY a.updated_at DESC LIMIT 1", [annotator_id]).fetchone()
    return row[0] if row else None


def find_open(conn: sqlite3.Connection, annotator_id: int, now: float,
              from_ord: int | None) -> int | None:
    """First sentence at or after ``from_ord`` that this annotator may take."""
    row = conn.execute(_NEXT_SQL, {"me": annotator_id, "now": now,
                                   "from_ord": -(2**63) if from_ord is None else from_ord}
                       ).fetchone()
    return row[0] if row else None


def take_lease(conn: sqlite3.Connection, annotator_id: int, sentence_id: int,
               expires_at: float) -> None:
    """Reserve ``sentence_id`` for the annotator (one live lease per annotator)."""
    conn.execute("DELETE FROM assignments WHERE annotator_id = ? AND sentence_id != ?",
                 [annotator_id, sentence_id])
    conn.execute(
        "INSERT INTO assignments (sentence_id, annotator_id, expires_at) VALUES (?, ?, ?) "
        "ON CONFLICT (sentence_id, annotator_id) DO UPDATE SET expires_at = excluded.expires_at",
        [sentence_id, annotator_id, expires_at])


def release_lease(conn: sqlite3.Connection, annotator_id: int, sentence_id: int) -> None:
    conn.execute("DELETE FROM assignments WHERE annotator_id = ? AND sentence_id = ?",
                 [annotator_id, sentence_id])


def purge_expired_leases(conn: sqlite3.Connection, now: float) -> int:
    """Delete leases that have expired; returns how many."""
    return conn.execute("DELETE FROM assignments WHERE expires_at <= ?", [now]).rowcount


def seats(conn: sqlite3.Connection, sentence_id: int, annotator_id: int,
          now: float) -> tuple[int, int, int]:
    """``(target, n_done, live leases by others)`` for one sentence."""
    row = conn.execute(
        "SELECT s.target, s.n_done, (SELECT count(*) FROM assignments l WHERE "
        "l.sentence_id = s.id AND l.annotator_id != ? AND l.expires_at > ?) "
        "FROM sentences s WHERE s.id = ?", [annotator_id, now, sentence_id]).fetchone()
    if row is None:
        raise KeyError(sentence_id)
    return row[0], row[1], row[2]


# ----------------------------------------------------------------------------- writes


def get_annotation(conn: sqlite3.Connection | sqlite_utils.Database, sentence_id: int,
                   annotator_id: int) -> dict | None:
    """The current annotation of one (sentence, annotator), labels decoded."""
    c = conn.conn if isinstance(conn, sqlite_utils.Database) else conn
    cur = c.execute("SELECT * FROM annotations WHERE sentence_id = ? AND annotator_id = ?",
                    [sentence_id, annotator_id])
    row = cur.fetchone()
    if row is None:
        return None
    d = dict(zip([col[0] for col in cur.description], row))
    d["labels"] = json.loads(d["labels"]) if d["labels"] else []
    return d


def insert_event(conn: sqlite3.Connection, *, action: str, sentence_id: int,
                 annotator_id: int, labels: Sequence[str] | None, note: str | None,
                 duration_ms: int | None, guidelines_version: str | None, source: str,
                 created_at: str) -> int:
    """Append one event (never updated or deleted); returns its id."""
    cur = conn.execute(
        "INSERT INTO events (action, sentence_id, annotator_id, labels, note, duration_ms, "
        "guidelines_version, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [action, sentence_id, annotator_id,
         None if labels is None else json.dumps(list(labels), ensure_ascii=False),
         note, duration_ms, guidelines_version, source, created_at])
    return int(cur.lastrowid)


def upsert_annotation(conn: sqlite3.Connection, *, sentence_id: int, annotator_id: int,
                      status: str, labels: Sequence[str] | None, flagged: bool,
                      note: str | None, duration_ms: int | None,
                      guidelines_version: str | None, source: str, event_id: int,
                      now: str) -> None:
    """Set the current annotation (``created_at`` keeps the first action's time)."""
    conn.execute(
        "INSERT INTO annotations (sentence_id, annotator_id, status, labels, flagged, note, "
        "duration_ms, guidelines_version, source, event_id, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (sentence_id, annotator_id) DO UPDATE SET status = excluded.status, "
        "labels = excluded.labels, flagged = excluded.flagged, note = excluded.note, "
        "duration_ms = excluded.duration_ms, guidelines_version = excluded.guidelines_version, "
        "source = excluded.source, event_id = excluded.event_id, "
        "updated_at = excluded.updated_at",
        [sentence_id, annotator_id, status,
         None if labels is None else json.dumps(list(labels), ensure_ascii=False),
         int(flagged), note, duration_ms, guidelines_version, source, event_id, now, now])


def bump_done(conn: sqlite3.Connection, sentence_id: int, delta: int) -> None:
    """Keep ``sentences.n_done`` equal to the sentence's labeled annotations."""
    if delta:
        conn.execute("UPDATE sentences SET n_done = n_done + ? WHERE id = ?", [delta, sentence_id])


def labeled_sets(conn: sqlite3.Connection, sentence_id: int) -> list[list[str]]:
    """The label lists of every labeled annotation of one sentence."""
    return [json.loads(r[0]) for r in conn.execute(
        "SELECT labels FROM annotations WHERE sentence_id = ? AND status = 'labeled'",
        [sentence_id])]


def gold_source(conn: sqlite3.Connection, sentence_id: int) -> str | None:
    row = conn.execute("SELECT source FROM gold WHERE sentence_id = ?", [sentence_id]).fetchone()
    return row[0] if row else None


def set_gold(conn: sqlite3.Connection, *, sentence_id: int, labels: Sequence[str], source: str,
             reviewer_id: int | None, rationale: str | None, event_id: int | None,
             now: str) -> None:
    """Write the gold label of a sentence (replaces any previous one)."""
    conn.execute(
        "INSERT INTO gold (sentence_id, labels, source, reviewer_id, rationale, event_id, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sentence_id) DO UPDATE SET "
        "labels = excluded.labels, source = excluded.source, reviewer_id = excluded.reviewer_id, "
        "rationale = excluded.rationale, event_id = excluded.event_id, "
        "updated_at = excluded.updated_at",
        [sentence_id, json.dumps(sorted(labels), ensure_ascii=False), source, reviewer_id,
         rationale, event_id, now])


def delete_gold(conn: sqlite3.Connection, sentence_id: int, source: str) -> None:
    """Remove a gold label of the given source (e.g. a unanimity that no longer holds)."""
    conn.execute("DELETE FROM gold WHERE sentence_id = ? AND source = ?", [sentence_id, source])


# ----------------------------------------------------------------------------- reads


def sentence_with_context(db: sqlite_utils.Database, sentence_id: int) -> dict | None:
    """A sentence, its article's headline and id, and its previous / next content
    sentences (text only) for context."""
    rows = list(db.query(
        "SELECT s.id, s.idx, s.text, s.kind, s.article_id, a.external_id, a.title, "
        "(SELECT p.text FROM sentences p WHERE p.article_id = s.article_id AND p.idx < s.idx "
        " AND p.kind = 'content' ORDER BY p.idx DESC LIMIT 1) AS before, "
        "(SELECT n.text FROM sentences n WHERE n.article_id = s.article_id AND n.idx > s.idx "
        " AND n.kind = 'content' ORDER BY n.idx LIMIT 1) AS after "
        "FROM sentences s JOIN articles a ON a.id = s.article_id WHERE s.id = ?", [sentence_id]))
    return rows[0] if rows else None


def recent_history(db: sqlite_utils.Database, annotator_id: int, limit: int = 50) -> list[int]:
    """Sentence ids of the annotator's latest actions, oldest first (for Back)."""
    ids = [r[0] for r in db.execute(
        "SELECT sentence_id FROM annotations WHERE annotator_id = ? "
        "ORDER BY updated_at DESC LIMIT ?", [annotator_id, limit])]
    return ids[::-1]


def annotator_progress(db: sqlite_utils.Database, annotator_id: int, today_prefix: str) -> dict:
    """The annotator's labeled items: total, today (``updated_at`` starts with the day)."""
    total = db.execute("SELECT count(*) FROM annotations WHERE annotator_id = ? "
                       "AND status = 'labeled'", [annotator_id]).fetchone()[0]
    today = db.execute("SELECT count(*) FROM annotations WHERE annotator_id = ? "
                       "AND status = 'labeled' AND updated_at >= ?",
                       [annotator_id, today_prefix]).fetchone()[0]
    return {"total": total, "today": today}


def project_progress(db: sqlite_utils.Database) -> dict:
    """Content sentences with enough labels (n_done >= target) and all content sentences."""
    row = db.execute("SELECT count(*), coalesce(sum(n_done >= target), 0) FROM sentences "
                     "WHERE kind = 'content'").fetchone()
    return {"content_sentences": row[0], "complete": row[1]}


def data_version(db: sqlite_utils.Database) -> tuple[int, int]:
    """Changes whenever labels, gold or the corpus change: (last event id, sentence count
    high-water mark). Cheap: two rowid lookups."""
    e = db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
    s = db.execute("SELECT coalesce(max(id), 0) FROM sentences").fetchone()[0]
    return int(e), int(s)


def set_targets(conn: sqlite3.Connection, target: int) -> None:
    """Set every content sentence's target annotator count."""
    conn.execute("UPDATE sentences SET target = ? WHERE kind = 'content'", [target])


def reorder(conn: sqlite3.Connection, keys: Sequence[tuple[int, int]]) -> None:
    """Set ``ord`` from ``(ord, id)`` pairs (routing order changed)."""
    conn.executemany("UPDATE sentences SET ord = ? WHERE id = ?", keys)


def all_sentence_ids(db: sqlite_utils.Database) -> list[int]:
    return [r[0] for r in db.execute("SELECT id FROM sentences ORDER BY id")]

