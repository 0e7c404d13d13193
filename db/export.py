"""Streaming reads for the dataset export.

Every function yields rows in a fixed order (sentence id, then annotator id) straight
from a cursor, so an export of a million sentences never holds them in memory. Where a
value only needs to be copied into a JSON file, SQLite builds the JSON text itself
(``json_object`` in C is much faster than ``json.dumps`` per row in Python).

Run all reads of one export inside :func:`snapshot`: a single read transaction, so that
labels saved while the export runs do not make the dataset files, the raw annotation
files and the card disagree with each other.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator

import sqlite_utils

#: Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Rows per fetchmany: the peak memory of a pass is about two chunks of rows (~1 KB each),
# and fetchmany's per-call cost is already negligible at this size.
_FETCH = 2_000


def _raw(db: sqlite3.Connection | sqlite_utils.Database) -> sqlite3.Connection:
    return db.conn if isinstance(db, sqlite_utils.Database) else db


@contextlib.contextmanager
def snapshot(db: sqlite_utils.Database) -> Iterator[sqlite3.Connection]:
    """One read transaction around a whole export (every query sees the same data).

    Holds the connection's lock meanwhile, so another thread cannot start a write on this
    connection in the middle of the read (give exports their own connection). WAL mode
    lets other connections keep writing.
    """
    conn = db.conn
    lock = getattr(db, "_parley_lock", None) or threading.RLock()
    with lock:
        began = not conn.in_transaction
        if began:
            conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if began and conn.in_transaction:
                conn.execute("ROLLBACK")  # read-only: nothing to commit


def _rows(cur: sqlite3.Cursor) -> Iterator[tuple]:
    while True:
        chunk = cur.fetchmany(_FETCH)
        if not chunk:
            return
        yield from chunk


def _csv_safe(expr: str) -> str:
    """SQL for ``expr`` with a leading ``'`` when it starts like a formula."""
    chars = ", ".join(f"char({ord(c)})" for c in FORMULA_PREFIXES)
    return f"CASE WHEN substr({expr}, 1, 1) IN ({chars}) THEN '''' || {expr} ELSE {expr} END"


# ----------------------------------------------------------------------------- counts


def counts(db: sqlite3.Connection | sqlite_utils.Database) -> dict[str, int]:
    """``content`` and ``boilerplate`` sentences, ``articles``, ``annotations`` (all rows,
    labeled or skipped)."""
    conn = _raw(db)
    one = lambda sql: conn.execute(sql).fetchone()[0]
    # Counted, not read from a counter table: one scan of 1M rows takes ~0.1 s and
    # stays right whatever keeps (or fails to keep) the counters.
    total, content = conn.execute(
        "SELECT count(*), coalesce(sum(kind = 'content'), 0) FROM sentences").fetchone()
    return {"content": content, "boilerplate": total - content,
            "articles": one("SELECT count(*) FROM articles"),
            "annotations": one("SELECT count(*) FROM annotations")}


def annotator_names(db: sqlite3.Connection | sqlite_utils.Database) -> dict[int, str]:
    """Annotator id -> name (every annotator)."""
    return dict(_raw(db).execute("SELECT id, name FROM annotators ORDER BY id"))


# ----------------------------------------------------------------------------- sentences

_CONTEXT_SQL = (
    ", (SELECT p.text FROM sentences p WHERE p.article_id = s.article_id AND p.idx < s.idx "
    "AND p.kind = 'content' ORDER BY p.idx DESC LIMIT 1)"
    ", (SELECT n.text FROM sentences n WHERE n.article_id = s.article_id AND n.idx > s.idx "
    "AND n.kind = 'content' ORDER BY n.idx LIMIT 1)")

_SENTENCES_SQL = (
    "SELECT s.id, a.external_id, a.title, s.idx, s.text, g.labels{context} "
    "FROM sentences s JOIN articles a ON a.id = s.article_id "
    "LEFT JOIN gold g ON g.sentence_id = s.id AND g.source = 'adjudicated' "
    "WHERE s.kind = 'content' ORDER BY s.id")

# CROSS JOIN pins the loop order: annotations in primary-key order, so GROUP BY and
# ORDER BY stream without a sort, and the rows of a group come in annotator-id order.
_LABELED_GROUPS_SQL = (
    "SELECT an.sentence_id, count(*), group_concat(an.labels, char(31)), "
    "json_group_array(json_object('annotator', n.name, 'labels', json(an.labels), "
    "'note', an.note, 'duration_ms', an.duration_ms, 'created_at', an.created_at)) "
    "FROM annotations an CROSS JOIN annotators n ON n.id = an.annotator_id "
    "WHERE an.status = 'labeled' GROUP BY an.sentence_id ORDER BY an.sentence_id")


def iter_sentences(db: sqlite3.Connection | sqlite_utils.Database, *,
                   context: bool = False) -> Iterator[tuple]:
    """Content sentences in id order: ``(id, external_id, title, idx, text,
    adjudicated labels JSON or None[, context_before, context_after])``.

    Context is the previous / next *content* sentence of the same article (what the
    label page shows), or None at an article's edge.
    """
    sql = _SENTENCES_SQL.format(context=_CONTEXT_SQL if context else "")
    return _rows(_raw(db).execute(sql))


def iter_labeled_groups(db: sqlite3.Connection | sqlite_utils.Database) -> Iterator[tuple]:
    """Per sentence with labeled annotations, in sentence-id order: ``(sentence_id, n,
    labels, annotations_json)``.

    ``labels`` is the stored label lists (JSON) joined with U+001F, a key for resolving
    gold; ``annotations_json`` a JSON array of ``{annotator, labels, note, duration_ms,
    created_at}`` in annotator-id order.
    """
    return _rows(_raw(db).execute(_LABELED_GROUPS_SQL))


# ----------------------------------------------------------------------------- raw

# Raw annotation columns, in file order (also the CSV header).
RAW_COLUMNS = ("sentence_id", "annotator", "status", "labels", "flagged", "note",
               "duration_ms", "created_at", "updated_at", "source", "guidelines_version")

_RAW_FROM = (
    "FROM annotations an CROSS JOIN sentences s ON s.id = an.sentence_id "
    "CROSS JOIN articles ar ON ar.id = s.article_id "
    "CROSS JOIN annotators n ON n.id = an.annotator_id "
    "ORDER BY an.sentence_id, an.annotator_id")

_RAW_JSONL_SQL = (
    "SELECT json_object('sentence_id', ar.external_id || ':' || s.idx, 'annotator', n.name, "
    "'status', an.status, 'labels', json(coalesce(an.labels, '[]')), "
    "'flagged', json(CASE WHEN an.flagged THEN 'true' ELSE 'false' END), "
    "'note', an.note, 'duration_ms', an.duration_ms, 'created_at', an.created_at, "
    "'updated_at', an.updated_at, 'source', an.source, "
    "'guidelines_version', an.guidelines_version) || char(10) " + _RAW_FROM)

# Label names are ``[a-z][a-z0-9_]*`` (config.py), so the stored JSON list becomes
# "a|b" by deleting brackets, quotes and spaces and turning commas into bars.
_PIPE_LABELS = ("replace(replace(replace(replace(replace(an.labels, '[', ''), ']', ''), "
                "'\"', ''), ' ', ''), ',', '|')")


def _raw_csv_sql(exact: bool) -> str:
    safe = (lambda e: e) if exact else _csv_safe
    cols = [safe("(ar.external_id || ':' || s.idx)"), safe("n.name"), "an.status",
            _PIPE_LABELS, "CASE WHEN an.flagged THEN 'true' ELSE 'false' END",
            safe("an.note"), "an.duration_ms", safe("an.created_at"),
            safe("an.updated_at"), safe("an.source"), safe("an.guidelines_version")]
    return "SELECT " + ", ".join(cols) + " " + _RAW_FROM


def iter_raw_jsonl(db: sqlite3.Connection | sqlite_utils.Database) -> Iterator[list[str]]:
    """Every annotation (labeled or skipped) as a JSON line with :data:`RAW_COLUMNS`,
    in chunks of lines (each ends with a newline)."""
    cur = _raw(db).execute(_RAW_JSONL_SQL)
    while True:
        chunk = cur.fetchmany(_FETCH)
        if not chunk:
            return
        yield [r[0] for r in chunk]


def iter_raw_csv(db: sqlite3.Connection | sqlite_utils.Database, *,
                 exact: bool = False) -> Iterator[tuple]:
    """Every annotation as a CSV row of :data:`RAW_COLUMNS` (labels joined with ``|``,
    flagged ``true``/``false``); unless ``exact``, text cells that start with a formula
    character get a leading ``'``."""
    return _rows(_raw(db).execute(_raw_csv_sql(exact)))
