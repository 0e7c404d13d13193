"""Agreement of the project's annotators, computed from the database (the Review page and
``python -m labeling agreement`` call this; the metrics themselves are in
:mod:`labeling.agreement`).

Units are sentences, keyed by their database id (``LabelTable.unit_ids``), never by
text; only ``labeled`` annotations count (skips do not). Annotator columns are names.

Every result is derived from the label read model (:mod:`labeling.label_matrix`: one
matrix per database, refreshed incrementally from the event log) and cached with it per
data version and the project's label list, so a page rerun after no change costs three
rowid lookups, and a label, skip, undo, adjudication or import (each appends an event)
re-reads only the sentences it touched before the table is derived again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import db.annotators as annotators_db
import db.gold as gold_db
import db.label_cells as label_cells_db
from labeling import agreement, label_matrix, project
from labeling.agreement import LabelTable
from labeling.config import ProjectConfig

if TYPE_CHECKING:
    from labeling.project import Project

# ----------------------------------------------------------------------------- cache


def _config_key(cfg: ProjectConfig) -> Hashable:
    return (tuple(cfg.label_names), bool(cfg.multi_label))


def _cached(db: Project, name: Hashable, build: Callable[[ProjectConfig], Any],
            cfg: ProjectConfig | None = None) -> Any:
    """``build(cfg)`` computed once per data version of the label matrix and config (the
    matrix's lock: two sessions asking at once compute once)."""
    cfg = cfg or project.load_config(db)
    matrix = label_matrix.matrix(db)
    with matrix.lock:
        return matrix.cached(("reliability", _config_key(cfg), name), lambda: build(cfg))


def clear_cache() -> None:
    """Forget every cached table and report (tests, benchmarks): the label matrix cache,
    shared with :func:`labeling.review.clear_cache`."""
    label_matrix.clear_cache()


# ----------------------------------------------------------------------------- the table


def _build_table(db: Project, cfg: ProjectConfig) -> LabelTable:
    names = cfg.label_names
    matrix = label_matrix.matrix(db)
    with matrix.lock:
        sids, aids, codes = matrix.labeled()
        sets = list(matrix.sets)
    used = np.flatnonzero(np.bincount(codes, minlength=len(sets))).tolist() if codes.size \
        else []
    multi = cfg.multi_label or any(len(sets[i]) > 1 for i in used)
    if multi:
        # Each distinct label *set* is a category; '["b","a"]' and '["a","b"]' are one.
        frozen = [frozenset(v) for v in sets]
        rank = {n: i for i, n in enumerate(names)}
        distinct = {frozen[i] for i in used if frozen[i]}
        categories: list = sorted(distinct, key=lambda s: (
            len(s), sorted((rank.get(x, len(rank)), x) for x in s)))
        index = {c: i for i, c in enumerate(categories)}
        remap = [index.get(s, -1) if s else -1 for s in frozen]
    else:
        # Project labels first (used or not: AC1 counts them), then stray labels sorted.
        single = [v[0] if v else None for v in sets]
        known = set(names)
        extra = sorted({single[i] for i in used if single[i] is not None
                        and single[i] not in known})
        categories = list(names) + extra
        index = {c: i for i, c in enumerate(categories)}
        remap = [index.get(x, -1) if x is not None else -1 for x in single]
    # Trailing slot: code -1 (no label) stays -1. int16 keeps the per-cell copy small.
    remap_arr = np.array(remap + [-1], dtype=np.int16 if len(categories) < 2**15 else np.int64)
    cat = remap_arr[codes]
    keep = cat >= 0
    if not keep.all():  # empty label lists are not cells
        sids, aids, cat = sids[keep], aids[keep], cat[keep]
    del keep

    # Units: sentence ids arrive sorted, so a running count of changes numbers them.
    starts = np.empty(sids.size, dtype=bool)
    starts[:1] = True
    np.not_equal(sids[1:], sids[:-1], out=starts[1:])
    unit_ids = sids[starts]
    unit_index = np.cumsum(starts, dtype=np.int32 if unit_ids.size < 2**31 else np.int64)
    unit_index -= 1
    del starts
    # Annotator columns: only people with a label, sorted by name.
    id_to_name = annotators_db.names_by_id(db)
    small = bool(aids.size) and int(aids.max()) < 2**20
    if small:  # ids are small ints: count, no sort
        present = np.flatnonzero(np.bincount(aids))
    else:
        present = np.unique(aids)
    order = sorted(present.tolist(), key=lambda a: id_to_name.get(a, str(a)))
    column_of_present = np.empty(present.size, dtype=np.int32)
    column_of_present[np.searchsorted(present, order)] = np.arange(len(order), dtype=np.int32)
    if small:  # a lookup by id: one gather per cell instead of a binary search
        column_of_id = np.full(int(present[-1]) + 1, -1, dtype=np.int32)
        column_of_id[present] = column_of_present
        columns = column_of_id[aids]
    else:
        columns = column_of_present[np.searchsorted(present, aids)]
    # The matrix is filled here rather than by LabelTable.from_codes, which would first
    # copy the three per-cell arrays to int64 (~70 MB more at 3M cells).
    matrix = np.full((unit_ids.size, len(order)), -1,
                     dtype=np.int8 if len(categories) < 127 else np.int32)
    matrix[unit_index, columns] = cat
    del columns
    return LabelTable(matrix, [id_to_name.get(a, str(a)) for a in order], categories,
                      unit_ids=unit_ids)


def label_table(db: Project) -> LabelTable:
    """The units x annotators table of every labeled annotation (cached).

    Rows: sentences with at least one label, ascending by database id
    (``table.unit_ids``: int64 array of sentence ids). Columns: annotators with at least
    one label, sorted by name (``table.annotators``). Categories: single-label projects
    list every configured label (used or not) then any stray stored label; multi-label
    projects (or stored label sets) use the observed label sets (``frozenset``).
    """
    return _cached(db, "table", lambda cfg: _build_table(db, cfg))


# ----------------------------------------------------------------------------- results


def report(db: Project, bootstrap: int = 0, seed: int = 0) -> dict[str, Any]:
    """``agreement.report`` of the project (cached per data version, bootstrap and seed).

    Keys: units, pairable_units, annotators, labels, percent_agreement, unanimous_share,
    krippendorff_alpha (MASI alpha in multi-label projects; ``notes`` says so),
    krippendorff_alpha_ci95 ([low, high] with ``bootstrap`` > 0, else None), fleiss_kappa,
    gwet_ac1, cohen_kappa ({"a|b": kappa}), mean_cohen_kappa, per_label
    ({label: {"alpha", "n"}}), notes (why a value is None). JSON-serialisable, no NaN.
    The returned dict is shared by callers: do not mutate it.
    """
    return report_data(db, bootstrap, seed).figures


def report_data(db: Project, bootstrap: int = 0,
                seed: int = 0) -> agreement.Report:
    """The cached :class:`labeling.agreement.Report` behind :func:`report`: its figures
    and the reasons for undefined ones as data (``reasons["per_label"][label]``)."""
    if bootstrap < 0:
        raise ValueError("bootstrap must be >= 0")

    def build(cfg: ProjectConfig) -> agreement.Report:
        return agreement.build_report(label_table(db), labels=cfg.label_names,
                                      multi_label=cfg.multi_label, bootstrap=bootstrap,
                                      seed=seed)

    return _cached(db, ("report", int(bootstrap), int(seed) if bootstrap else 0), build)


def annotator_table(db: Project) -> pd.DataFrame:
    """One row per annotator with at least one label, sorted by name (cached).

    Columns: ``annotator`` (name), ``items`` (labeled sentences), ``median_seconds``
    (median of ``duration_ms`` / 1000 over labeled items with a duration; NaN when none
    recorded), one ``share_<label>`` column per label (share of the annotator's items
    carrying that label; multi-label items count for each of their labels, so shares may
    sum past 1), ``kappa_vs_rest`` (Cohen's kappa against the strict majority of the other
    annotators, ``agreement.annotator_vs_rest``; NaN when undefined), ``n_vs_rest``
    (units used for it) and ``no_majority`` (shared units left out: the others tied).
    """
    return _cached(db, "annotators", lambda cfg: _build_annotator_table(db, cfg))


def _build_annotator_table(db: Project, cfg: ProjectConfig) -> pd.DataFrame:
    table = label_table(db)
    names = table.annotators
    m = table.matrix
    labels = _labels_of(table, cfg)
    q = len(table.categories)
    # Per annotator, counts per category, then per label (a set counts for each member).
    counts = np.zeros((len(names), q), dtype=np.int64)
    for col in range(len(names)):
        c = m[:, col]
        counts[col] = np.bincount(c[c >= 0].astype(np.int64), minlength=q)
    member = np.zeros((q, len(labels)), dtype=np.int64)
    pos = {n: i for i, n in enumerate(labels)}
    for k, cat in enumerate(table.categories):
        for x in cat if isinstance(cat, frozenset) else (cat,):
            member[k, pos[x]] = 1
    items = counts.sum(axis=1)
    per_label = counts @ member
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = per_label / items[:, None]

    id_to_name = annotators_db.names_by_id(db)
    aids, dur = label_cells_db.labeled_durations(db)
    # One masked median per annotator: a few MB at a time, where a groupby over 3M
    # durations would build ~70 MB of sort buffers on the server.
    median = {}
    for k in np.flatnonzero(np.bincount(aids)) if aids.size else ():
        median[id_to_name.get(int(k), str(k))] = float(np.median(dur[aids == k])) / 1000.0
    del aids, dur
    vs_rest = agreement.annotator_vs_rest(table)

    frame = pd.DataFrame({
        "annotator": names,
        "items": items,
        "median_seconds": [float(median.get(n, np.nan)) for n in names],
    })
    for i, lab in enumerate(labels):
        frame[f"share_{lab}"] = shares[:, i] if len(names) else []
    frame["kappa_vs_rest"] = [_nan(vs_rest.get(n, {}).get("kappa")) for n in names]
    frame["n_vs_rest"] = [int(vs_rest.get(n, {}).get("n") or 0) for n in names]
    frame["no_majority"] = [int(vs_rest.get(n, {}).get("no_majority") or 0) for n in names]
    return frame


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def _labels_of(table: LabelTable, cfg: ProjectConfig) -> list[str]:
    """Project labels, then any stray label found in the table (sorted)."""
    seen: set[str] = set()
    for cat in table.categories:
        seen.update(cat if isinstance(cat, frozenset) else (cat,))
    names = list(cfg.label_names)
    return names + sorted(seen - set(names))


def pair_confusion(db: Project, a: str, b: str) -> pd.DataFrame:
    """Counts of (label by ``a``, label by ``b``) on the sentences both labelled.

    Rows: ``a``'s labels (index name ``a``); columns: ``b``'s (columns name ``b``); project
    label order (multi-label sets shown as "x+y"). Raises ``KeyError`` for a name with no
    labels.
    """
    cfg = project.load_config(db)
    return _cached(db, ("pair", a, b), lambda c: agreement.confusion_matrix(
        label_table(db), a, b, labels=c.label_names), cfg)


def gold_map(db: Project) -> dict[int, tuple[str, ...]]:
    """``{sentence id: gold labels}`` of every sentence with a gold label (any source)."""
    return {sid: tuple(json.loads(labels)) for sid, (labels, _src) in gold_db.gold_labels(db).items()}


def confusion_vs_gold(db: Project, annotator: str) -> pd.DataFrame:
    """Counts of (gold label, ``annotator``'s label) on sentences with both.

    Rows: gold labels (index name "gold"); columns: the annotator's (columns name =
    annotator). Gold of any source (adjudicated, unanimous, majority). Raises
    ``KeyError`` for a name with no labels.
    """
    def build(cfg: ProjectConfig) -> pd.DataFrame:
        table = label_table(db)
        gold = _cached(db, "gold", lambda _c: gold_map(db), cfg)
        if not table.multi_label:
            # single-label gold is a one-element tuple; the table holds bare strings
            gold = {k: (v[0] if len(v) == 1 else v) for k, v in gold.items()}
        return agreement.confusion_vs_gold(table, annotator, gold, labels=cfg.label_names)

    return _cached(db, ("gold_confusion", annotator), build)
