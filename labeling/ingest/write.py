"""Storing one file's articles and sentences: one ``BEGIN IMMEDIATE`` transaction per
file, so a file is imported whole or not at all.

Speed (``python -m benchmarks.ingest``): existing texts and ids are looked up a file at
a time (``identity``), rows go in with ``executemany``, and a big file is segmented by a
helper process while this one inserts (``parallel.Segmenter``), so both cores work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import db.articles as articles_db
import db.settings as settings_db
from db import write_transaction
from labeling.ingest import identity
from labeling.ingest.parallel import Segmenter
from labeling.ingest.progress import STEP_ARTICLES, Steps, counted
from labeling.ingest.read import Article, FieldMap, read_file
from labeling.routing import order_key, target_for

if TYPE_CHECKING:
    from labeling.project import Project


@dataclass
class ArticleImportReport:
    """What an import of articles did. ``as_dict`` gives the CLI's ``--json`` object."""

    articles_added: int = 0
    articles_skipped_duplicate: int = 0
    sentences_added: int = 0
    errors: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # files skipped in folders (links)

    def as_dict(self) -> dict:
        """The ``--json`` object (``duplicates`` and ``warnings`` are printed, not in it)."""
        return {"articles_added": self.articles_added,
                "articles_skipped_duplicate": self.articles_skipped_duplicate,
                "sentences_added": self.sentences_added,
                "errors": list(self.errors)}


@dataclass(frozen=True)
class Routing:
    """How new sentences get their ``target`` and ``ord`` (from the stored config)."""

    cfg: dict
    order: str
    seed: int
    fixed_target: int | None  # every sentence's target, when there is no sample to draw

    @classmethod
    def of(cls, db: Project) -> Routing:
        """The routing of the project ``db`` as its stored config says."""
        cfg = settings_db.get(db, "config") or {}
        # Without a reliability sample (fraction >= 1) every sentence is "in the sample",
        # so target_for is the same for all: computed once, not per sentence.
        fixed = (target_for(1, cfg) if float(cfg.get("sample_fraction", 1.0)) >= 1.0
                 else None)
        return cls(cfg, cfg.get("order", "sequential"), int(cfg.get("seed", 0)), fixed)

    def target(self, sentence_id: int) -> int:
        """The number of annotators sentence ``sentence_id`` needs."""
        if self.fixed_target is not None:
            return self.fixed_target
        return target_for(sentence_id, self.cfg)


def import_file(db: Project, path: Path, fmt: str, fields: FieldMap,
                skip_bad: bool, report: ArticleImportReport, seen: identity.Seen,
                routing: Routing, segmenter: Segmenter, step: Steps | None = None) -> None:
    """Read, segment and write one file in one transaction (all or nothing)."""
    segmenter.warm_up_for(path)
    items = read_file(path, fmt, fields)
    if step is not None:
        items = counted(items, step.read(), step.rows)
    batch = seen.sort(db, items, skip_bad=skip_bad)
    fresh = batch.fresh
    # A small file is segmented here, before the write lock is taken, so annotators'
    # saves wait only for the inserts. A big one streams: the helper process segments
    # ahead while this one inserts, which costs little extra lock time (the inserts are
    # the longer part) and saves most of the segmenting time.
    spans = segmenter.spans([art.text for art in fresh])
    now = _now()
    rows = [0]
    with write_transaction(db) as conn:
        keep = identity.recheck(conn, batch, skip_bad=skip_bad)
        first_article = articles_db.max_article_id(conn) + 1
        first_sentence = articles_db.max_sentence_id(conn) + 1
        articles_db.insert_articles(conn, (
            (aid, art.external_id, art.title, art.source, art.url, art.published_at, art.text,
             art.sha256, json.dumps(art.meta, ensure_ascii=False), now)
            for aid, art in enumerate(_kept(fresh, keep), first_article)))
        articles_db.insert_sentences(conn, _sentence_rows(
            fresh, spans, keep, first_article, first_sentence, routing, rows,
            step.write(sum(keep)) if step else None,
            step.articles if step else STEP_ARTICLES))
    added = list(_kept(fresh, keep))
    seen.add(added)
    report.duplicates.extend(identity.where(art) for art in batch.dupes)
    report.articles_added += len(added)
    report.sentences_added += rows[0]
    report.articles_skipped_duplicate += len(batch.dupes)
    report.errors.extend(batch.errors)


def _kept(arts: list[Article], keep: list[bool]) -> Iterator[Article]:
    return (art for art, k in zip(arts, keep, strict=True) if k)


def _sentence_rows(arts: list[Article], spans: Iterable[list[tuple[int, int, str]]],
                   keep: list[bool], first_article: int, first_sentence: int,
                   routing: Routing, rows: list[int],
                   step: Callable[[int], None] | None = None,
                   every: int = STEP_ARTICLES) -> Iterator[tuple]:
    """Rows for ``articles_db.insert_sentences``, streamed (no list of a million tuples);
    ``rows[0]`` ends as the number of rows. Articles not kept are passed over (their
    spans are still consumed, to stay in step). ``step(articles done)`` is called every
    ``every`` articles and at the end."""
    sid = first_sentence
    aid = first_article
    target, order, seed = routing.target, routing.order, routing.seed
    fixed = routing.fixed_target
    for art, art_spans, k in zip(arts, spans, keep, strict=True):
        if not k:
            continue
        text = art.text
        if fixed is not None and order == "sequential":
            # the common case, without two calls per row: ord = id (see order_key)
            for idx, (start, end, kind) in enumerate(art_spans):
                yield (sid, aid, idx, start, end, text[start:end], kind, fixed, sid)
                sid += 1
        else:
            for idx, (start, end, kind) in enumerate(art_spans):
                yield (sid, aid, idx, start, end, text[start:end], kind,
                       target(sid), order_key(sid, order, seed))
                sid += 1
        aid += 1
        if step is not None and (aid - first_article) % every == 0:
            step(aid - first_article)
    rows[0] = sid - first_sentence
    if step is not None:
        step(aid - first_article)


def _now() -> str:
    """Now, UTC, to the second: the articles' ``imported_at``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

