"""Review queries: the annotations behind the disagreement queue, one sentence's
annotations for adjudication, flagged annotations, and the adjudication write.

The queue itself (unit agreement, order, filters) is computed in NumPy by
``labeling.review`` from the rows these functions return; it is rebuilt from
:func:`queue_rows` once and then refreshed from :func:`changed_sentences` (events
appended since the last refresh), so a decision costs a few index probes, not a scan.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Iterable, Iterator, Sequence

import sqlite_utils

import db.labels as q

# Every annotation the review page may need: labeled annotations of sentences with two
# or more labels that no reviewer has decided yet (queue candidates), and every
# flagged annotation (the flagged list), with the sentence's article. One pass over
# the annotations primary key (sentence order); the sentence and gold lookups are
# primary-key probes.
_ROWS_SQL = """
SELECT a.sentence_id, s.article_id, a.annotator_id,
       CASE WHEN a.status = 'labeled' THEN a.labels END AS labels,
       a.flagged,
       s.n_done >= 2 AND a.status = 'labeled' AND NOT EXISTS (
           SELECT 1 FROM gold g WHERE g.sentence_id = a.sentence_id
           AND g.source = 'adjudicated') AS candidate
FROM annotations a JOIN sentences s ON s.id = a.sentence_id
WHERE (s.n_done >= 2 AND a.status = 'labeled') OR a.flagged = 1
"""
_CHANGED_SQL = "SELECT DISTINCT sentence_id FROM events WHERE id > :after AND id <= :upto"


def _raw(db: sqlite3.Connection | sqlite_utils.Database) -> sqlite3.Connection:
    return db.conn if isinstance(db, sqlite_utils.Database) else db


def last_event_id(db: sqlite3.Connection | sqlite_utils.Database) -> int:
    """The newest event id (0 when there is none): the queue's refresh watermark."""
    return int(_raw(db).execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])


def queue_rows(db: sqlite3.Connection | sqlite_utils.Database,
               sentence_ids: Sequence[int] | None = None) -> list[tuple]:
    """``(sentence_id, article_id, annotator_id, labels JSON | None, flagged, candidate)``
    rows ordered by sentence then annotator: for every sentence, or only the given ones.

    ``candidate`` is 1 for a labeled annotation of a sentence with >= 2 labels and no
    adjudicated gold (it counts toward unit agreement); flagged rows are returned too.
    """
    conn = _raw(db)
    if sentence_ids is None:
        return conn.execute(_ROWS_SQL + " ORDER BY a.sentence_id, a.annotator_id").fetchall()
    out: list[tuple] = []
    ids = list(sentence_ids)
    for i in range(0, len(ids), 500):  # SQLite's bound-parameter limit
        chunk = ids[i:i + 500]
        marks = ",".join("?" * len(chunk))
        out += conn.execute(
            _ROWS_SQL.replace("WHERE (", f"WHERE a.sentence_id IN ({marks}) AND (")
            + " ORDER BY a.sentence_id, a.annotator_id", chunk).fetchall()
    out.sort(key=lambda r: (r[0], r[2]))
    return out


def queue_row_chunks(db: sqlite3.Connection | sqlite_utils.Database,
                     size: int = 250_000) -> Iterator[list[tuple]]:
    """:func:`queue_rows` for every sentence, ``size`` rows at a time (bounded memory at
    millions of annotations); a sentence's rows may straddle two chunks."""
    cur = _raw(db).execute(_ROWS_SQL + " ORDER BY a.sentence_id, a.annotator_id")
    while rows := cur.fetchmany(size):
        yield rows


def changed_sentences(db: sqlite3.Connection | sqlite_utils.Database, after: int,
                      upto: int) -> list[int]:
    """Sentences with an event whose id is in ``(after, upto]`` (a rowid range scan)."""
    return [r[0] for r in _raw(db).execute(_CHANGED_SQL, {"after": after, "upto": upto})]


def annotators_by_id(db: sqlite3.Connection | sqlite_utils.Database) -> dict[int, str]:
    """Every annotator's name by id."""
    return dict(_raw(db).execute("SELECT id, name FROM annotators"))


def annotator_role(db: sqlite3.Connection | sqlite_utils.Database,
                   annotator_id: int) -> str | None:
    """The role of an annotator, or None when there is no such annotator."""
    row = _raw(db).execute("SELECT role FROM annotators WHERE id = ?", [annotator_id]).fetchone()
    return row[0] if row else None


def article_id(db: sqlite3.Connection | sqlite_utils.Database, external_id: str) -> int | None:
    """The internal id of the article with this external id, or None."""
    row = _raw(db).execute("SELECT id FROM articles WHERE external_id = ?",
                           [external_id]).fetchone()
    return row[0] if row else None


def article_names(db: sqlite3.Connection | sqlite_utils.Database,
                  ids: Iterable[int]) -> dict[int, tuple[str, str | None]]:
    """``{article id: (external_id, title)}`` for the given ids."""
    ids = list(ids)
    out: dict[int, tuple[str, str | None]] = {}
    conn = _raw(db)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        marks = ",".join("?" * len(chunk))
        for aid, ext, title in conn.execute(
                f"SELECT id, external_id, title FROM articles WHERE id IN ({marks})", chunk):
            out[aid] = (ext, title)
    return out


def gold_counts(db: sqlite3.Connection | sqlite_utils.Database) -> dict[str, int]:
    """Gold labels per source, every source present (0 when none)."""
    out = dict.fromkeys(("adjudicated", "unanimous", "majority"), 0)
    out.update(_raw(db).execute("SELECT source, count(*) FROM gold GROUP BY source"))
    return out


def sentence_kind(conn: sqlite3.Connection, sentence_id: int) -> str | None:
    """``content`` / ``boilerplate`` for a sentence, None when it does not exist."""
    row = conn.execute("SELECT kind FROM sentences WHERE id = ?", [sentence_id]).fetchone()
    return row[0] if row else None


def sentence_annotations(db: sqlite3.Connection | sqlite_utils.Database,
                         sentence_id: int) -> list[dict]:
    """Every annotation of one sentence with its annotator's name, oldest first:
    ``annotator_id, annotator, status, labels (list), flagged, note, duration_ms,
    updated_at``."""
    cur = _raw(db).execute(
        "SELECT a.annotator_id, n.name AS annotator, a.status, a.labels, a.flagged, a.note, "
        "a.duration_ms, a.updated_at FROM annotations a JOIN annotators n "
        "ON n.id = a.annotator_id WHERE a.sentence_id = ? ORDER BY a.created_at, "
        "a.annotator_id", [sentence_id])
    cols = [c[0] for c in cur.description]
    rows = [dict(zip(cols, r)) for r in cur]
    for r in rows:
        r["labels"] = json.loads(r["labels"]) if r["labels"] else []
        r["flagged"] = bool(r["flagged"])
    return rows


def get_gold(db: sqlite3.Connection | sqlite_utils.Database, sentence_id: int) -> dict | None:
    """The gold row of a sentence (labels decoded, reviewer's name) or None."""
    cur = _raw(db).execute(
        "SELECT g.sentence_id, g.labels, g.source, g.reviewer_id, n.name AS reviewer, "
        "g.rationale, g.event_id, g.updated_at FROM gold g "
        "LEFT JOIN annotators n ON n.id = g.reviewer_id WHERE g.sentence_id = ?",
        [sentence_id])
    row = cur.fetchone()
    if row is None:
        return None
    d = dict(zip([c[0] for c in cur.description], row))
    d["labels"] = json.loads(d["labels"])
    return d


def gold_sources(db: sqlite3.Connection | sqlite_utils.Database,
                 sentence_ids: Iterable[int]) -> dict[int, str]:
    """``{sentence id: gold source}`` for those of the given sentences that have gold."""
    ids = list(sentence_ids)
    out: dict[int, str] = {}
    conn = _raw(db)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        marks = ",".join("?" * len(chunk))
        out.update(conn.execute(
            f"SELECT sentence_id, source FROM gold WHERE sentence_id IN ({marks})", chunk))
    return out


def adjudications(db: sqlite3.Connection | sqlite_utils.Database,
                  sentence_id: int) -> list[dict]:
    """The adjudicate events of one sentence, oldest first (labels decoded)."""
    cur = _raw(db).execute(
        "SELECT e.id, e.annotator_id, n.name AS reviewer, e.labels, e.note, e.created_at "
        "FROM events e JOIN annotators n ON n.id = e.annotator_id "
        "WHERE e.sentence_id = ? AND e.action = 'adjudicate' ORDER BY e.id", [sentence_id])
    cols = [c[0] for c in cur.description]
    rows = [dict(zip(cols, r)) for r in cur]
    for r in rows:
        r["labels"] = json.loads(r["labels"]) if r["labels"] else []
    return rows


def record_adjudication(conn: sqlite3.Connection, *, sentence_id: int, reviewer_id: int,
                        labels: Sequence[str], rationale: str | None,
                        guidelines_version: str | None, source: str, now: str) -> int:
    """Append the ``adjudicate`` event and make its labels the sentence's gold (source
    ``adjudicated``). Call inside ``write_transaction``; returns the event id."""
    event_id = q.insert_event(conn, action="adjudicate", sentence_id=sentence_id,
                              annotator_id=reviewer_id, labels=list(labels), note=rationale,
                              duration_ms=None, guidelines_version=guidelines_version,
                              source=source, created_at=now)
    q.set_gold(conn, sentence_id=sentence_id, labels=labels, source="adjudicated",
               reviewer_id=reviewer_id, rationale=rationale, event_id=event_id, now=now)
    return event_id
