"""Routing, leases, progress and gold upkeep: the hot path of the label page (labels and
their events are written by ``db.annotations``).

Every function that writes takes the raw connection of an open ``BEGIN IMMEDIATE``
transaction (``db.write_transaction``), so the read that picks a sentence and the
lease that reserves it cannot interleave with another annotator's.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence

import sqlite_utils

from db import annotations, annotators
from db.connection import max_id, raw, write_transaction

# Candidate scan: walks the partial index of sentences that still need labels, in
# routing order, from the annotator's cursor, and skips those this annotator already
# did or that are full once other people's live leases are counted. Each check is a
# primary-key probe, so the cost is one step per skipped sentence, not per sentence
# in the corpus.
_NEXT_SQL = """
SELECT s.id FROM sentences AS s INDEXED BY sentences_open
WHERE s.kind = 'content' AND s.n_done < s.target AND s.ord BETWEEN :lo AND :hi
  AND NOT EXISTS (SELECT 1 FROM annotations AS a
                  WHERE a.sentence_id = s.id AND a.annotator_id = :me)
  AND s.n_done + (SELECT count(*) FROM assignments AS l
                  WHERE l.sentence_id = s.id AND l.annotator_id != :me
                    AND l.expires_at > :now) < s.target
ORDER BY s.ord, s.id
LIMIT 1
"""
_HELD_SQL = (
    "SELECT l.sentence_id FROM assignments l WHERE l.annotator_id = :me AND l.expires_at > :now "
    "AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.sentence_id = l.sentence_id "
    "AND a.annotator_id = l.annotator_id) LIMIT 1")
_CURSOR_SQL = ("SELECT s.ord FROM annotators n JOIN sentences s ON s.id = n.cursor_sentence "
               "WHERE n.id = :me")
_SEATS_SQL = (
    "SELECT s.target, s.n_done, (SELECT count(*) FROM assignments l WHERE "
    "l.sentence_id = s.id AND l.annotator_id != :me AND l.expires_at > :now), s.kind "
    "FROM sentences s WHERE s.id = :sid")
_GET_ANNOTATION_SQL = "SELECT * FROM annotations WHERE sentence_id = :sid AND annotator_id = :me"
_DROP_OTHER_LEASES_SQL = "DELETE FROM assignments WHERE annotator_id = :me AND sentence_id != :sid"
_TAKE_LEASE_SQL = (
    "INSERT INTO assignments (sentence_id, annotator_id, expires_at) VALUES (:sid, :me, :exp) "
    "ON CONFLICT (sentence_id, annotator_id) DO UPDATE SET expires_at = excluded.expires_at")
_SET_CURSOR_SQL = "UPDATE annotators SET cursor_sentence = :sid WHERE id = :me"
_RELEASE_SQL = "DELETE FROM assignments WHERE annotator_id = :me AND sentence_id = :sid"
_BUMP_DONE_SQL = "UPDATE sentences SET n_done = n_done + :delta WHERE id = :sid"
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

_CONTEXT_SQL = (
    "SELECT s.id, s.idx, s.text, s.kind, s.article_id, a.external_id, a.title, "
    "(SELECT p.text FROM sentences p WHERE p.article_id = s.article_id AND p.idx < s.idx "
    " AND p.kind = 'content' ORDER BY p.idx DESC LIMIT 1) AS before, "
    "(SELECT n.text FROM sentences n WHERE n.article_id = s.article_id AND n.idx > s.idx "
    " AND n.kind = 'content' ORDER BY n.idx LIMIT 1) AS after "
    "FROM sentences s JOIN articles a ON a.id = s.article_id WHERE s.id = :sid")
# event_id breaks ties between actions in the same millisecond
_HISTORY_SQL = ("SELECT sentence_id FROM annotations WHERE annotator_id = :me "
                "ORDER BY updated_at DESC, event_id DESC LIMIT :limit")
_MINE_TOTAL_SQL = "SELECT n_labeled FROM annotators WHERE id = :me"
_MINE_TODAY_SQL = ("SELECT count(*) FROM annotations WHERE annotator_id = :me "
                   "AND updated_at >= :day AND status = 'labeled'")
_PROJECT_COUNTS_SQL = "SELECT counted_to, content, complete FROM project_counts WHERE id = 1"
_TOP_SENTENCE_SQL = "SELECT coalesce(max(id), 0) FROM sentences"

# Every statement of next_item + save, for ``query_plans`` (tests and the benchmark
# check that none of them scans a table).
HOT_PATH: dict[str, str] = {
    "next_open": _NEXT_SQL, "held_lease": _HELD_SQL, "cursor": _CURSOR_SQL,
    "seats": _SEATS_SQL, "get_annotation": _GET_ANNOTATION_SQL,
    "drop_other_leases": _DROP_OTHER_LEASES_SQL, "take_lease": _TAKE_LEASE_SQL,
    "set_cursor": _SET_CURSOR_SQL, "release_lease": _RELEASE_SQL,
    "insert_event": annotations.INSERT_EVENT_SQL,
    "upsert_annotation": annotations.UPSERT_ANNOTATION_SQL,
    "bump_done": _BUMP_DONE_SQL, "labeled_sets": _LABELED_SETS_SQL,
    "gold_source": _GOLD_SOURCE_SQL, "set_gold": _SET_GOLD_SQL, "delete_gold": _DELETE_GOLD_SQL,
    "context": _CONTEXT_SQL,
}
# What the label page reads on every rerun besides (progress, history).
PAGE_READS: dict[str, str] = {
    "history": _HISTORY_SQL, "mine_total": _MINE_TOTAL_SQL, "mine_today": _MINE_TODAY_SQL,
    "project_counts": _PROJECT_COUNTS_SQL, "top_sentence": _TOP_SENTENCE_SQL,
}
_MIN_ORD, _MAX_ORD = -(2**63), 2**63 - 1


# ----------------------------------------------------------------------------- annotators



def get_annotator(db: sqlite3.Connection | sqlite_utils.Database, name: str) -> dict | None:
    """The annotator row (id, name, role, password_hash, created_at, ...) whose name
    equals ``name`` up to case (``db.annotators.name_key``), or None."""
    return annotators.get(db, name)


def insert_annotator(conn: sqlite3.Connection, name: str, role: str,
                     password_hash: str | None, now: str) -> int:
    """Create an annotator and return its id. When a person with the same name up to
    case exists already, return their id and change nothing: importers map ``ALICE``
    to ``alice`` this way. Callers that must refuse a clash (adding a person by hand)
    look the name up first in the same transaction."""
    try:
        return annotators.insert(conn, name, role, password_hash, now)
    except annotators.NameTaken:
        return annotators.get(conn, name)["id"]


# ----------------------------------------------------------------------------- routing


def held_lease(conn: sqlite3.Connection, annotator_id: int, now: float) -> int | None:
    """The sentence this annotator holds a live lease on and has not finished, if any."""
    row = conn.execute(_HELD_SQL, {"me": annotator_id, "now": now}).fetchone()
    return row[0] if row else None


def cursor_ord(conn: sqlite3.Connection, annotator_id: int) -> int | None:
    """Routing position of the sentence last routed to the annotator (where to resume)."""
    row = conn.execute(_CURSOR_SQL, {"me": annotator_id}).fetchone()
    return row[0] if row else None


def find_open(conn: sqlite3.Connection, annotator_id: int, now: float, *,
              from_ord: int | None = None, before_ord: int | None = None) -> int | None:
    """First sentence in routing order, with ``from_ord <= ord < before_ord``, that this
    annotator may take: content, not done or skipped by them, and with a free seat
    (``n_done`` + other people's live leases < ``target``)."""
    lo = _MIN_ORD if from_ord is None else from_ord
    hi = _MAX_ORD if before_ord is None else before_ord - 1
    row = conn.execute(_NEXT_SQL, {"me": annotator_id, "now": now, "lo": lo, "hi": hi}
                       ).fetchone()
    return row[0] if row else None


def take_lease(conn: sqlite3.Connection, annotator_id: int, sentence_id: int,
               expires_at: float) -> None:
    """Reserve ``sentence_id`` for the annotator (one live lease per annotator) and move
    their routing cursor to it."""
    p = {"me": annotator_id, "sid": sentence_id, "exp": expires_at}
    conn.execute(_DROP_OTHER_LEASES_SQL, p)
    conn.execute(_TAKE_LEASE_SQL, p)
    conn.execute(_SET_CURSOR_SQL, p)


def release_lease(conn: sqlite3.Connection, annotator_id: int, sentence_id: int) -> None:
    """Drop the annotator's lease on a sentence (after they acted on it)."""
    conn.execute(_RELEASE_SQL, {"me": annotator_id, "sid": sentence_id})


def seats(conn: sqlite3.Connection, sentence_id: int, annotator_id: int,
          now: float) -> tuple[int, int, int, str]:
    """``(target, n_done, live leases by others, kind)`` for one sentence; KeyError if
    there is no such sentence."""
    row = conn.execute(_SEATS_SQL, {"me": annotator_id, "now": now, "sid": sentence_id}
                       ).fetchone()
    if row is None:
        raise KeyError(sentence_id)
    return row[0], row[1], row[2], row[3]


# ----------------------------------------------------------------------------- writes


def get_annotation(conn: sqlite3.Connection | sqlite_utils.Database, sentence_id: int,
                   annotator_id: int) -> dict | None:
    """The current annotation of one (sentence, annotator), labels decoded."""
    cur = raw(conn).execute(_GET_ANNOTATION_SQL, {"sid": sentence_id, "me": annotator_id})
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
    """Append one event that sets no annotation (a flag change, an adjudication);
    returns its id. Labels and skips go through ``db.annotations.record``."""
    cur = conn.execute(annotations.INSERT_EVENT_SQL, (
        None, action, sentence_id, annotator_id, annotations.labels_json(labels), note,
        duration_ms, guidelines_version, source, created_at))
    return int(cur.lastrowid)


def bump_done(conn: sqlite3.Connection, sentence_id: int, delta: int) -> None:
    """Keep ``sentences.n_done`` equal to the sentence's labeled annotations."""
    if delta:
        conn.execute(_BUMP_DONE_SQL, {"delta": delta, "sid": sentence_id})


def labeled_sets(conn: sqlite3.Connection, sentence_id: int) -> list[list[str]]:
    """The label lists of every labeled annotation of one sentence."""
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


def sentence_with_context(db: sqlite_utils.Database, sentence_id: int) -> dict | None:
    """A sentence, its article's headline and id, and its previous / next content
    sentences (text only) for context."""
    rows = list(db.query(_CONTEXT_SQL, {"sid": sentence_id}))
    return rows[0] if rows else None


def recent_history(db: sqlite_utils.Database, annotator_id: int, limit: int = 50) -> list[int]:
    """Sentence ids of the annotator's latest actions, oldest first (for Back)."""
    ids = [r[0] for r in db.execute(_HISTORY_SQL, {"me": annotator_id, "limit": limit})]
    return ids[::-1]


def annotator_progress(db: sqlite_utils.Database, annotator_id: int, today_prefix: str) -> dict:
    """The annotator's labeled items: total (a counter kept by triggers), and today
    (``updated_at`` from the day on: a covering-index range over today's work only)."""
    row = db.execute(_MINE_TOTAL_SQL, {"me": annotator_id}).fetchone()
    today = db.execute(_MINE_TODAY_SQL, {"me": annotator_id, "day": today_prefix}).fetchone()[0]
    return {"total": row[0] if row else 0, "today": today}


def project_progress(db: sqlite_utils.Database) -> dict:
    """Content sentences with enough labels (n_done >= target) and all content sentences,
    from the one-row ``project_counts`` table (no count over the corpus).

    Sentences imported since the last call (ids above ``counted_to``) are counted here
    first and folded into the row, in one short write transaction.
    """
    row = db.execute(_PROJECT_COUNTS_SQL).fetchone()
    top = db.execute(_TOP_SENTENCE_SQL).fetchone()[0]
    if row is None or top > row[0]:
        with write_transaction(db) as conn:
            row = _catch_up_counts(conn)
    return {"content_sentences": row[1], "complete": row[2]}


def _catch_up_counts(conn: sqlite3.Connection) -> tuple[int, int, int]:
    row = conn.execute("SELECT counted_to, content, complete FROM project_counts WHERE id = 1"
                       ).fetchone() or (0, 0, 0)
    counted_to, content, complete = row
    top, new_content, new_complete = conn.execute(
        "SELECT coalesce(max(id), ?), coalesce(sum(kind = 'content'), 0), "
        "coalesce(sum(kind = 'content' AND n_done >= target), 0) FROM sentences WHERE id > ?",
        [counted_to, counted_to]).fetchone()
    row = (top, content + new_content, complete + new_complete)
    conn.execute("INSERT INTO project_counts (id, counted_to, content, complete) "
                 "VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                 "counted_to = excluded.counted_to, content = excluded.content, "
                 "complete = excluded.complete", row)
    return row


def count_progress(db: sqlite3.Connection | sqlite_utils.Database) -> dict:
    """The numbers the counters hold, counted from the rows: content sentences, complete
    ones, and labeled annotations per annotator id (slow at scale; tests use it to
    check :func:`project_progress` and ``annotators.n_labeled``)."""
    conn = raw(db)
    content, complete = conn.execute(
        "SELECT count(*), coalesce(sum(n_done >= target), 0) FROM sentences "
        "WHERE kind = 'content'").fetchone()
    per = dict(conn.execute(
        "SELECT n.id, (SELECT count(*) FROM annotations a WHERE a.annotator_id = n.id "
        "AND a.status = 'labeled') FROM annotators n"))
    return {"content_sentences": content, "complete": complete, "labeled": per}


def data_version(db: sqlite_utils.Database) -> tuple[int, int, int]:
    """Changes whenever labels, gold or the corpus change: (last event id, sentence count
    high-water mark, last project-log id). The third part catches an article removal,
    which deletes events and sentences below both high-water marks. Cheap: three rowid
    lookups."""
    return (max_id(db, "events"), max_id(db, "sentences"), max_id(db, "project_log"))


def set_targets(conn: sqlite3.Connection, target: int | Callable[[int], int], *,
                only_open: bool = False) -> int:
    """Set content sentences' target annotator count: a number, or a function of the
    sentence id. With ``only_open`` only sentences not yet complete (``n_done <
    target``) change, so finished work is not reopened. A target never drops below
    the labels a sentence already has (``max(new, n_done)``): lowering the overlap
    completes those sentences instead of leaving them over quota. Returns how many
    sentences changed."""
    fn = target if callable(target) else (lambda _sid, t=int(target): t)
    conn.create_function("parley_target", 1, fn, deterministic=True)
    return conn.execute(
        "UPDATE sentences SET target = max(parley_target(id), n_done) WHERE kind = 'content' "
        + ("AND n_done < target " if only_open else "")
        + "AND target != max(parley_target(id), n_done)").rowcount


def reorder(conn: sqlite3.Connection,
            keys: Callable[[int], int] | Sequence[tuple[int, int]]) -> int:
    """Set ``ord``: from a function of the sentence id (every sentence), or from
    ``(ord, id)`` pairs. Returns how many sentences changed."""
    if callable(keys):
        conn.create_function("parley_ord", 1, keys, deterministic=True)
        return conn.execute(
            "UPDATE sentences SET ord = parley_ord(id) WHERE ord != parley_ord(id)").rowcount
    return conn.executemany("UPDATE sentences SET ord = ? WHERE id = ?", keys).rowcount


def all_sentence_ids(db: sqlite_utils.Database) -> list[int]:
    """Every sentence id, ascending."""
    return [r[0] for r in db.execute("SELECT id FROM sentences ORDER BY id")]


def query_plans(db: sqlite3.Connection | sqlite_utils.Database) -> dict[str, list[str]]:
    """``EXPLAIN QUERY PLAN`` detail lines of every statement on the next_item + save
    path and of the label page's per-rerun reads, by name (``HOT_PATH``,
    ``PAGE_READS``). A line ``SCAN x`` without ``USING ... INDEX`` or ``PRIMARY KEY``
    would mean a full table scan."""
    conn = raw(db)
    params = {"me": 1, "now": 0.0, "lo": _MIN_ORD, "hi": _MAX_ORD, "sid": 1, "exp": 0.0,
              "delta": 1, "action": "label", "labels": None, "note": None,
              "duration_ms": None, "gv": None, "source": "app", "event_id": 1,
              "status": "labeled", "flagged": 0, "reviewer": None, "rationale": None,
              "limit": 50, "day": "2024-01-01"}
    out = {}
    for name, sql in {**HOT_PATH, **PAGE_READS}.items():
        # db.annotations' statements take numbered parameters, the others names
        numbers = [int(n) for n in re.findall(r"\?(\d+)", sql)]
        args = (1,) * max(numbers) if numbers else params
        rows = conn.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall()
        out[name] = [r[3] for r in rows]
    return out


def insert_labeled_bulk(conn: sqlite3.Connection, rows: Sequence[tuple]) -> int:
    """Bulk-load finished labels (benchmarks, tests): each row is ``(sentence_id,
    annotator_id, labels list, created_at)``, stored through ``db.annotations.record``
    with source ``bulk``; the caller then fixes ``n_done`` with :func:`recount_done`.
    Returns the number of rows."""
    annotations.record(conn, (
        annotations.Record(r[0], r[1], "label", annotations.labels_json(r[2]), None, None,
                           None, None, "bulk", r[3]) for r in rows))
    return len(rows)


def recount_done(conn: sqlite3.Connection, sentence_ids: Iterable[int] | None = None) -> None:
    """Set ``n_done`` from the labeled annotations (all sentences, or the given ones)."""
    sql = ("UPDATE sentences SET n_done = (SELECT count(*) FROM annotations a "
           "WHERE a.sentence_id = sentences.id AND a.status = 'labeled')")
    if sentence_ids is None:
        conn.execute(sql)
    else:
        conn.executemany(sql + " WHERE id = ?", [(i,) for i in sentence_ids])


def done_counts(db: sqlite3.Connection | sqlite_utils.Database) -> list[tuple[int, int, int, int]]:
    """``(sentence_id, target, n_done, labeled annotations)`` for every content sentence:
    what tests compare to prove ``n_done`` is kept exact."""
    return raw(db).execute(
        "SELECT s.id, s.target, s.n_done, (SELECT count(*) FROM annotations a "
        "WHERE a.sentence_id = s.id AND a.status = 'labeled') FROM sentences s "
        "WHERE s.kind = 'content' ORDER BY s.id").fetchall()
