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
from pathlib import Path

import numpy as np
import pandas as pd
import sqlite_utils

import db.labels as ql
import db.review as qr
from db import write_transaction
from labeling.annotate import effective_role, now_iso
from labeling.config import ProjectConfig
from labeling.records import find_control

REVIEW_ROLES = ("reviewer", "admin")
_CHUNK = 250_000           # rows per step of the general full scan (bounds memory)
_RANGE = 50_000            # sentence ids per step of the fast full scan (bounds memory)
_MERGE_SLOTS = 200_000     # queued sentences gathered before the arrays are extended
_REBUILD_AFTER = 20_000    # more changed sentences than this: rescan instead
_KEY_SHIFT = 40            # sort key = agreement level << 40 | sentence id
_LEVELS = 1 << 20          # agreement quantised to 2**-20 for the integer sort key


class _Unpackable(Exception):
    """The fast scan cannot encode this database (ids too large, too many label sets)."""


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
    """The queue and the flags of one database, as arrays (see the module docstring).

    Slots, one per queued sentence: ``sid``, ``agree`` (unit agreement), ``n`` (labels),
    ``key`` (sort key), ``active`` (False once the sentence left the queue; dead slots
    are compacted away when they are half of all). Cells, one per label of a queued
    sentence: ``c_slot``, ``c_annot`` (annotator id), ``c_code`` (index into ``sets``,
    the distinct label sets). ``flagged``: sentence id -> number of flagged annotations.
    """

    version: tuple[int, int, int] = (-1, -1, -1)
    last_event: int = 0
    sid: np.ndarray = field(default_factory=lambda: _empty(np.int64))
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
    memo: dict = field(default_factory=dict)  # answers for this version (emptied on change)
    _pending: list[dict] = field(default_factory=list)  # pieces not yet concatenated
    _scanning: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock)

    def _code_of(self, text: str) -> int:
        """The label-set code of one labels JSON text."""
        code = self.raw_code.get(text)
        if code is None:
            labels = canonical(json.loads(text))
            if labels not in self.set_code:
                self.set_code[labels] = len(self.sets)
                self.sets.append(labels)
            code = self.raw_code[text] = self.set_code[labels]
        return code

    def _add_rows(self, rows: list[tuple], adjudicated: np.ndarray) -> None:
        """:meth:`_add` for ``(sentence_id, annotator_id, labels JSON | None, flagged)``
        rows. Labels are factorised first: millions of labels hold few distinct texts."""
        if not rows:
            return
        sid, annot, raw, flag = (np.fromiter(col, dtype, len(rows)) for col, dtype in
                                 zip(zip(*rows), (np.int64, np.int64, object, np.int8)))
        local, uniques = pd.factorize(raw, use_na_sentinel=True)
        remap = np.array([self._code_of(t) for t in uniques] + [-1], dtype=np.int64)
        self._add(sid, annot, remap[local], flag != 0, adjudicated)

    def _add(self, sid: np.ndarray, annot: np.ndarray, code: np.ndarray, flag: np.ndarray,
             adjudicated: np.ndarray) -> None:
        """Count the flags of these annotations (sorted by sentence; every annotation of
        each sentence; ``code`` -1 = not labeled) and queue their sentences, unless
        adjudicated."""
        for s in sid[flag].tolist():
            self.flagged[s] = self.flagged.get(s, 0) + 1
        keep = (code >= 0) & ~np.isin(sid, adjudicated)
        if keep.any():
            self._add_cells(sid[keep], annot[keep], code[keep])

    def _add_cells(self, sid: np.ndarray, annot: np.ndarray, code: np.ndarray) -> None:
        """Unit agreement of each sentence (cells sorted by sentence); queue those with
        two or more labels and agreement below 1."""
        new_unit = np.r_[True, sid[1:] != sid[:-1]]
        unit = np.cumsum(new_unit) - 1
        starts = np.flatnonzero(new_unit)
        m = np.diff(np.r_[starts, sid.size])
        agreeing = np.zeros(starts.size, dtype=np.int64)
        # Cells d places apart within one sentence: over d = 1..max(m)-1 that is every
        # pair once (cells of a sentence are consecutive).
        for d in range(1, int(m.max())):
            same = (sid[:-d] == sid[d:]) & (code[:-d] == code[d:])
            agreeing += np.bincount(unit[:-d][same], minlength=starts.size)
        pairs = m * (m - 1) // 2
        queued = (m >= 2) & (agreeing < pairs)
        agree = agreeing[queued] / pairs[queued]
        q_sid = sid[starts][queued]
        slot = np.full(starts.size, -1, dtype=np.int64)
        slot[queued] = self._slots + np.arange(q_sid.size)
        level = np.minimum((agree * _LEVELS).astype(np.int64), _LEVELS - 1)
        cell_slot = slot[unit]
        cells = cell_slot >= 0
        self._append(sid=q_sid, agree=agree, n=m[queued], key=(level << _KEY_SHIFT) | q_sid,
                     active=np.ones(q_sid.size, dtype=bool), c_slot=cell_slot[cells],
                     c_annot=annot[cells], c_code=code[cells])

    @property
    def _slots(self) -> int:
        """Slots so far, including those a scan has not merged yet."""
        return self.sid.size + sum(p["sid"].size for p in self._pending)

    def _append(self, **arrays: np.ndarray) -> None:
        self._pending.append(arrays)
        if not self._scanning or sum(p["sid"].size for p in self._pending) > _MERGE_SLOTS:
            self._merge()

    def _merge(self) -> None:
        """Concatenate the pending pieces. A scan merges every ``_MERGE_SLOTS`` slots:
        per piece the copying is quadratic, all at the end holds every piece at once
        and leaves them as holes in the heap (measured: +90 MB RSS at 1M sentences)."""
        if self._pending:
            for name in self._pending[0]:
                old = getattr(self, name)
                setattr(self, name, np.concatenate(
                    [old] + [p[name].astype(old.dtype, copy=False) for p in self._pending]))
            self._pending = []

    def _rebuild(self, db: sqlite_utils.Database) -> None:
        """Read every labeled or flagged annotation once."""
        adjudicated = np.unique(np.asarray(qr.adjudicated_sentences(db), dtype=np.int64))
        fresh = _Index(lock=self.lock, _scanning=True)
        try:
            if not qr.packing_fits(db):
                raise _Unpackable
            fresh._scan_packed(db, adjudicated)
        except _Unpackable:
            fresh = _Index(lock=self.lock, _scanning=True)
            fresh._scan_rows(db, adjudicated)
        fresh._merge()
        fresh._scanning = False
        self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "lock"})
        self.memo = {}

    def _scan_packed(self, db: sqlite_utils.Database, adjudicated: np.ndarray) -> None:
        """The fast scan (``db.review.packed_annotations``), by ranges of sentence ids."""
        known: list[str] = []  # labels texts, packed code i + 1
        top = qr.max_sentence_id(db)
        for lo in range(0, top, _RANGE):
            for _ in range(5):
                packed = qr.packed_annotations(db, lo, lo + _RANGE, known)
                if not (((packed >> 1) & qr.NOT_LABELED) == 0).any():
                    break
                known += qr.unknown_label_texts(db, lo, lo + _RANGE, known)
                if len(known) > qr.MAX_KNOWN:
                    raise _Unpackable
            code_bits = (packed >> 1) & qr.NOT_LABELED
            remap = np.full(qr.NOT_LABELED + 1, -1, dtype=np.int64)
            remap[1:len(known) + 1] = [self._code_of(t) for t in known]
            # A text still unknown here changed during the scan: its event is newer than
            # the version being built, so the next refresh reads that sentence again.
            self._add(packed >> (qr.PACK_ANNOTATOR_BITS + qr.PACK_CODE_BITS + 1),
                      (packed >> (qr.PACK_CODE_BITS + 1)) & ((1 << qr.PACK_ANNOTATOR_BITS) - 1),
                      remap[code_bits], (packed & 1) == 1, adjudicated)

    def _scan_rows(self, db: sqlite_utils.Database, adjudicated: np.ndarray) -> None:
        """The general scan, row tuples in chunks (ids too large to pack, many label sets)."""
        carry: list[tuple] = []
        for rows in qr.queue_row_chunks(db, _CHUNK):
            # A sentence's rows may straddle two chunks: hold the last sentence back.
            cut = len(rows)
            while cut > 0 and rows[cut - 1][0] == rows[-1][0]:
                cut -= 1
            self._add_rows(carry + rows[:cut], adjudicated)
            carry = rows[cut:]
        self._add_rows(carry, adjudicated)

    def _update(self, db: sqlite_utils.Database, changed: list[int]) -> None:
        """Re-read only the sentences that have new events."""
        ids = np.asarray(changed, dtype=np.int64)
        self.active[np.isin(self.sid, ids)] = False
        for s in changed:
            self.flagged.pop(s, None)
        adjudicated = np.asarray(qr.adjudicated_sentences(db, changed), dtype=np.int64)
        self._add_rows(qr.queue_rows(db, changed), adjudicated)
        dead = self.active.size - int(self.active.sum())
        if dead > 1000 and 2 * dead > self.active.size:
            self._compact()

    def _compact(self) -> None:
        keep = self.active
        new_slot = np.cumsum(keep) - 1
        cells = keep[self.c_slot]
        self.c_slot = new_slot[self.c_slot[cells]].astype(np.int32)
        self.c_annot, self.c_code = self.c_annot[cells], self.c_code[cells]
        for name in ("sid", "agree", "n", "key", "active"):
            setattr(self, name, getattr(self, name)[keep])

    def refresh(self, db: sqlite_utils.Database) -> None:
        """Bring the index up to the database's current data version."""
        version = ql.data_version(db)
        if version == self.version:
            return
        upto = version[0]
        # new, another file, or corpus removals (an article removal deletes events, which
        # the incremental path below cannot see)
        if self.version[0] < 0 or upto < self.last_event or version[2] != self.version[2]:
            self._rebuild(db)
        else:
            changed = qr.changed_sentences(db, self.last_event, upto)
            if len(changed) > _REBUILD_AFTER:
                self._rebuild(db)
            elif changed:
                self._update(db, changed)
        # Reads above may already see events newer than ``upto``; those sentences are
        # read again next time, which is harmless (re-reading a sentence is idempotent).
        self.last_event, self.version = upto, version
        self.memo = {}

    def select(self, *, label: str | None, annotator_id: int | None,
               sentence_ids: np.ndarray | None) -> np.ndarray:
        """Slots of the live queue that match every given filter."""
        mask = self.active.copy()
        if sentence_ids is not None:
            mask &= np.isin(self.sid, sentence_ids)
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
    path = getattr(db, "_parley_path", None)
    # an in-memory database is private to its connection
    path = f"memory:{id(db.conn)}" if path in (None, ":memory:") else str(Path(path).resolve())
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

    Filters (optional, combined): ``label`` (some annotator chose it), ``annotator``
    (name: they labeled the sentence), ``article`` (its external id). An unknown name
    gives an empty queue. Returns the first ``limit`` entries and the total count.
    """
    annotator_id = sentence_ids = None
    if annotator is not None:
        row = ql.get_annotator(db, annotator)
        if row is None:
            return Queue([], 0)
        annotator_id = row["id"]
    if article is not None:
        aid = qr.article_id(db, article)
        if aid is None:
            return Queue([], 0)
        sentence_ids = np.asarray(qr.article_sentences(db, aid), dtype=np.int64)
    idx = _index(db)
    with idx.lock:
        memo_key = ("queue", label, annotator_id, article, limit)
        if memo_key not in idx.memo:
            slots = idx.select(label=label, annotator_id=annotator_id,
                               sentence_ids=sentence_ids)
            total = int(slots.size)
            if total > limit:
                slots = slots[np.argpartition(idx.key[slots], limit)[:limit]]
            slots = slots[np.argsort(idx.key[slots], kind="stable")]
            idx.memo[memo_key] = ([(int(idx.sid[s]), float(idx.agree[s]), int(idx.n[s]))
                                   for s in slots], total)
        head, total = idx.memo[memo_key]
    public = qr.sentence_ids_public(db, [h[0] for h in head])
    entries = [QueueEntry(sid, "{}:{}".format(*public.get(sid, ("?", sid))), agree, n)
               for sid, agree, n in head]
    return Queue(entries, total)


def queue_annotators(db: sqlite_utils.Database) -> list[str]:
    """Names of the annotators with a label on some queued sentence (filter choices)."""
    idx = _index(db)
    with idx.lock:
        if "annotators" not in idx.memo:
            live = idx.c_annot[idx.active[idx.c_slot]]
            idx.memo["annotators"] = np.flatnonzero(np.bincount(live)).tolist() \
                if live.size else []
        ids = idx.memo["annotators"]
    names = qr.annotators_by_id(db)
    return sorted(names[i] for i in ids if i in names)


def load(db: sqlite_utils.Database, sentence_id: int) -> ReviewItem:
    """A sentence with its context, every annotation, its unit agreement and its gold."""
    s = ql.sentence_with_context(db, sentence_id)
    if s is None:
        raise ReviewError(f"no sentence with id {sentence_id}")
    judgements = tuple(
        Judgement(annotator_id=r["annotator_id"], annotator=r["annotator"], status=r["status"],
                  labels=tuple(r["labels"]), flagged=r["flagged"], note=r["note"],
                  duration_ms=r["duration_ms"])
        for r in qr.sentence_annotations(db, [sentence_id]))
    return ReviewItem(
        sentence_id=s["id"], public_id=f"{s['external_id']}:{s['idx']}", text=s["text"],
        title=s["title"], before=s["before"], after=s["after"], judgements=judgements,
        agreement=unit_agreement([j.labels for j in judgements if j.status == "labeled"]),
        gold=qr.get_gold(db, sentence_id))


def check_labels(labels: Iterable[str], cfg: ProjectConfig) -> tuple[str, ...]:
    """The gold labels as given, validated against the project (known, one unless
    multi-label, at least one); raises :class:`ReviewError`."""
    try:
        return cfg.check_labels(labels, what="gold label")
    except ValueError as exc:
        raise ReviewError(str(exc)) from None


def adjudicate(db: sqlite_utils.Database, reviewer_id: int, sentence_id: int,
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
        row = qr.annotator_role(conn, reviewer_id)
        if row is None:
            raise ReviewError(f"no annotator with id {reviewer_id}")
        role = effective_role(row)
        if role not in REVIEW_ROLES:
            why = (" until a password is set" if row["role"] in REVIEW_ROLES else "")
            raise ReviewError(f"only reviewers and admins adjudicate (this one is {role}{why})")
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
                 for r in qr.sentence_annotations(db, [sid]) if r["flagged"]]
        out.append({"sentence_id": sid, "public_id": f"{s['external_id']}:{s['idx']}",
                    "text": s["text"], "gold_source": gold.get(sid), "flags": flags})
    return out, len(sids)


def gold_counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Gold labels per source (``adjudicated``, ``unanimous``, ``majority``)."""
    return qr.gold_counts(db)
