"""The ``gold`` table: one resolved label list per sentence, with the rule that made it
(``source``: adjudicated, unanimous, majority) and, when a reviewer decided, who, why
and the ``adjudicate`` event.

Writes (:func:`set_gold`, :func:`delete_gold`) take the raw connection of an open
``BEGIN IMMEDIATE`` transaction (``db.write_transaction``): the label page keeps
unanimous gold in step with each save (``labeling.annotate``, reading
:func:`labeled_sets` and :func:`gold_source`), the Review page's adjudication writes
it through ``db.annotations.record_adjudication``. Reads serve the Review page, the
label read model and the agreement report. Gold written by ``import-annotations`` and
read by the export stays in ``db.label_import`` and ``db.export``, beside the rest of
those batched statements.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

import sqlite_utils

from db.connection import in_chunks, raw

Conn = sqlite3.Connection | sqlite_utils.Database

_LABELED_SETS_SQL = ("SELECT labels FROM annotations WHERE sentence_id = :sid "
                     "AND status = 'labeled'")
_GOLD_SOURCE_SQL = "SELECT source FROM gold WHERE sentence_id = :sid"
_SET_GOLD_SQL = (
    "INSERT INTO gold (sentence_id, labels, source, reviewer_id, rationale, event_id, "
    "updated_at) VALUES (:sid, :labels, :source, :reviewer, :rationale, :event_id, :now) "
    "ON CONFLICT (sentence_id) DO UPDATE SET "
    "labels = excluded.labels, source = excluded.source, reviewer_id = excluded.reviewer_id, "
    "rationale = excluded.rationale, event_id = excluded.event_id, "
    "updated_at = excluded.updated_at")
_DELETE_GOLD_SQL = "DELETE FROM gold WHERE sentence_id = :sid AND source = :source"

# This module's statements on the label page's next_item + save path (``db.hot_path``).
HOT_PATH: dict[str, str] = {
    "labeled_sets": _LABELED_SETS_SQL, "gold_source": _GOLD_SOURCE_SQL,
    "set_gold": _SET_GOLD_SQL, "delete_gold": _DELETE_GOLD_SQL,
}


# ----------------------------------------------------------------------------- upkeep


def labeled_sets(conn: sqlite3.Connection, sentence_id: int) -> list[list[str]]:
    """The label lists of every labeled annotation of one sentence (a read of
    ``annotations``, here because its one use is deciding unanimous gold)."""
    return [json.loads(r[0]) for r in conn.execute(_LABELED_SETS_SQL, {"sid": sentence_id})]


def gold_source(conn: sqlite3.Connection, sentence_id: int) -> str | None:
    """The source of the sentence's gold label (adjudicated/unanimous/majority), or None."""
    row = conn.execute(_GOLD_SOURCE_SQL, {"sid": sentence_id}).fetchone()
    return row[0] if row else None


def set_gold(conn: sqlite3.Connection, *, sentence_id: int, labels: Sequence[str], source: str,
             reviewer_id: int | None, rationale: str | None, event_id: int | None,
             now: str) -> None:
    """Write the gold label of a sentence (replaces any previous one)."""
    conn.execute(_SET_GOLD_SQL, {
        "sid": sentence_id, "labels": json.dumps(sorted(labels), ensure_ascii=False),
        "source": source, "reviewer": reviewer_id, "rationale": rationale,
        "event_id": event_id, "now": now})


def delete_gold(conn: sqlite3.Connection, sentence_id: int, source: str) -> None:
    """Remove a gold label of the given source (e.g. a unanimity that no longer holds)."""
    conn.execute(_DELETE_GOLD_SQL, {"sid": sentence_id, "source": source})


# ----------------------------------------------------------------------------- reads


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
    return dict(in_chunks(
        db, "SELECT sentence_id, source FROM gold WHERE sentence_id IN ({marks})",
        sentence_ids))


def gold_counts(db: Conn) -> dict[str, int]:
    """Gold labels per source, every source present (0 when none)."""
    out = dict.fromkeys(("adjudicated", "unanimous", "majority"), 0)
    out.update(raw(db).execute("SELECT source, count(*) FROM gold GROUP BY source"))
    return out


def gold_labels(db: Conn) -> dict[int, tuple[str, str]]:
    """``{sentence id: (labels JSON, source)}`` of every gold label."""
    return {sid: (labels, source) for sid, labels, source in raw(db).execute(
        "SELECT sentence_id, labels, source FROM gold")}


def adjudicated_sentences(db: Conn, sentence_ids: Iterable[int] | None = None) -> list[int]:
    """Sentences whose gold a reviewer decided: all of them (the ``gold_source`` index),
    or those among ``sentence_ids``."""
    if sentence_ids is None:
        return [r[0] for r in raw(db).execute(
            "SELECT sentence_id FROM gold WHERE source = 'adjudicated'")]
    return [r[0] for r in in_chunks(
        db, "SELECT sentence_id FROM gold WHERE source = 'adjudicated' "
            "AND sentence_id IN ({marks})", sentence_ids)]
