"""Review services: the disagreement queue, adjudication, flagged annotations.

The queue holds every sentence with two or more labels, no reviewer decision yet, and
a *unit agreement* below 1 (unit agreement: the share of agreeing pairs among the
sentence's pairs of labels; two label sets agree when they hold the same labels).
It is ordered lowest agreement first, then by sentence id (article order), so ties
in agreement are never broken at random.

At a million sentences the queue cannot be recomputed on every rerun, so it is a view
of the label read model (:mod:`labeling.label_matrix`, one per database file): built
from its cells once, then told which sentences a refresh re-read (an adjudication, a
new label), so a decision costs a few index probes and a few array operations.

Gold: a reviewer's decision is an ``adjudicate`` event and the sentence's gold with
source ``adjudicated``, written in one transaction. Unanimous gold is kept by
``labeling.annotate.save`` and never replaces an adjudicated one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import db.annotations as annotations_db
import db.annotators as annotators_db
import db.articles as articles_db
import db.gold as gold_db
import db.sentences as sentences_db
from db import write_transaction
from labeling import label_matrix
from labeling.agreement import counts as agreement_counts
from labeling.annotate import effective_role, now_iso
from labeling.config import ProjectConfig
from labeling.records import find_control
from labeling.vocabulary import REVIEW_ROLES, label_set

if TYPE_CHECKING:
    from labeling.project import Project

_KEY_SHIFT = 40            # sort key = agreement level << 40 | sentence id
_LEVELS = 1 << 20          # agreement quantised to 2**-20 for the integer sort key


class ReviewError(ValueError):
    """A review action that cannot be applied (not a reviewer, bad label, no sentence)."""


@dataclass(frozen=True)
class QueueEntry:
    """One sentence of the disagreement queue."""

    sentence_id: int
    public_id: str  # <article external id>:<sentence idx>
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


# ----------------------------------------------------------------------------- pure


def unit_agreement(label_sets: Sequence[Iterable[str]]) -> float | None:
    """Share of agreeing pairs among a sentence's labels; None with fewer than two.

    ``[A, A, B]``: 3 pairs, 1 agrees -> 1/3. Empty label sets (skips) do not count.
    """
    sets = [label_set(s) for s in label_sets if s]
    if len(sets) < 2:
        return None
    codes, _ = pd.factorize(pd.Series(sets, dtype=object))
    m, agreeing = agreement_counts.unit_agreement_counts(
        np.zeros(len(sets), dtype=np.int64), codes.astype(np.int64), 1)
    return float(agreeing[0] / (m[0] * (m[0] - 1) // 2))


# ----------------------------------------------------------------------------- the queue


def _empty(dtype) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


@dataclass
class _QueueView:
    """The disagreement queue of one database, derived from its
    :class:`~labeling.label_matrix.LabelMatrix` and following its changes.

    Slots, one per queued sentence: ``sid``, ``agree`` (unit agreement), ``n`` (labels),
    ``key`` (sort key), ``active`` (False once the sentence left the queue; dead slots
    are compacted away when they are half of all). Cells, one per label of a queued
    sentence: ``c_slot``, ``c_annot`` (annotator id), ``c_code`` (index into the
    matrix's ``sets``, the distinct label sets).
    """

    sid: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    agree: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    n: np.ndarray = field(default_factory=lambda: _empty(np.int16))
    key: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    active: np.ndarray = field(default_factory=lambda: _empty(bool))
    c_slot: np.ndarray = field(default_factory=lambda: _empty(np.int32))
    c_annot: np.ndarray = field(default_factory=lambda: _empty(np.int32))
    c_code: np.ndarray = field(default_factory=lambda: _empty(np.int32))

    def rebuild(self, matrix: label_matrix.LabelMatrix) -> None:
        """Derive the queue from every labeled cell (after a full read)."""
        self.__init__()
        sid, annot, code = matrix.labeled()
        self._add_cells(sid, annot, code, matrix.adjudicated)

    def update(self, matrix: label_matrix.LabelMatrix, changed: np.ndarray,
               cells: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        """The ``changed`` sentences were re-read: requeue them from their new
        labeled ``cells`` (sentence ids, annotator ids, set codes; sorted)."""
        self.active[np.isin(self.sid, changed)] = False
        self._add_cells(*cells, matrix.adjudicated)
        dead = self.active.size - int(self.active.sum())
        if dead > 1000 and 2 * dead > self.active.size:
            self._compact()

    def _add_cells(self, sid: np.ndarray, annot: np.ndarray, code: np.ndarray,
                   adjudicated: np.ndarray) -> None:
        """Queue the sentences of these cells (sorted by sentence) that are not
        adjudicated and have two or more labels and a unit agreement below 1."""
        keep = ~np.isin(sid, adjudicated)
        if not keep.all():
            sid, annot, code = sid[keep], annot[keep], code[keep]
        if not sid.size:
            return
        new_unit = np.r_[True, sid[1:] != sid[:-1]]
        unit = np.cumsum(new_unit) - 1
        starts = np.flatnonzero(new_unit)
        m, agreeing = agreement_counts.unit_agreement_counts(unit, code, starts.size)
        pairs = m * (m - 1) // 2
        queued = (m >= 2) & (agreeing < pairs)
        agree = agreeing[queued] / pairs[queued]
        q_sid = sid[starts][queued]
        slot = np.full(starts.size, -1, dtype=np.int64)
        slot[queued] = self.sid.size + np.arange(q_sid.size)
        level = np.minimum((agree * _LEVELS).astype(np.int64), _LEVELS - 1)
        cell_slot = slot[unit]
        cells = cell_slot >= 0
        for name, add in (("sid", q_sid), ("agree", agree), ("n", m[queued]),
                          ("key", (level << _KEY_SHIFT) | q_sid),
                          ("active", np.ones(q_sid.size, dtype=bool)),
                          ("c_slot", cell_slot[cells]), ("c_annot", annot[cells]),
                          ("c_code", code[cells])):
            old = getattr(self, name)
            setattr(self, name, np.concatenate([old, add.astype(old.dtype, copy=False)]))

    def _compact(self) -> None:
        keep = self.active
        new_slot = np.cumsum(keep) - 1
        cells = keep[self.c_slot]
        self.c_slot = new_slot[self.c_slot[cells]].astype(np.int32)
        self.c_annot, self.c_code = self.c_annot[cells], self.c_code[cells]
        for name in ("sid", "agree", "n", "key", "active"):
            setattr(self, name, getattr(self, name)[keep])

    def select(self, sets: list[tuple[str, ...]], *, label: str | None,
               annotator_id: int | None, sentence_ids: np.ndarray | None) -> np.ndarray:
        """Slots of the live queue that match every given filter (``sets``: the label
        sets the cell codes index)."""
        mask = self.active.copy()
        if sentence_ids is not None:
            mask &= np.isin(self.sid, sentence_ids)
        if annotator_id is not None:
            mask &= self._slots_with(self.c_annot == annotator_id)
        if label is not None:
            has = np.array([label in s for s in sets] + [False], dtype=bool)
            mask &= self._slots_with(has[self.c_code])
        return np.flatnonzero(mask)

    def _slots_with(self, cells: np.ndarray) -> np.ndarray:
        out = np.zeros(self.sid.size, dtype=bool)
        out[self.c_slot[cells]] = True
        return out


def _queue_view(db: Project) -> tuple[label_matrix.LabelMatrix, _QueueView]:
    """The refreshed label matrix of this database and its queue view (created on first
    use). Read both under ``matrix.lock``."""
    matrix = label_matrix.matrix(db)
    with matrix.lock:
        view = matrix.views.get("queue")
        if view is None:
            view = _QueueView()
            view.rebuild(matrix)
            matrix.views["queue"] = view
    return matrix, view


def clear_cache() -> None:
    """Forget every database's label matrix and queue (tests; a replaced database file).
    The same cache as :func:`labeling.reliability.clear_cache`."""
    label_matrix.clear_cache()


# ----------------------------------------------------------------------------- services


def queue(db: Project, *, label: str | None = None,
          annotator: str | None = None, article: str | None = None,
          limit: int = 20) -> Queue:
    """The disagreement queue, lowest unit agreement first (then sentence id).

    Filters (optional, combined): ``label`` (some annotator chose it), ``annotator``
    (name: they labeled the sentence), ``article`` (its external id). An unknown name
    gives an empty queue. Returns the first ``limit`` entries and the total count.
    """
    annotator_id = sentence_ids = None
    if annotator is not None:
        row = annotators_db.get(db, annotator)
        if row is None:
            return Queue([], 0)
        annotator_id = row["id"]
    if article is not None:
        aid = articles_db.article_id(db, article)
        if aid is None:
            return Queue([], 0)
        sentence_ids = np.asarray(articles_db.article_sentences(db, aid), dtype=np.int64)
    matrix, view = _queue_view(db)

    def page() -> tuple[list[tuple[int, float, int]], int]:
        slots = view.select(matrix.sets, label=label, annotator_id=annotator_id,
                            sentence_ids=sentence_ids)
        total = int(slots.size)
        if total > limit:
            slots = slots[np.argpartition(view.key[slots], limit)[:limit]]
        slots = slots[np.argsort(view.key[slots], kind="stable")]
        return [(int(view.sid[s]), float(view.agree[s]), int(view.n[s])) for s in slots], total

    with matrix.lock:
        head, total = matrix.cached(("queue", label, annotator_id, article, limit), page)
    public = articles_db.sentence_ids_public(db, [h[0] for h in head])
    entries = [QueueEntry(sid, "{}:{}".format(*public.get(sid, ("?", sid))), agree, n)
               for sid, agree, n in head]
    return Queue(entries, total)


def queue_annotators(db: Project) -> list[str]:
    """Names of the annotators with a label on some queued sentence (filter choices)."""
    matrix, view = _queue_view(db)

    def present() -> list[int]:
        live = view.c_annot[view.active[view.c_slot]]
        return np.flatnonzero(np.bincount(live)).tolist() if live.size else []

    with matrix.lock:
        ids = matrix.cached("queue_annotators", present)
    names = annotators_db.names_by_id(db)
    return sorted(names[i] for i in ids if i in names)


def load(db: Project, sentence_id: int) -> ReviewItem:
    """A sentence with its context, every annotation, its unit agreement and its gold."""
    s = sentences_db.sentence_with_context(db, sentence_id)
    if s is None:
        raise ReviewError(f"no sentence with id {sentence_id}")
    judgements = tuple(
        Judgement(annotator_id=r["annotator_id"], annotator=r["annotator"], status=r["status"],
                  labels=tuple(r["labels"]), flagged=r["flagged"], note=r["note"],
                  duration_ms=r["duration_ms"])
        for r in annotations_db.sentence_annotations(db, [sentence_id]))
    return ReviewItem(
        sentence_id=s["id"], public_id=f"{s['external_id']}:{s['idx']}", text=s["text"],
        title=s["title"], before=s["before"], after=s["after"], judgements=judgements,
        agreement=unit_agreement([j.labels for j in judgements if j.status == "labeled"]),
        gold=gold_db.get_gold(db, sentence_id))


def check_labels(labels: Iterable[str], cfg: ProjectConfig) -> tuple[str, ...]:
    """The gold labels as given, validated against the project (known, one unless
    multi-label, at least one); raises :class:`ReviewError`."""
    try:
        return cfg.check_labels(labels, what="gold label")
    except ValueError as exc:
        raise ReviewError(str(exc)) from None


def adjudicate(db: Project, reviewer_id: int, sentence_id: int,
               labels: Iterable[str], cfg: ProjectConfig, *, rationale: str | None = None,
               source: str = "app", created_at: str | None = None) -> int:
    """Decide a sentence's gold labels: one transaction appends an ``adjudicate`` event
    (annotator = the reviewer, note = the rationale) and sets gold with source
    ``adjudicated``. Deciding again appends another event and replaces the gold.
    Returns the event id. Only reviewers and admins may adjudicate."""
    labels = check_labels(labels, cfg)
    rationale = (rationale or "").strip() or None
    if rationale is not None and (bad := find_control(rationale, multiline=True)):
        raise ReviewError(f"the rationale holds a control character ({bad!r}); remove it")
    stamp = created_at or now_iso()
    with write_transaction(db) as conn:
        # checked inside the write transaction: a demotion that lands first is obeyed
        row = annotators_db.role_row(conn, reviewer_id)
        if row is None:
            raise ReviewError(f"no annotator with id {reviewer_id}")
        role = effective_role(row)
        if role not in REVIEW_ROLES:
            why = (" until a password is set" if row["role"] in REVIEW_ROLES else "")
            raise ReviewError(f"only reviewers and admins adjudicate (this one is {role}{why})")
        kind = articles_db.sentence_kind(conn, sentence_id)
        if kind is None:
            raise ReviewError(f"no sentence with id {sentence_id}")
        if kind != "content":
            raise ReviewError(f"sentence {sentence_id} is not a content sentence")
        return annotations_db.record_adjudication(
            conn, sentence_id=sentence_id, reviewer_id=reviewer_id, labels=labels,
            rationale=rationale, guidelines_version=cfg.guidelines_version, source=source,
            now=stamp)


def history(db: Project, sentence_id: int) -> list[dict]:
    """Every adjudication of a sentence, oldest first: id, reviewer, labels, note, created_at."""
    return annotations_db.adjudications(db, sentence_id)


def flagged(db: Project, limit: int = 50) -> tuple[list[dict], int]:
    """Flagged sentences for reviewers, not yet adjudicated first (then by sentence id),
    and how many there are. Each: ``sentence_id, public_id, text, gold_source`` and
    ``flags``: ``[{"annotator", "note", "labels", "status"}]``."""
    matrix = label_matrix.matrix(db)
    with matrix.lock:
        sids = list(matrix.cached("flagged", lambda: matrix.flagged_sentences(db)))
    gold = gold_db.gold_sources(db, sids)
    sids.sort(key=lambda s: (gold.get(s) == "adjudicated", s))
    out = []
    for sid in sids[:limit]:
        s = sentences_db.sentence_with_context(db, sid)
        if s is None:
            continue
        flags = [{"annotator": r["annotator"], "note": r["note"], "labels": r["labels"],
                  "status": r["status"]}
                 for r in annotations_db.sentence_annotations(db, [sid]) if r["flagged"]]
        out.append({"sentence_id": sid, "public_id": f"{s['external_id']}:{s['idx']}",
                    "text": s["text"], "gold_source": gold.get(sid), "flags": flags})
    return out, len(sids)


def gold_counts(db: Project) -> dict[str, int]:
    """Gold labels per source (``adjudicated``, ``unanimous``, ``majority``)."""
    return gold_db.gold_counts(db)
