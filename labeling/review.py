"""Review services: the disagreement queue, adjudication, flagged annotations.

The queue holds every sentence with two or more labels, no reviewer decision yet, and
a *unit agreement* below 1 (unit agreement: the share of agreeing pairs among the
sentence's pairs of labels; two label sets agree when they hold the same labels).
It is ordered lowest agreement first, then by sentence id (article order), so ties
in agreement are never broken at random.

At a million sentences the queue cannot be recomputed on every rerun, so it lives in a
process-wide index (one per database file) of NumPy arrays, keyed by the database's
data version (``db.labels.data_version``). The first use scans the annotations once;
afterwards a changed version only re-reads the sentences that have events since the
last refresh (an adjudication, a new label), which is a few index probes.

Gold: a reviewer's decision is an ``adjudicate`` event and the sentence's gold with
source ``adjudicated``, written in one transaction. Unanimous gold is kept by
``labeling.annotate.save`` and never replaces an adjudicated one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import sqlite_utils

import db.labels as ql
import db.review as qr
from db import write_transaction
from labeling.config import ProjectConfig

REVIEW_ROLES = ("reviewer", "admin")
_CHUNK = 250_000           # rows fetched per step of a full scan (bounds memory)
_REBUILD_AFTER = 20_000    # more changed sentences than this: rescan instead
_KEY_SHIFT = 40            # sort key = agreement level << 40 | sentence id
_LEVELS = 1 << 20          # agreement quantised to 2**-20 for the integer sort key


class ReviewError(ValueError):
    """A review action that cannot be applied (not a reviewer, bad label, no sentence)."""


@dataclass(frozen=True)
class QueueEntry:
    """One sentence of the disagreement queue."""

    sentence_id: int
    article_id: int
    agreement: float  # share of agreeing pairs of labels, in [0, 1)
    n_labels: int


@dataclass(frozen=True)
class Queue:
    """The head of the (filtered) queue and how many sentences match in total."""

    entries: list[QueueEntry]
    total: int


@dataclass(frozen=True)
class Judgement:
    """One annotator's current annotation of a sentence."""

    annotator_id: int
    annotator: str
    status: str  # 'labeled' / 'skipped'
    labels: tuple[str, ...]
    flagged: bool
    note: str | None
    duration_ms: int | None


@dataclass(frozen=True)
class ReviewItem:
    """A sentence as the review page shows it: context, every annotation, its gold."""

    sentence_id: int
    public_id: str
    text: str
    title: str | None
    before: str | None
    after: str | None
    judgements: tuple[Judgement, ...]
    agreement: float | None
    gold: dict | None = None  # {"labels", "source", "reviewer", "rationale", ...}


def now_iso() -> str:
    """UTC timestamp with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# ----------------------------------------------------------------------------- pure


def canonical(labels: Iterable[str] | None) -> tuple[str, ...]:
    """A label set as a sorted tuple (the order an annotator chose them in is irrelevant)."""
    return tuple(sorted(set(labels or ())))


def unit_agreement(label_sets: Sequence[Iterable[str]]) -> float | None:
    """Share of agreeing pairs among a sentence's labels; None with fewer than two.

    ``[A, A, B]``: 3 pairs, 1 agrees -> 1/3. Empty label sets (skips) do not count.
    """
    sets = [canonical(s) for s in label_sets if s]
    n = len(sets)
    if n < 2:
        return None
    counts = pd.Series(sets, dtype=object).value_counts().to_numpy()
    return float((counts * (counts - 1)).sum() / (n * (n - 1)))


# ----------------------------------------------------------------------------- the index


def _empty(dtype) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


@dataclass
class _Index:
    """Queue and flags of one database, as arrays (see module docstring).

    Slots (one per queued sentence): ``sid``, ``article``, ``agree``, ``n``, ``key``,
    ``active`` (False once the sentence left the queue; compacted when half are dead).
    Cells (one per candidate annotation of a queued sentence): ``c_slot``, ``c_annot``,
    ``c_code`` (index into ``sets``). ``flagged``: sentence id -> number of flags.
    """

    version: tuple[int, int] = (-1, -1)
    last_event: int = 0
    sid: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    article: np.ndarray = field(default_factory=lambda: _empty(np.int32))
    agree: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    n: np.ndarray = field(default_factory=lambda: _empty(np.int16))
    key: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    active: np.ndarray = field(default_factory=lambda: _empty(bool))
    c_slot: np.ndarray = field(default_factory=lambda: _empty(np.int32))
    c_annot: np.ndarray = field(default_factory=lambda: _empty(np.int32))
    c_code: np.ndarray = field(default_factory=lambda: _empty(np.int32))
    sets: list[tuple[str, ...]] = field(default_factory=list)
    set_code: dict[tuple[str, ...], int] = field(default_factory=dict)
    raw_code: dict[str, int] = field(default_factory=dict)
    flagged: dict[int, int] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- encoding

    def _codes(self, raw: np.ndarray) -> np.ndarray:
        """Label-set code per JSON labels string (factorised: few distinct strings)."""
        local, uniques = pd.factorize(raw, use_na_sentinel=True)
        remap = np.empty(len(uniques) + 1, dtype=np.int64)
        remap[-1] = -1
        for i, text in enumerate(uniques):
            code = self.raw_code.get(text)
            if code is None:
                labels = canonical(json.loads(text))
                code = self.set_code.setdefault(labels, len(self.sets))
                if code == len(self.sets):
                    self.sets.append(labels)
                self.raw_code[text] = code
            remap[i] = code
        return remap[local]

    # -- building

    def _add(self, rows: list[tuple]) -> None:
        """Add the sentences of ``rows`` (every row of each sentence, sorted by sentence)."""
        if not rows:
            return
        sid, art, annot, raw, flag, cand = zip(*rows)
        sid = np.fromiter(sid, np.int64, len(rows))
        flag = np.fromiter(flag, np.int8, len(rows)).astype(bool)
        for s in sid[flag]:
            self.flagged[int(s)] = self.flagged.get(int(s), 0) + 1
        keep = np.fromiter(cand, np.int8, len(rows)).astype(bool)
        if not keep.any():
            return
        sid = sid[keep]
        art = np.fromiter(art, np.int64, len(rows))[keep]
        annot = np.fromiter(annot, np.int64, len(rows))[keep]
        code = self._codes(np.array(raw, dtype=object)[keep])
        self._add_cells(sid, art, annot, code)

    def _add_cells(self, sid: np.ndarray, art: np.ndarray, annot: np.ndarray,
                   code: np.ndarray) -> None:
        """Unit agreement per sentence from cells sorted by sentence; queue the ones < 1."""
        starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
        unit = np.cumsum(np.r_[True, sid[1:] != sid[:-1]]) - 1
        m = np.diff(np.r_[starts, sid.size])
        agreeing = np.zeros(starts.size, dtype=np.int64)
        # Pairs of cells d places apart within one sentence cover every pair once.
        for d in range(1, int(m.max())):
            same = (sid[:-d] == sid[d:]) & (code[:-d] == code[d:])
            agreeing += np.bincount(unit[:-d][same], minlength=starts.size)
        pairs = m * (m - 1) // 2
        agree = agreeing / pairs
        queued = agree < 1.0
        base = self.sid.size
        new_slot = np.full(starts.size, -1, dtype=np.int64)
        new_slot[queued] = base + np.arange(int(queued.sum()))
        q_sid = sid[starts][queued]
        level = np.minimum((agree[queued] * _LEVELS).astype(np.int64), _LEVELS - 1)
        self.sid = np.concatenate([self.sid, q_sid])
        self.article = np.concatenate([self.article, art[starts][queued].astype(np.int32)])
        self.agree = np.concatenate([self.agree, agree[queued]])
        self.n = np.concatenate([self.n, m[queued].astype(np.int16)])
        self.key = np.concatenate([self.key, (level << _KEY_SHIFT) | q_sid])
        self.active = np.concatenate([self.active, np.ones(q_sid.size, dtype=bool)])
        cell_slot = new_slot[unit]
        keep = cell_slot >= 0
        self.c_slot = np.concatenate([self.c_slot, cell_slot[keep].astype(np.int32)])
        self.c_annot = np.concatenate([self.c_annot, annot[keep].astype(np.int32)])
        self.c_code = np.concatenate([self.c_code, code[keep].astype(np.int32)])

    def _rebuild(self, db: sqlite_utils.Database) -> None:
        fresh = _Index(lock=self.lock)
        carry: list[tuple] = []
        for rows in qr.queue_row_chunks(db, _CHUNK):
            # A sentence's rows may straddle two chunks: hold back the last sentence.
            last = rows[-1][0]
            cut = len(rows)
            while cut > 0 and rows[cut - 1][0] == last:
                cut -= 1
            fresh._add(carry + rows[:cut])
            carry = rows[cut:]
        fresh._add(carry)
        self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "lock"})

    def _update(self, db: sqlite_utils.Database, changed: list[int]) -> None:
        ids = np.asarray(changed, dtype=np.int64)
        gone = np.isin(self.sid, ids) & self.active
        self.active[gone] = False
        for s in changed:
            self.flagged.pop(s, None)
        self._add(qr.queue_rows(db, changed))
        dead = self.active.size - int(self.active.sum())
        if dead > 1000 and dead * 2 > self.active.size:
            self._compact()

    def _compact(self) -> None:
        keep = self.active
        new_slot = np.cumsum(keep) - 1
        cell_keep = keep[self.c_slot]
        self.c_slot = new_slot[self.c_slot[cell_keep]].astype(np.int32)
        self.c_annot = self.c_annot[cell_keep]
        self.c_code = self.c_code[cell_keep]
        for name in ("sid", "article", "agree", "n", "key"):
            setattr(self, name, getattr(self, name)[keep])
        self.active = np.ones(int(keep.sum()), dtype=bool)

    def refresh(self, db: sqlite_utils.Database) -> None:
        """Bring the index up to the database's current data version."""
        version = ql.data_version(db)
        if version == self.version:
            return
        upto = version[0]
        if upto < self.last_event or self.version == (-1, -1):
            self._rebuild(db)
        else:
            changed = qr.changed_sentences(db, self.last_event, upto)
            if len(changed) > _REBUILD_AFTER:
                self._rebuild(db)
            elif changed:
                self._update(db, changed)
        # Events newer than ``upto`` that the reads above already saw are re-read next
        # time: re-reading a sentence is idempotent.
        self.last_event, self.version = upto, version

    # -- reading

    def select(self, *, label: str | None, annotator_id: int | None,
               article_id: int | None) -> np.ndarray:
        """Slots of the active queue that match every given filter."""
        mask = self.active.copy()
        if article_id is not None:
            mask &= self.article == article_id
        if annotator_id is not None:
            mask &= self._slots_with(self.c_annot == annotator_id)
        if label is not None:
            has = np.array([label in s for s in self.sets] + [False], dtype=bool)
            mask &= self._slots_with(has[self.c_code])
        return np.flatnonzero(mask)

    def _slots_with(self, cells: np.ndarray) -> np.ndarray:
        out = np.zeros(self.sid.size, dtype=bool)
        out[self.c_slot[cells]] = True
        return out


_INDEXES: dict[str, _Index] = {}
_INDEXES_LOCK = threading.Lock()


def _index(db: sqlite_utils.Database) -> _Index:
    """The refreshed index of this database file (one per process and path)."""
    path = getattr(db, "_parley_path", None) or str(id(db))
    with _INDEXES_LOCK:
        idx = _INDEXES.setdefault(path, _Index())
    with idx.lock:
        idx.refresh(db)
    return idx


def clear_cache() -> None:
    """Forget every database's queue index (tests; a replaced database file)."""
    with _INDEXES_LOCK:
        _INDEXES.clear()


# ----------------------------------------------------------------------------- services


def queue(db: sqlite_utils.Database, *, label: str | None = None,
          annotator: str | None = None, article: str | None = None,
          limit: int = 20) -> Queue:
    """The disagreement queue, lowest unit agreement first (then sentence id).

    Filters (all optional, combined): ``label`` (some annotator chose it), ``annotator``
    (name; they labeled the sentence), ``article`` (its external id). Unknown names
    give an empty queue. Returns the first ``limit`` entries and the total count.
    """
    annotator_id = article_id = None
    if annotator is not None:
        row = ql.get_annotator(db, annotator)
        if row is None:
            return Queue([], 0)
        annotator_id = row["id"]
    if article is not None:
        article_id = qr.article_id(db, article)
        if article_id is None:
            return Queue([], 0)
    idx = _index(db)
    with idx.lock:
        slots = idx.select(label=label, annotator_id=annotator_id, article_id=article_id)
        total = int(slots.size)
        if total > limit:
            slots = slots[np.argpartition(idx.key[slots], limit)[:limit]]
        slots = slots[np.argsort(idx.key[slots], kind="stable")]
        entries = [QueueEntry(int(idx.sid[s]), int(idx.article[s]), float(idx.agree[s]),
                              int(idx.n[s])) for s in slots]
    return Queue(entries, total)


def queue_annotators(db: sqlite_utils.Database) -> list[str]:
    """Names of the annotators who labeled some sentence of the queue (filter choices)."""
    idx = _index(db)
    with idx.lock:
        ids = np.unique(idx.c_annot[idx.active[idx.c_slot]])
    names = qr.annotators_by_id(db)
    return sorted(names[int(i)] for i in ids if int(i) in names)


def queue_articles(db: sqlite_utils.Database, limit: int = 300
                   ) -> list[tuple[str, str | None, int]] | None:
    """``(external_id, title, queued sentences)`` of the articles with queued sentences,
    most first; None when there are more than ``limit`` (the page asks for an id)."""
    idx = _index(db)
    with idx.lock:
        ids, counts = np.unique(idx.article[idx.active], return_counts=True)
    if ids.size > limit:
        return None
    names = qr.article_names(db, ids.tolist())
    order = np.lexsort((ids, -counts))
    return [(names[int(ids[i])][0], names[int(ids[i])][1], int(counts[i])) for i in order
            if int(ids[i]) in names]


def load(db: sqlite_utils.Database, sentence_id: int) -> ReviewItem:
    """A sentence with its context, every annotation, its unit agreement and its gold."""
    s = ql.sentence_with_context(db, sentence_id)
    if s is None:
        raise ReviewError(f"no sentence with id {sentence_id}")
    judgements = tuple(
        Judgement(annotator_id=r["annotator_id"], annotator=r["annotator"], status=r["status"],
                  labels=tuple(r["labels"]), flagged=r["flagged"], note=r["note"],
                  duration_ms=r["duration_ms"])
        for r in qr.sentence_annotations(db, sentence_id))
    return ReviewItem(
        sentence_id=s["id"], public_id=f"{s['external_id']}:{s['idx']}", text=s["text"],
        title=s["title"], before=s["before"], after=s["after"], judgements=judgements,
        agreement=unit_agreement([j.labels for j in judgements if j.status == "labeled"]),
        gold=qr.get_gold(db, sentence_id))


def check_labels(labels: Iterable[str], cfg: ProjectConfig) -> tuple[str, ...]:
    """The gold labels as given, validated against the project (known, one unless
    multi-label, at least one); raises :class:`ReviewError`."""
    labels = tuple(dict.fromkeys(labels))
    if not labels:
        raise ReviewError("choose at least one gold label")
    unknown = [x for x in labels if x not in cfg.label_names]
    if unknown:
        raise ReviewError(f"unknown label(s): {', '.join(unknown)}; "
                          f"labels are {', '.join(cfg.label_names)}")
    if len(labels) > 1 and not cfg.multi_label:
        raise ReviewError("this project allows one label per sentence")
    return labels


def adjudicate(db: sqlite_utils.Database, reviewer_id: int, sentence_id: int,
               labels: Iterable[str], cfg: ProjectConfig, *, rationale: str | None = None,
               source: str = "app", created_at: str | None = None) -> int:
    """Decide a sentence's gold labels: one transaction appends an ``adjudicate`` event
    (annotator = the reviewer, note = the rationale) and sets gold with source
    ``adjudicated``. Deciding again appends another event and replaces the gold.
    Returns the event id. Only reviewers and admins may adjudicate."""
    labels = check_labels(labels, cfg)
    rationale = (rationale or "").strip() or None
    stamp = created_at or now_iso()
    with write_transaction(db) as conn:
        role = qr.annotator_role(conn, reviewer_id)
        if role is None:
            raise ReviewError(f"no annotator with id {reviewer_id}")
        if role not in REVIEW_ROLES:
            raise ReviewError(f"only reviewers and admins adjudicate (this one is {role})")
        kind = qr.sentence_kind(conn, sentence_id)
        if kind is None:
            raise ReviewError(f"no sentence with id {sentence_id}")
        if kind != "content":
            raise ReviewError(f"sentence {sentence_id} is not a content sentence")
        return qr.record_adjudication(
            conn, sentence_id=sentence_id, reviewer_id=reviewer_id, labels=labels,
            rationale=rationale, guidelines_version=cfg.guidelines_version, source=source,
            now=stamp)


def history(db: sqlite_utils.Database, sentence_id: int) -> list[dict]:
    """Every adjudication of a sentence, oldest first: id, reviewer, labels, note, created_at."""
    return qr.adjudications(db, sentence_id)


def flagged(db: sqlite_utils.Database, limit: int = 50) -> tuple[list[dict], int]:
    """Flagged sentences for reviewers, not yet adjudicated first (then by sentence id),
    and how many there are. Each: ``sentence_id, public_id, text, gold_source`` and
    ``flags``: ``[{"annotator", "note", "labels", "status"}]``."""
    idx = _index(db)
    with idx.lock:
        sids = sorted(idx.flagged)
    gold = qr.gold_sources(db, sids)
    sids.sort(key=lambda s: (gold.get(s) == "adjudicated", s))
    out = []
    for sid in sids[:limit]:
        s = ql.sentence_with_context(db, sid)
        if s is None:
            continue
        flags = [{"annotator": r["annotator"], "note": r["note"], "labels": r["labels"],
                  "status": r["status"]}
                 for r in qr.sentence_annotations(db, sid) if r["flagged"]]
        out.append({"sentence_id": sid, "public_id": f"{s['external_id']}:{s['idx']}",
                    "text": s["text"], "gold_source": gold.get(sid), "flags": flags})
    return out, len(sids)


def gold_counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Gold labels per source (``adjudicated``, ``unanimous``, ``majority``)."""
    return qr.gold_counts(db)
