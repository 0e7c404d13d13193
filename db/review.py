"""Review queries: the incremental reads of the label read model, one sentence's
annotations for adjudication, gold, and the adjudication write.

The label matrix (``labeling.label_matrix``) is read in full once by
``db.agreement_data.labeled_cells``, then refreshed from :func:`changed_sentences`
(sentences with events since the last refresh) and :func:`queue_rows` for those only,
so a decision costs a few index probes, not a scan.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

import sqlite_utils

from db.connection import raw

import db.labels as labels_db

Conn = sqlite3.Connection | sqlite_utils.Database

# The annotations the label matrix holds: labeled ones (unit agreement, the report) and
# flagged ones (the flagged list), in primary-key order (sentence, annotator).
_ROWS_SQL = ("SELECT sentence_id, annotator_id, "
             "CASE WHEN status = 'labeled' THEN labels END, flagged FROM annotations "
             "WHERE sentence_id IN ({marks}) AND (status = 'labeled' OR flagged = 1) "
             "ORDER BY sentence_id, annotator_id")
_CHANGED_SQL = "SELECT DISTINCT sentence_id FROM events WHERE id > :after AND id <= :upto"
_IN_CHUNK = 500  # stays far below SQLite's bound-parameter limit



def _in_chunks(db: Conn, sql: str, ids: Iterable[int]) -> list[tuple]:
    """Run ``sql`` (with ``{marks}`` for an ``IN`` list) over ``ids`` in chunks."""
    conn, ids, out = raw(db), list(ids), []
    for i in range(0, len(ids), _IN_CHUNK):
        chunk = ids[i:i + _IN_CHUNK]
        out += conn.execute(sql.format(marks=",".join("?" * len(chunk))), chunk).fetchall()
    return out


# ----------------------------------------------------------------------------- the queue


def queue_rows(db: Conn, sentence_ids: Iterable[int]) -> list[tuple]:
    """``(sentence_id, annotator_id, labels JSON | None, flagged)`` of every labeled or
    flagged annotation of the given sentences, by sentence then annotator (``labels``
    is None for a flagged skip)."""
    ids = sorted(set(sentence_ids))
    rows = _in_chunks(db, _ROWS_SQL, ids)
    return sorted(rows, key=lambda r: (r[0], r[1]))


def flagged_sentences(db: Conn) -> list[int]:
    """Every sentence with a flagged annotation, ascending (one pass over the
    annotations: the label matrix asks once, then follows changes)."""
    return [r[0] for r in raw(db).execute(
        "SELECT DISTINCT sentence_id FROM annotations WHERE flagged = 1 "
        "ORDER BY sentence_id")]


def changed_sentences(db: Conn, after: int, upto: int) -> list[int]:
    """Sentences with an event whose id is in ``(after, upto]`` (a rowid range scan)."""
    return [r[0] for r in raw(db).execute(_CHANGED_SQL, {"after": after, "upto": upto})]


def adjudicated_sentences(db: Conn, sentence_ids: Iterable[int] | None = None) -> list[int]:
    """Sentences whose gold a reviewer decided: all of them (the ``gold_source`` index),
    or those among ``sentence_ids``."""
    if sentence_ids is None:
        return [r[0] for r in raw(db).execute(
            "SELECT sentence_id FROM gold WHERE source = 'adjudicated'")]
    return [r[0] for r in _in_chunks(
        db, "SELECT sentence_id FROM gold WHERE source = 'adjudicated' "
            "AND sentence_id IN ({marks})", sentence_ids)]


def article_id(db: Conn, external_id: str) -> int | None:
    """The internal id of the article with this external id, or None."""
    row = raw(db).execute("SELECT id FROM articles WHERE external_id = ?",
                           [external_id]).fetchone()
    return row[0] if row else None


def article_sentences(db: Conn, article_id: int) -> list[int]:
    """The sentence ids of one article (the ``(article_id, idx)`` unique index)."""
    return [r[0] for r in raw(db).execute(
        "SELECT id FROM sentences WHERE article_id = ?", [article_id])]


def sentence_ids_public(db: Conn, sentence_ids: Iterable[int]) -> dict[int, tuple[str, int]]:
    """``{sentence id: (article external_id, sentence idx)}`` (the public id's parts)."""
    return {sid: (ext, idx) for sid, ext, idx in _in_chunks(
        db, "SELECT s.id, a.external_id, s.idx FROM sentences s JOIN articles a "
            "ON a.id = s.article_id WHERE s.id IN ({marks})", sentence_ids)}


def annotators_by_id(db: Conn) -> dict[int, str]:
    """Every annotator's name by id."""
    return dict(raw(db).execute("SELECT id, name FROM annotators"))


def annotator_role(db: Conn, annotator_id: int) -> dict | None:
    """``{"role", "password_hash"}`` of an annotator, or None when there is none."""
    row = raw(db).execute("SELECT role, password_hash FROM annotators WHERE id = ?",
                           [annotator_id]).fetchone()
    return {"role": row[0], "password_hash": row[1]} if row else None


# ----------------------------------------------------------------------------- one sentence


def sentence_kind(db: Conn, sentence_id: int) -> str | None:
    """``content`` / ``boilerplate`` for a sentence, None when it does not exist."""
    row = raw(db).execute("SELECT kind FROM sentences WHERE id = ?", [sentence_id]).fetchone()
    return row[0] if row else None


def sentence_annotations(db: Conn, sentence_ids: Iterable[int]) -> list[dict]:
    """Every annotation of the given sentences with the annotator's name, by sentence
    then first action: ``sentence_id, annotator_id, annotator, status, labels (list),
    flagged (bool), note, duration_ms, updated_at``."""
    cols = ("sentence_id", "annotator_id", "annotator", "status", "labels", "flagged", "note",
            "duration_ms", "updated_at")
    rows = _in_chunks(
        db, "SELECT a.sentence_id, a.annotator_id, n.name, a.status, a.labels, a.flagged, "
            "a.note, a.duration_ms, a.updated_at FROM annotations a JOIN annotators n "
            "ON n.id = a.annotator_id WHERE a.sentence_id IN ({marks}) "
            "ORDER BY a.sentence_id, a.created_at, a.annotator_id", sentence_ids)
    out = [dict(zip(cols, r)) for r in rows]
    for r in out:
        r["labels"] = json.loads(r["labels"]) if r["labels"] else []
        r["flagged"] = bool(r["flagged"])
    return out


def get_gold(db: Conn, sentence_id: int) -> dict | None:
    """The gold row of a sentence (labels decoded, with the reviewer's name) or None."""
    cur = raw(db).execute(
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


def gold_sources(db: Conn, sentence_ids: Iterable[int]) -> dict[int, str]:
    """``{sentence id: gold source}`` for those of the given sentences that have gold."""
    return dict(_in_chunks(
        db, "SELECT sentence_id, source FROM gold WHERE sentence_id IN ({marks})",
        sentence_ids))


def gold_counts(db: Conn) -> dict[str, int]:
    """Gold labels per source, every source present (0 when none)."""
    out = dict.fromkeys(("adjudicated", "unanimous", "majority"), 0)
    out.update(raw(db).execute("SELECT source, count(*) FROM gold GROUP BY source"))
    return out


def adjudications(db: Conn, sentence_id: int) -> list[dict]:
    """The ``adjudicate`` events of one sentence, oldest first (labels decoded)."""
    cur = raw(db).execute(
        "SELECT e.id, e.annotator_id, n.name AS reviewer, e.labels, e.note, e.created_at "
        "FROM events e JOIN annotators n ON n.id = e.annotator_id "
        "WHERE e.sentence_id = ? AND e.action = 'adjudicate' ORDER BY e.id", [sentence_id])
    cols = [c[0] for c in cur.description]
    rows = [dict(zip(cols, r)) for r in cur]
    for r in rows:
        r["labels"] = json.loads(r["labels"]) if r["labels"] else []
    return rows


# ----------------------------------------------------------------------------- writes


def record_adjudication(conn: sqlite3.Connection, *, sentence_id: int, reviewer_id: int,
                        labels: Sequence[str], rationale: str | None,
                        guidelines_version: str | None, source: str, now: str) -> int:
    """Append the ``adjudicate`` event and make its labels the sentence's gold (source
    ``adjudicated``). Call inside ``write_transaction``; returns the event id."""
    event_id = labels_db.insert_event(conn, action="adjudicate", sentence_id=sentence_id,
                              annotator_id=reviewer_id, labels=list(labels), note=rationale,
                              duration_ms=None, guidelines_version=guidelines_version,
                              source=source, created_at=now)
    labels_db.set_gold(conn, sentence_id=sentence_id, labels=labels, source="adjudicated",
               reviewer_id=reviewer_id, rationale=rationale, event_id=event_id, now=now)
    return event_id
