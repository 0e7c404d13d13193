"""Read-only views of the corpus for pages and the CLI."""

from __future__ import annotations

import pandas as pd
import sqlite_utils

import db.articles as q


def summary(db: sqlite_utils.Database) -> dict[str, int]:
    """Project counts (the ``stats`` command's object)."""
    return q.stats(db)


def articles(db: sqlite_utils.Database, limit: int = 1000) -> list[dict]:
    """Articles with sentence counts, in import order."""
    return q.list_articles(db, limit=limit)


def sentence_table(db: sqlite_utils.Database, external_id: str) -> pd.DataFrame:
    """Sentences of one article: public id, kind, text."""
    rows = list(q.iter_sentences(db, external_id))
    return pd.DataFrame(rows, columns=["id", "index", "kind", "text", "start", "end"])
