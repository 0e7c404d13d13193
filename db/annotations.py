"""Annotations and their events: the one write path of a label or a skip.

Every label Parley stores, whatever brought it (a key press on the label page,
``import-annotations``, a bulk load in a benchmark), goes through :func:`record`: one
event appended per row (events are never updated or deleted) and the current
annotation of the (sentence, annotator) pair set to it. Callers keep what differs
around it: the label page also logs flag changes and moves leases and ``n_done`` one
sentence at a time; an import recounts ``n_done`` and drops leases for all the
sentences it touched.

Call it inside the caller's ``BEGIN IMMEDIATE`` transaction (``db.write_transaction``):
the event ids are handed out from ``max(id) + 1``, which only one writer may do.

Beside the write path are the reads of both tables: one annotation, an annotator's
history (Back), and the Review page's: the disagreement queue's rows, flagged and
changed sentences (the label read model, ``labeling.label_matrix``, refreshes from
:func:`changed_sentences` and :func:`queue_rows` for those only, so a decision costs a
few index probes, not a scan), one sentence's annotations, and its ``adjudicate``
events with the write that records one (:func:`record_adjudication`, which also sets
the gold through ``db.gold``). The full packed read of the labeled annotations is
``db.label_cells``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import sqlite_utils

import db.gold as gold_db
from db.connection import in_chunks, max_id, raw

Conn = sqlite3.Connection | sqlite_utils.Database


class Record(NamedTuple):
    """One action to store. ``labels``: the JSON list of label names (``labels_json``),
    None for a skip; ``flagged``: None keeps the annotation's flag as it is (imports
    carry none)."""

    sentence_id: int
    annotator_id: int
    action: str  # 'label' or 'skip'
    labels: str | None
    flagged: bool | None
    note: str | None
    duration_ms: int | None
    guidelines_version: str | None
    source: str
    created_at: str


# Positional parameters (faster to bind than names, which an import of a million rows
# feels); both statements take the same row tuple, :func:`record`'s ``_row``:
# ?1 id, ?2 action, ?3 sentence, ?4 annotator, ?5 labels, ?6 note, ?7 duration_ms,
# ?8 guidelines version, ?9 source, ?10 time, ?11 status, ?12 flagged (NULL: keep);
# the event takes the first ten.
INSERT_EVENT_SQL = (
    "INSERT INTO events (id, action, sentence_id, annotator_id, labels, note, duration_ms, "
    "guidelines_version, source, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
# created_at keeps the first action's time.
UPSERT_ANNOTATION_SQL = (
    "INSERT INTO annotations (sentence_id, annotator_id, status, labels, flagged, note, "
    "duration_ms, guidelines_version, source, event_id, created_at, updated_at) "
    "VALUES (?3, ?4, ?11, ?5, coalesce(?12, 0), ?6, ?7, ?8, ?9, ?1, ?10, ?10) "
    "ON CONFLICT (sentence_id, annotator_id) DO UPDATE SET status = excluded.status, "
    "labels = excluded.labels, "
    "flagged = CASE WHEN ?12 IS NULL THEN annotations.flagged ELSE excluded.flagged END, "
    "note = excluded.note, duration_ms = excluded.duration_ms, "
    "guidelines_version = excluded.guidelines_version, source = excluded.source, "
    "event_id = excluded.event_id, updated_at = excluded.updated_at")
_GET_ANNOTATION_SQL = "SELECT * FROM annotations WHERE sentence_id = :sid AND annotator_id = :me"
# event_id breaks ties between actions in the same millisecond
_HISTORY_SQL = ("SELECT sentence_id FROM annotations WHERE annotator_id = :me "
                "ORDER BY updated_at DESC, event_id DESC LIMIT :limit")
# The annotations the label matrix holds: labeled ones (unit agreement, the report) and
# flagged ones (the flagged list), in primary-key order (sentence, annotator).
_ROWS_SQL = ("SELECT sentence_id, annotator_id, "
             "CASE WHEN status = 'labeled' THEN labels END, flagged FROM annotations "
             "WHERE sentence_id IN ({marks}) AND (status = 'labeled' OR flagged = 1) "
             "ORDER BY sentence_id, annotator_id")
_CHANGED_SQL = "SELECT DISTINCT sentence_id FROM events WHERE id > :after AND id <= :upto"

# This module's statements on the label page's next_item + save path, and what the
# page reads on every rerun besides (``db.hot_path``).
HOT_PATH: dict[str, str] = {
    "get_annotation": _GET_ANNOTATION_SQL, "insert_event": INSERT_EVENT_SQL,
    "upsert_annotation": UPSERT_ANNOTATION_SQL,
}
PAGE_READS: dict[str, str] = {"history": _HISTORY_SQL}


def labels_json(labels: Sequence[str] | None) -> str | None:
    """How a label list is stored: a JSON list (names as given), or NULL."""
    return None if labels is None else json.dumps(list(labels), ensure_ascii=False)


def next_event_id(conn: sqlite3.Connection) -> int:
    """The id the next appended event gets."""
    return max_id(conn, "events") + 1


def record(conn: sqlite3.Connection, rows: Iterable[Record]) -> int:
    """Append one event per row and set each pair's current annotation to it (the last
    row of a pair wins); returns the first event's id (row ``i`` got ``first + i``).

    Annotations are written in (sentence, annotator) order, which keeps the B-tree
    inserts of a large import sequential; the sort is stable, so of two rows for one
    pair the later one still wins."""
    first = next_event_id(conn)
    params = [_row(first + i, r) for i, r in enumerate(rows)]
    conn.executemany(INSERT_EVENT_SQL, (t[:10] for t in params))  # no second list
    if len(params) > 1:
        params.sort(key=lambda t: (t[2], t[3]))
    conn.executemany(UPSERT_ANNOTATION_SQL, params)
    return first


def _row(event_id: int | None, r: Record) -> tuple:
    """The parameter tuple of both statements (see the numbering above)."""
    return (event_id, r.action, r.sentence_id, r.annotator_id, r.labels, r.note,
            r.duration_ms, r.guidelines_version, r.source, r.created_at,
            "labeled" if r.action == "label" else "skipped",
            None if r.flagged is None else int(r.flagged))


def insert_event(conn: sqlite3.Connection, *, action: str, sentence_id: int,
                 annotator_id: int, labels: Sequence[str] | None, note: str | None,
                 duration_ms: int | None, guidelines_version: str | None, source: str,
                 created_at: str) -> int:
    """Append one event that sets no annotation (a flag change, an adjudication);
    returns its id. Labels and skips go through :func:`record`."""
    cur = conn.execute(INSERT_EVENT_SQL, (
        None, action, sentence_id, annotator_id, labels_json(labels), note,
        duration_ms, guidelines_version, source, created_at))
    return int(cur.lastrowid)


def insert_labeled_bulk(conn: sqlite3.Connection, rows: Sequence[tuple]) -> int:
    """Bulk-load finished labels (benchmarks, tests): each row is ``(sentence_id,
    annotator_id, labels list, created_at)``, stored through :func:`record` with source
    ``bulk``; the caller then fixes ``n_done`` with ``db.sentences.recount_done``.
    Returns the number of rows."""
    record(conn, (
        Record(r[0], r[1], "label", labels_json(r[2]), None, None,
               None, None, "bulk", r[3]) for r in rows))
    return len(rows)


# ----------------------------------------------------------------------------- the label page


def get_annotation(conn: Conn, sentence_id: int, annotator_id: int) -> dict | None:
    """The current annotation of one (sentence, annotator), labels decoded."""
    cur = raw(conn).execute(_GET_ANNOTATION_SQL, {"sid": sentence_id, "me": annotator_id})
    row = cur.fetchone()
    if row is None:
        return None
    d = dict(zip([col[0] for col in cur.description], row))
    d["labels"] = json.loads(d["labels"]) if d["labels"] else []
    return d


def recent_history(db: sqlite_utils.Database, annotator_id: int, limit: int = 50) -> list[int]:
    """Sentence ids of the annotator's latest actions, oldest first (for Back)."""
    ids = [r[0] for r in db.execute(_HISTORY_SQL, {"me": annotator_id, "limit": limit})]
    return ids[::-1]


# ----------------------------------------------------------------------------- review


def queue_rows(db: Conn, sentence_ids: Iterable[int]) -> list[tuple]:
    """``(sentence_id, annotator_id, labels JSON | None, flagged)`` of every labeled or
    flagged annotation of the given sentences, by sentence then annotator (``labels``
    is None for a flagged skip)."""
    ids = sorted(set(sentence_ids))
    rows = in_chunks(db, _ROWS_SQL, ids)
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


def sentence_annotations(db: Conn, sentence_ids: Iterable[int]) -> list[dict]:
    """Every annotation of the given sentences with the annotator's name, by sentence
    then first action: ``sentence_id, annotator_id, annotator, status, labels (list),
    flagged (bool), note, duration_ms, updated_at``."""
    cols = ("sentence_id", "annotator_id", "annotator", "status", "labels", "flagged", "note",
            "duration_ms", "updated_at")
    rows = in_chunks(
        db, "SELECT a.sentence_id, a.annotator_id, n.name, a.status, a.labels, a.flagged, "
            "a.note, a.duration_ms, a.updated_at FROM annotations a JOIN annotators n "
            "ON n.id = a.annotator_id WHERE a.sentence_id IN ({marks}) "
            "ORDER BY a.sentence_id, a.created_at, a.annotator_id", sentence_ids)
    out = [dict(zip(cols, r)) for r in rows]
    for r in out:
        r["labels"] = json.loads(r["labels"]) if r["labels"] else []
        r["flagged"] = bool(r["flagged"])
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


def record_adjudication(conn: sqlite3.Connection, *, sentence_id: int, reviewer_id: int,
                        labels: Sequence[str], rationale: str | None,
                        guidelines_version: str | None, source: str, now: str) -> int:
    """Append the ``adjudicate`` event and make its labels the sentence's gold (source
    ``adjudicated``). Call inside ``write_transaction``; returns the event id."""
    event_id = insert_event(conn, action="adjudicate", sentence_id=sentence_id,
                            annotator_id=reviewer_id, labels=list(labels), note=rationale,
                            duration_ms=None, guidelines_version=guidelines_version,
                            source=source, created_at=now)
    gold_db.set_gold(conn, sentence_id=sentence_id, labels=labels, source="adjudicated",
                     reviewer_id=reviewer_id, rationale=rationale, event_id=event_id, now=now)
    return event_id
