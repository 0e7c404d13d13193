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
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from db.connection import max_id


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
