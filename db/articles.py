"""Articles and their sentences: inserts for the importer, look-ups by external id and
public sentence id, reads for pages and the CLI, article removal, and the project log.
The routing columns of ``sentences`` and the progress counters are in ``db.sentences``."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable, Iterator

import sqlite_utils

from db.connection import in_chunks, max_id, raw

Conn = sqlite3.Connection | sqlite_utils.Database


def find_by_sha(db: sqlite_utils.Database, sha256: str) -> str | None:
    """External id of the article with this text hash, if any."""
    row = db.execute("SELECT external_id FROM articles WHERE sha256 = ?", [sha256]).fetchone()
    return row[0] if row else None


def external_id_exists(db: sqlite_utils.Database, external_id: str) -> bool:
    """Whether an article already uses ``external_id``."""
    return db.execute("SELECT 1 FROM articles WHERE external_id = ?",
                      [external_id]).fetchone() is not None


def existing_keys(db: sqlite_utils.Database | sqlite3.Connection,
                  keys: Iterable[tuple[str, str]]) -> tuple[set[str], set[str]]:
    """Of these ``(sha256, external_id)`` pairs, the hashes and the ids already stored.

    One query per few hundred articles, not two per article: the importer checks a whole
    file at once. Each article's hash and id are looked up in the same statement, so
    they come from one snapshot even while another import commits."""
    keys = list(keys)
    shas: set[str] = set()
    ids: set[str] = set()
    for i in range(0, len(keys), _KEYS_PER_QUERY):
        chunk = keys[i:i + _KEYS_PER_QUERY]
        marks = ", ".join("?" * len(chunk))
        sql = (f"SELECT sha256, external_id FROM articles WHERE sha256 IN ({marks}) "
               f"OR external_id IN ({marks})")
        params = [k[0] for k in chunk] + [k[1] for k in chunk]
        wanted_sha = set(params[:len(chunk)])
        wanted_ids = set(params[len(chunk):])
        for sha, ext in db.execute(sql, params).fetchall():
            if sha in wanted_sha:
                shas.add(sha)
            if ext in wanted_ids:
                ids.add(ext)
    return shas, ids


_KEYS_PER_QUERY = 400  # two parameters each; far below SQLite's limit


def max_article_id(conn: sqlite3.Connection) -> int:
    """Highest article id so far (0 when empty); the importer numbers new rows after it."""
    return max_id(conn, "articles")


def insert_articles(conn: sqlite3.Connection, rows: Iterable[tuple]) -> None:
    """Bulk insert ``(id, external_id, title, source, url, published_at, text, sha256,
    meta, imported_at)`` tuples (inside a write transaction)."""
    conn.executemany(
        "INSERT INTO articles (id, external_id, title, source, url, published_at, text, "
        "sha256, meta, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def max_sentence_id(conn: sqlite3.Connection) -> int:
    """Highest sentence id so far (0 when empty); the importer numbers new rows after it."""
    return max_id(conn, "sentences")


def insert_article(conn: sqlite3.Connection, row: dict[str, Any]) -> int:
    """Insert one article row (inside a write transaction); returns its id."""
    cur = conn.execute(
        "INSERT INTO articles (external_id, title, source, url, published_at, text, sha256, "
        "meta, imported_at) VALUES (:external_id, :title, :source, :url, :published_at, "
        ":text, :sha256, :meta, :imported_at)",
        row,
    )
    return int(cur.lastrowid)


def insert_sentences(conn: sqlite3.Connection, rows: Iterable[tuple]) -> None:
    """Bulk insert ``(id, article_id, idx, start, end, text, kind, target, ord)`` tuples."""
    conn.executemany(
        'INSERT INTO sentences (id, article_id, idx, start, "end", text, kind, target, ord) '
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def list_articles(db: sqlite_utils.Database, *, limit: int | None = 1000,
                  offset: int = 0) -> list[dict]:
    """Articles with their sentence, label and gold counts, in import order
    (``limit=None``: all of them)."""
    return list(db.query(
        "SELECT a.id, a.external_id, a.title, a.source, a.url, a.published_at, a.imported_at, "
        "(SELECT count(*) FROM sentences s WHERE s.article_id = a.id) AS sentences, "
        "(SELECT count(*) FROM sentences s WHERE s.article_id = a.id AND s.kind = 'content') "
        "AS content_sentences, "
        "(SELECT count(*) FROM sentences s JOIN annotations n ON n.sentence_id = s.id "
        " WHERE s.article_id = a.id AND n.status = 'labeled') AS labels, "
        "(SELECT count(*) FROM sentences s JOIN gold g ON g.sentence_id = s.id "
        " WHERE s.article_id = a.id) AS gold "
        "FROM articles a ORDER BY a.id LIMIT ? OFFSET ?",
        [-1 if limit is None else limit, offset],
    ))


def article_by_external_id(db: sqlite_utils.Database | sqlite3.Connection,
                           external_id: str) -> dict | None:
    """``{"id", "external_id", "title", "sha256"}`` of one article, or None."""
    row = db.execute("SELECT id, external_id, title, sha256 FROM articles "
                     "WHERE external_id = ?", [external_id]).fetchone()
    return None if row is None else dict(zip(("id", "external_id", "title", "sha256"), row))


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
    return {sid: (ext, idx) for sid, ext, idx in in_chunks(
        db, "SELECT s.id, a.external_id, s.idx FROM sentences s JOIN articles a "
            "ON a.id = s.article_id WHERE s.id IN ({marks})", sentence_ids)}


def sentence_kind(db: Conn, sentence_id: int) -> str | None:
    """``content`` / ``boilerplate`` for a sentence, None when it does not exist."""
    row = raw(db).execute("SELECT kind FROM sentences WHERE id = ?", [sentence_id]).fetchone()
    return row[0] if row else None


_OF_ARTICLE = "sentence_id IN (SELECT id FROM sentences WHERE article_id = :a)"
# What removing an article takes with it, counted before and deleted in this order
# (children before parents: gold and annotations point at events, all at sentences).
_REMOVAL = (
    ("gold", f"FROM gold WHERE {_OF_ARTICLE}"),
    ("assignments", f"FROM assignments WHERE {_OF_ARTICLE}"),
    ("annotations", f"FROM annotations WHERE {_OF_ARTICLE}"),
    ("events", f"FROM events WHERE {_OF_ARTICLE}"),
    ("sentences", "FROM sentences WHERE article_id = :a"),
    ("articles", "FROM articles WHERE id = :a"),
)


def article_footprint(conn: sqlite3.Connection | sqlite_utils.Database,
                      article_id: int) -> dict[str, int]:
    """Rows that depend on an article, by table, plus ``labels`` (labeled annotations)."""
    counts = {table: conn.execute(f"SELECT count(*) {rest}", {"a": article_id}).fetchone()[0]
              for table, rest in _REMOVAL}
    counts["labels"] = conn.execute(
        f"SELECT count(*) FROM annotations WHERE {_OF_ARTICLE} AND status = 'labeled'",
        {"a": article_id}).fetchone()[0]
    return counts


def delete_article(conn: sqlite3.Connection, article_id: int) -> None:
    """Delete an article and everything that hangs on it; call inside a write
    transaction. Triggers keep the annotators' label counters and the project
    progress counters in step; routing cursors on its sentences are cleared."""
    conn.execute("UPDATE annotators SET cursor_sentence = NULL WHERE cursor_sentence IN "
                 "(SELECT id FROM sentences WHERE article_id = :a)", {"a": article_id})
    for _table, rest in _REMOVAL:
        conn.execute(f"DELETE {rest}", {"a": article_id})


def log_action(conn: sqlite3.Connection, action: str, actor: str, detail: dict,
               created_at: str) -> int:
    """Append a row to ``project_log``; returns its id."""
    cur = conn.execute("INSERT INTO project_log (action, actor, detail, created_at) "
                       "VALUES (?, ?, ?, ?)",
                       [action, actor, json.dumps(detail, ensure_ascii=False), created_at])
    return int(cur.lastrowid)


def project_log(db: sqlite_utils.Database, action: str | None = None) -> list[dict]:
    """The project log, oldest first (``detail`` decoded), optionally one action only."""
    sql = "SELECT id, action, actor, detail, created_at FROM project_log"
    params: list[Any] = []
    if action is not None:
        sql += " WHERE action = ?"
        params.append(action)
    return [{**row, "detail": json.loads(row["detail"])}
            for row in db.query(sql + " ORDER BY id", params)]


def external_ids(db: sqlite_utils.Database, limit: int) -> list[str]:
    """The external ids of the first ``limit`` articles, in import order."""
    return [r[0] for r in db.execute("SELECT external_id FROM articles ORDER BY id LIMIT ?",
                                     [limit])]


def iter_sentences(db: sqlite_utils.Database, external_id: str | None = None) -> Iterator[dict]:
    """Sentences of one article (by external id) or of all, in article order.

    Each dict: ``id`` (public ``<external_id>:<idx>``), ``article``, ``index``, ``start``,
    ``end``, ``text``, ``kind``.
    """
    sql = ('SELECT a.external_id AS article, s.idx AS "index", s.start, s."end", s.text, '
           "s.kind FROM sentences s JOIN articles a ON a.id = s.article_id")
    params: list[Any] = []
    if external_id is not None:
        sql += " WHERE a.external_id = ?"
        params.append(external_id)
    sql += " ORDER BY s.article_id, s.idx"
    for row in db.query(sql, params):
        yield {"id": f"{row['article']}:{row['index']}", **row}


def stats(db: sqlite_utils.Database) -> dict[str, int]:
    """Counts for ``stats``: articles, sentences, content sentences, annotators,
    annotations (labeled), gold."""
    q = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "articles": q("SELECT count(*) FROM articles"),
        "sentences": q("SELECT count(*) FROM sentences"),
        "content_sentences": q("SELECT count(*) FROM sentences WHERE kind = 'content'"),
        "annotators": q("SELECT count(*) FROM annotators"),
        "annotations": q("SELECT count(*) FROM annotations WHERE status = 'labeled'"),
        "gold": q("SELECT count(*) FROM gold"),
    }
