"""Database checks only tests need (no code of the app calls them)."""

from __future__ import annotations

import sqlite3

import sqlite_utils

from db.connection import raw


def done_counts(db: sqlite3.Connection | sqlite_utils.Database) -> list[tuple[int, int, int, int]]:
    """``(sentence_id, target, n_done, labeled annotations)`` for every content sentence:
    what tests compare to prove ``n_done`` is kept exact."""
    return raw(db).execute(
        "SELECT s.id, s.target, s.n_done, (SELECT count(*) FROM annotations a "
        "WHERE a.sentence_id = s.id AND a.status = 'labeled') FROM sentences s "
        "WHERE s.kind = 'content' ORDER BY s.id").fetchall()
