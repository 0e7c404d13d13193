"""Sentences as routing sees them, and the project's progress counters: the columns
``target`` (annotators wanted), ``n_done`` (labeled so far) and ``ord`` (routing order)
of ``sentences``, the one-row ``project_counts`` table, the context a sentence is shown
with, and the project's change stamp (:func:`data_version`).

Rows are inserted by ``db.articles`` (the importer) and picked by ``db.leases`` (the
next-sentence query). Writes take the raw connection of an open ``BEGIN IMMEDIATE``
transaction (``db.write_transaction``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence

import sqlite_utils

from db.connection import max_id, raw, write_transaction

_BUMP_DONE_SQL = "UPDATE sentences SET n_done = n_done + :delta WHERE id = :sid"
_CONTEXT_SQL = (
    "SELECT s.id, s.idx, s.text, s.kind, s.article_id, a.external_id, a.title, "
    "(SELECT p.text FROM sentences p WHERE p.article_id = s.article_id AND p.idx < s.idx "
    " AND p.kind = 'content' ORDER BY p.idx DESC LIMIT 1) AS before, "
    "(SELECT n.text FROM sentences n WHERE n.article_id = s.article_id AND n.idx > s.idx "
    " AND n.kind = 'content' ORDER BY n.idx LIMIT 1) AS after "
    "FROM sentences s JOIN articles a ON a.id = s.article_id WHERE s.id = :sid")
_PROJECT_COUNTS_SQL = "SELECT counted_to, content, complete FROM project_counts WHERE id = 1"
_TOP_SENTENCE_SQL = "SELECT coalesce(max(id), 0) FROM sentences"

# This module's statements on the label page's next_item + save path, and what the
# page reads on every rerun besides (``db.hot_path``).
HOT_PATH: dict[str, str] = {"bump_done": _BUMP_DONE_SQL, "context": _CONTEXT_SQL}
PAGE_READS: dict[str, str] = {
    "project_counts": _PROJECT_COUNTS_SQL, "top_sentence": _TOP_SENTENCE_SQL,
}


def bump_done(conn: sqlite3.Connection, sentence_id: int, delta: int) -> None:
    """Keep ``sentences.n_done`` equal to the sentence's labeled annotations."""
    if delta:
        conn.execute(_BUMP_DONE_SQL, {"delta": delta, "sid": sentence_id})


def sentence_with_context(db: sqlite_utils.Database, sentence_id: int) -> dict | None:
    """A sentence, its article's headline and id, and its previous / next content
    sentences (text only) for context."""
    rows = list(db.query(_CONTEXT_SQL, {"sid": sentence_id}))
    return rows[0] if rows else None


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


def recount_done(conn: sqlite3.Connection, sentence_ids: Iterable[int] | None = None) -> None:
    """Set ``n_done`` from the labeled annotations (all sentences, or the given ones)."""
    sql = ("UPDATE sentences SET n_done = (SELECT count(*) FROM annotations a "
           "WHERE a.sentence_id = sentences.id AND a.status = 'labeled')")
    if sentence_ids is None:
        conn.execute(sql)
    else:
        conn.executemany(sql + " WHERE id = ?", [(i,) for i in sentence_ids])
