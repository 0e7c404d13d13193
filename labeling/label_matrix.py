"""The label read model: every labeled annotation of one database (and which sentences
are flagged) as NumPy arrays, kept at the database's data version and refreshed
incrementally from the event log. It feeds the disagreement queue (:mod:`labeling.review`), the agreement report
and the annotator table (:mod:`labeling.reliability`, also the export's card).

One reader, one cache:

- The first use reads the labeled annotations once (:func:`db.label_cells.labeled_cells`:
  one integer per row, parsed by NumPy), plus the adjudicated sentences; the flagged
  sentences are read when first asked for (the Review page's list).
- Afterwards a new data version (``db.sentences.data_version``: last event id, sentence
  high-water mark, last project-log id) re-reads only the sentences with events since the
  last refresh (:func:`db.annotations.changed_sentences`, :func:`db.annotations.queue_rows`): a
  label or an adjudication costs a few index probes. A new project-log entry (an article
  removal deletes events) or many changed sentences read everything again.
- Answers derived from the cells (the units x annotators table, reports, queue pages)
  live in :attr:`LabelMatrix.memo` and are dropped at each new version; views that
  update incrementally themselves (the queue) register in :attr:`LabelMatrix.views`
  and are told which sentences changed.
- One matrix per database file (an in-memory database per connection), a few databases
  at most (bounded LRU), each with its own lock; the module lock only guards the LRU.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

import db.annotations as annotations_db
import db.gold as gold_db
import db.label_cells as label_cells_db
import db.sentences as sentences_db
from db.connection import path_of
from labeling.vocabulary import label_set

if TYPE_CHECKING:
    from labeling.project import Project

_CACHE_SIZE = 4            # databases kept (tests and benchmarks open many)
_REBUILD_AFTER = 20_000    # more changed sentences than this: read everything again


_TAIL_MERGE = 50_000       # appended cells merged into the sorted part past this


class View(Protocol):
    """A structure derived from the cells that follows changes itself (the queue)."""

    def rebuild(self, matrix: LabelMatrix) -> None:
        """Derive from scratch from ``matrix`` (after a full read)."""

    def update(self, matrix: LabelMatrix, changed: np.ndarray,
               cells: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        """Follow a change: the cells of the ``changed`` sentences were replaced by
        ``cells`` (their labeled ones: sentence ids, annotator ids, set codes; sorted)."""


_FIELDS = ("sid", "annot", "code", "alive")


def _no_cells() -> dict[str, np.ndarray]:
    return {"sid": np.zeros(0, dtype=np.int64), "annot": np.zeros(0, dtype=np.int32),
            "code": np.zeros(0, dtype=np.int32), "alive": np.zeros(0, dtype=bool)}


class LabelMatrix:
    """Every labeled annotation of one database, as parallel arrays, and the flagged
    sentences.

    Cells, one per annotation, in two parts with the same fields: :attr:`base`, sorted by
    (sentence, annotator) (a full read, or a merge), and :attr:`tail`, the cells later
    refreshes appended (small: merged into ``base`` past ``_TAIL_MERGE`` cells or when
    half the cells are dead), so a refresh never copies every cell. Fields: ``sid``
    (sentence id), ``annot`` (annotator id), ``code`` (index into :attr:`sets`, the
    distinct label sets as sorted tuples), ``alive`` (False once the sentence was
    re-read). ``adjudicated``: sorted sentence ids whose gold a reviewer decided.
    ``flagged``: sorted sentence ids with a flagged annotation, read on first use (only
    the Review page asks; the report and the export never pay for it). ``version``: the
    data version the arrays hold. Use under :attr:`lock` (see :func:`matrix`).
    """

    def __init__(self) -> None:
        self.version: tuple[int, int, int] = (-1, -1, -1)
        self.last_event = 0
        self.sets: list[tuple[str, ...]] = []
        self._set_code: dict[tuple[str, ...], int] = {}
        self._raw_code: dict[str, int] = {}  # labels JSON -> set code
        self.base = _no_cells()
        self.tail = _no_cells()
        self._dead = 0
        self.adjudicated = np.zeros(0, dtype=np.int64)
        self.flagged: np.ndarray | None = None
        self.memo: dict[Hashable, Any] = {}
        self.views: dict[str, View] = {}
        self.lock = threading.RLock()

    # -- label sets ---------------------------------------------------------------------

    def code_of(self, text: str | None) -> int:
        """The label-set code of one stored labels JSON (-1 for None)."""
        if text is None:
            return -1
        code = self._raw_code.get(text)
        if code is None:
            labels = label_set(json.loads(text))
            if labels not in self._set_code:
                self._set_code[labels] = len(self.sets)
                self.sets.append(labels)
            code = self._raw_code[text] = self._set_code[labels]
        return code

    # -- reading ------------------------------------------------------------------------

    def refresh(self, db: Project, known: Callable[[], list[str]]) -> None:
        """Bring the arrays up to the database's current data version. ``known()``: labels
        JSON texts expected on most rows (coded in SQL on a full read; asked only then)."""
        version = sentences_db.data_version(db)
        if version == self.version:
            return
        upto = version[0]
        # new, another file, or corpus removals (an article removal deletes events, which
        # the incremental path below cannot see)
        if self.version[0] < 0 or upto < self.last_event or version[2] != self.version[2]:
            self._read_all(db, known)
        else:
            changed = annotations_db.changed_sentences(db, self.last_event, upto)
            if len(changed) > _REBUILD_AFTER:
                self._read_all(db, known)
            elif changed:
                self._read_changed(db, changed)
        # Reads above may already see events newer than ``upto``; those sentences are
        # read again next time, which is harmless (re-reading a sentence is idempotent).
        self.last_event, self.version = upto, version
        self.memo = {}

    def _read_all(self, db: Project, known: Callable[[], list[str]]) -> None:
        self.adjudicated = np.unique(np.asarray(gold_db.adjudicated_sentences(db),
                                                dtype=np.int64))
        self.flagged = None
        cells = label_cells_db.labeled_cells(db, list(dict.fromkeys(
            [*known(), *self._raw_code])))
        remap = np.array([self.code_of(t) for t in cells.label_json] + [-1], dtype=np.int32)
        code = remap[cells.codes]
        keep = code >= 0  # a NULL or empty label list is not a cell
        part = {"sid": cells.sentence_ids,  # int32 below 2**31, as read: half the memory
                "annot": cells.annotator_ids.astype(np.int32, copy=False), "code": code}
        if not keep.all():
            part = {k: v[keep] for k, v in part.items()}
        part["alive"] = np.ones(part["sid"].size, dtype=bool)
        self.base = part
        self.tail, self._dead = _no_cells(), 0
        for view in self.views.values():
            view.rebuild(self)

    def _read_changed(self, db: Project, changed: list[int]) -> None:
        ids = np.unique(np.asarray(changed, dtype=np.int64))
        # sorted part: each sentence's cells are one run, found by binary search
        sid, alive = self.base["sid"], self.base["alive"]
        if ids[-1] > np.iinfo(sid.dtype).max:  # a sentence added past int32 since the read
            sid = self.base["sid"] = sid.astype(np.int64)
        # same dtype on both sides: numpy would otherwise convert every base id per call
        probe = ids.astype(sid.dtype)
        lo, hi = np.searchsorted(sid, probe, "left"), np.searchsorted(sid, probe, "right")
        for a, b in zip(lo[lo < hi].tolist(), hi[lo < hi].tolist()):
            self._dead += int(alive[a:b].sum())
            alive[a:b] = False
        if self.tail["sid"].size:
            gone = self.tail["alive"] & np.isin(self.tail["sid"], ids)
            self._dead += int(gone.sum())
            self.tail["alive"][gone] = False
        decided = np.asarray(gold_db.adjudicated_sentences(db, changed), dtype=np.int64)
        self.adjudicated = np.union1d(self.adjudicated[~np.isin(self.adjudicated, ids)],
                                      decided)
        rows = annotations_db.queue_rows(db, changed)
        new = _no_cells()
        if rows:
            sid, annot, raw, flag = (np.fromiter(col, dtype, len(rows)) for col, dtype in
                                     zip(zip(*rows), (np.int64, np.int64, object, np.int8)))
            # few distinct texts among the rows: code each once
            local, uniques = pd.factorize(raw, use_na_sentinel=True)
            remap = np.array([self.code_of(t) for t in uniques] + [-1], dtype=np.int32)
            code = remap[local]
            labeled = code >= 0  # a flagged skip is a flag, not a cell
            new = {"sid": sid[labeled], "annot": annot[labeled].astype(np.int32),
                   "code": code[labeled], "alive": np.ones(int(labeled.sum()), dtype=bool)}
            self.tail = {k: np.concatenate([self.tail[k], new[k]]) for k in _FIELDS}
            if self.flagged is not None:
                self.flagged = np.union1d(self.flagged[~np.isin(self.flagged, ids)],
                                          sid[flag != 0])
        elif self.flagged is not None:
            self.flagged = self.flagged[~np.isin(self.flagged, ids)]
        cells = (new["sid"], new["annot"], new["code"])
        for view in self.views.values():
            view.update(self, ids, cells)
        total = self.base["sid"].size + self.tail["sid"].size
        if (self.tail["sid"].size > _TAIL_MERGE
                or (self._dead > 1000 and 2 * self._dead > total)):
            self._merge()

    def _merge(self) -> None:
        """Drop dead cells and sort the tail into the base."""
        both = {k: np.concatenate([self.base[k], self.tail[k]]) for k in _FIELDS}
        live = np.flatnonzero(both["alive"])
        order = live[np.lexsort((both["annot"][live], both["sid"][live]))]
        self.base = {k: both[k][order] for k in _FIELDS}
        self.tail, self._dead = _no_cells(), 0

    # -- reading the cells --------------------------------------------------------------

    def _live(self, keep: Callable[[dict[str, np.ndarray]], np.ndarray]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(sentence ids, annotator ids, set codes)`` of the cells where ``keep(part)``
        holds, sorted by sentence then annotator."""
        fields = ("sid", "annot", "code")
        parts = []
        for part in (self.base, self.tail):
            mask = keep(part)
            parts.append([part[k] if mask.all() else part[k][mask] for k in fields])
        if not parts[1][0].size:
            return tuple(parts[0])
        sid, annot, code = (np.concatenate([a, b]) for a, b in zip(*parts))
        order = np.lexsort((annot, sid))
        return sid[order], annot[order], code[order]

    def labeled(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(sentence ids, annotator ids, set codes)`` of every live labeled cell, sorted
        by sentence then annotator."""
        return self._live(lambda part: part["alive"] & (part["code"] >= 0))

    def flagged_sentences(self, db: Project) -> list[int]:
        """Sentence ids with at least one flagged annotation, ascending (read from ``db``
        on first use, then kept by the refreshes)."""
        if self.flagged is None:
            self.flagged = np.asarray(annotations_db.flagged_sentences(db), dtype=np.int64)
        return self.flagged.tolist()

    def cached(self, name: Hashable, build: Callable[[], Any]) -> Any:
        """``build()``, computed once per data version (call under :attr:`lock`)."""
        memo = self.memo  # a refresh inside build() starts a new memo: not stored there
        if name not in memo:
            memo[name] = build()
        return memo[name]


_MATRICES: OrderedDict[str, LabelMatrix] = OrderedDict()
_LOCK = threading.Lock()


def _identity(db: Project) -> str:
    path = path_of(db)
    if path is None:  # an in-memory database is private to its connection
        return f"memory:{id(db.conn)}"
    return str(Path(path).resolve())


def matrix(db: Project) -> LabelMatrix:
    """The refreshed label matrix of this database (one per process and file). Hold
    ``matrix.lock`` while reading it: another thread may refresh it meanwhile."""
    key = _identity(db)
    with _LOCK:
        found = _MATRICES.get(key)
        if found is None:
            found = _MATRICES[key] = LabelMatrix()
            while len(_MATRICES) > _CACHE_SIZE:
                _MATRICES.popitem(last=False)
        else:
            _MATRICES.move_to_end(key)
    with found.lock:
        found.refresh(db, lambda: _project_labels(db))
    return found


def _project_labels(db: Project) -> list[str]:
    """The labels JSON a one-label annotation of each project label is stored as."""
    from labeling import project  # the config reader; imported late (no import cycle)

    return [json.dumps([name], ensure_ascii=False)
            for name in project.load_config(db).label_names]


def clear_cache() -> None:
    """Forget every database's matrix (tests, benchmarks, a replaced database file)."""
    with _LOCK:
        _MATRICES.clear()
