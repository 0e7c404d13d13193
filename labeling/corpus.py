"""The corpus for pages and the CLI: read-only views, and taking an article out again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from datetime import datetime, timezone

import pandas as pd

import db.articles as articles_db
from db import write_transaction

if TYPE_CHECKING:
    from labeling.project import Project


def summary(db: Project) -> dict[str, int]:
    """Project counts (the ``stats`` command's object)."""
    return articles_db.stats(db)


def articles(db: Project, limit: int | None = 1000) -> list[dict]:
    """Articles with sentence, label and gold counts, in import order."""
    return articles_db.list_articles(db, limit=limit)


def sentence_table(db: Project, external_id: str) -> pd.DataFrame:
    """Sentences of one article: public id, kind, text."""
    rows = list(articles_db.iter_sentences(db, external_id))
    return pd.DataFrame(rows, columns=["id", "index", "kind", "text", "start", "end"])


class CorpusError(Exception):
    """A corpus change that cannot be made as asked (the message says why)."""


class ArticleNotFound(CorpusError):
    """No article has the given id."""


class ArticleHasLabels(CorpusError):
    """The article has labels or gold, and removing it was not confirmed."""


def remove_article(db: Project, external_id: str, *, actor: str,
                   force: bool = False) -> dict:
    """Take an article out of the project: its sentences, and with ``force`` also its
    labels, events, leases and gold. Without ``force`` an article that anyone has
    labeled (or that has gold) is refused, so a slip cannot delete work.

    The removal is one transaction and is recorded in the project log (who, when,
    what, how many rows). Returns ``{"article", "title", "removed": {table: rows}}``.
    """
    with write_transaction(db) as conn:
        art = articles_db.article_by_external_id(conn, external_id)
        if art is None:
            raise ArticleNotFound(f"no article with id {external_id!r} "
                                  "(`article list` shows the ids)")
        counts = articles_db.article_footprint(conn, art["id"])
        worked = counts["events"] or counts["gold"]
        if worked and not force:
            raise ArticleHasLabels(
                f"article {external_id!r} has {counts['labels']} label(s), "
                f"{counts['events']} logged action(s) and {counts['gold']} gold label(s); "
                "removing it deletes them too: add --force to confirm")
        articles_db.delete_article(conn, art["id"])
        detail = {"article": art["external_id"], "title": art["title"],
                  "sha256": art["sha256"], "forced": bool(force), "removed": counts}
        articles_db.log_action(conn, "remove_article", actor, detail,
                     datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return {"article": art["external_id"], "title": art["title"], "removed": counts}
