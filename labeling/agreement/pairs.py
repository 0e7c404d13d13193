"""Figures on pairs of annotators: Cohen's kappa per pair, confusion matrices (between two
annotators, against gold) and each annotator against the majority of the others."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from labeling.agreement.counts import Summary, blocks, category_name, finite
from labeling.agreement.encode import LabelTable, Units, as_table, canonical


# --- Cohen ------------------------------------------------------------------------------


def kappa_from_confusion(conf: np.ndarray) -> np.ndarray:
    """Vectorised Cohen's kappa over (..., q, q) integer confusion matrices; NaN if undefined.

    Integer arithmetic for p_e so that "chance agreement is exactly 1" is detected exactly.
    """
    conf = conf.astype(np.int64, copy=False)
    n = conf.sum(axis=(-2, -1))
    diag = np.trace(conf, axis1=-2, axis2=-1)
    pe_num = (conf.sum(axis=-1) * conf.sum(axis=-2)).sum(axis=-1)
    den = n * n - pe_num
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (diag * n - pe_num) / den.astype(np.float64)
    return np.where((n > 0) & (den > 0), kappa, np.nan)


def _cohen_reason(conf: np.ndarray, p: Summary) -> str:
    if conf.sum() == 0:
        return "not defined — no shared unit"
    k = int(np.argmax(conf.sum(axis=1)))
    return f"not defined — both used only '{p.category_name(k)}' (chance agreement is 1)"


def _pair_key(x: str, y: str) -> str:
    return "|".join(sorted((x, y)))


def pairwise_figures(p: Summary) -> tuple[dict[str, float | None], dict[str, str]]:
    names = p.table.annotators
    active = p.active_annotators()
    result: dict[str, float | None] = {}
    reasons: dict[str, str] = {}
    for x in range(len(active)):
        for y in range(x + 1, len(active)):
            key = _pair_key(names[active[x]], names[active[y]])
            result[key] = None
            reasons[key] = "not defined — no shared unit"
    a_idx, b_idx, conf = p.pair_confusions()
    kappas = kappa_from_confusion(conf)
    for a, b, c, k in zip(a_idx.tolist(), b_idx.tolist(), conf, kappas.tolist()):
        key = _pair_key(names[a], names[b])
        if math.isfinite(k):
            result[key] = float(k)
            reasons.pop(key, None)
        else:
            reasons[key] = _cohen_reason(c, p)
    return dict(sorted(result.items())), reasons


def cohen_kappa(units: Units | LabelTable, a: str, b: str) -> float | None:
    """Cohen's (1960) kappa between annotators ``a`` and ``b`` on the units both labelled.

    Equals ``sklearn.metrics.cohen_kappa_score`` on those units. None when they share no unit
    or chance agreement is 1 (both used one and the same category throughout).
    """
    table = as_table(units)
    conf = _confusion_codes(table, a, b)
    k = float(kappa_from_confusion(conf))
    return k if math.isfinite(k) else None


def _column(table: LabelTable, name: str) -> int:
    try:
        return table.annotators.index(name)
    except ValueError:
        raise KeyError(f"unknown annotator {name!r}") from None


def _confusion_codes(table: LabelTable, a: str, b: str) -> np.ndarray:
    q = len(table.categories)
    x = table.matrix[:, _column(table, a)].astype(np.int64)
    y = table.matrix[:, _column(table, b)].astype(np.int64)
    both = (x >= 0) & (y >= 0)
    return np.bincount(x[both] * q + y[both], minlength=q * q).reshape(q, q)


def pairwise_cohen(units: Units | LabelTable) -> dict[str, float | None]:
    """Cohen's kappa for every pair of annotators: ``{"a|b": kappa}`` (names sorted in keys).

    Every pair of annotators with at least one label appears; pairs that share no unit, or
    whose chance agreement is 1, map to None.
    """
    return pairwise_figures(Summary(as_table(units)))[0]


def mean_cohen_kappa(units: Units | LabelTable) -> float | None:
    """Unweighted mean of the defined pairwise Cohen's kappas (Light's kappa on complete data).

    None when no pair has a defined kappa.
    """
    return mean_defined(pairwise_cohen(units))


def mean_defined(values: Mapping[str, float | None]) -> float | None:
    vals = [v for v in values.values() if v is not None]
    return finite(sum(vals) / len(vals)) if vals else None


# --- Confusion matrices --------------------------------------------------------------------


def _frame(conf: np.ndarray, names: list[str], keep: list[int], rows: str, cols: str):
    sub = conf[np.ix_(keep, keep)]
    frame = pd.DataFrame(sub, index=[names[k] for k in keep], columns=[names[k] for k in keep])
    frame.index.name, frame.columns.name = rows, cols
    return frame


def _display_categories(names: list[str], labels: Sequence[str] | None) -> list[int]:
    """Category indexes to show: those named in ``labels`` first (in order), then the rest."""
    order = [names.index(x) for x in dict.fromkeys(labels or ()) if x in names]
    rest = [k for k in range(len(names)) if k not in order]
    return order + rest


def confusion_matrix(
    units: Units | LabelTable, a: str, b: str, labels: Sequence[str] | None = None
) -> pd.DataFrame:
    """Counts of (label by ``a``, label by ``b``) on units both labelled.

    Rows are ``a``'s labels (index name ``a``), columns ``b``'s (columns name ``b``); the
    order is ``labels`` then any other category. Multi-label sets are shown as "x+y".
    """
    table = as_table(units, labels=labels)
    conf = _confusion_codes(table, a, b)
    names = [category_name(c) for c in table.categories]
    return _frame(conf, names, _display_categories(names, labels), a, b)


def confusion_vs_gold(
    units: Units | LabelTable,
    annotator: str,
    gold: Mapping[Hashable, Any],
    labels: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Counts of (gold label, annotator's label) on units with both; rows = gold ("gold").

    ``gold`` maps unit id to label (same forms as annotations). With a LabelTable input the
    table must carry ``unit_ids``.
    """
    table = as_table(units, labels=labels)
    if table.unit_ids is None:
        raise ValueError("confusion_vs_gold needs unit ids: build the LabelTable with unit_ids")
    multi = table.multi_label
    cats = list(table.categories)
    index = {c: i for i, c in enumerate(cats)}
    gold_codes = np.full(len(table.unit_ids), -1, dtype=np.int64)
    for row, uid in enumerate(table.unit_ids):
        if uid in gold:
            g = canonical(gold[uid], multi)
            if g is None:
                continue
            if g not in index:
                index[g] = len(cats)
                cats.append(g)
            gold_codes[row] = index[g]
    q = len(cats)
    mine = table.matrix[:, _column(table, annotator)].astype(np.int64)
    both = (mine >= 0) & (gold_codes >= 0)
    conf = np.bincount(gold_codes[both] * q + mine[both], minlength=q * q).reshape(q, q)
    names = [category_name(c) for c in cats]
    return _frame(conf, names, _display_categories(names, labels), "gold", annotator)


# --- Annotator vs rest -------------------------------------------------------------------


def annotator_vs_rest(units: Units | LabelTable) -> dict[str, dict[str, float | int | None]]:
    """Each annotator's Cohen's kappa against the majority label of the *other* annotators.

    A unit counts for annotator X when X labelled it and the others' labels have a strict
    majority (one label given by more than half of the others; with one other annotator that
    label). Units where the others tie or have no strict majority are excluded and counted
    in ``no_majority``. Returns ``{annotator: {"kappa", "n", "no_majority"}}``; kappa None when
    undefined (no usable unit, or chance agreement 1).
    """
    table = as_table(units)
    n_annotators, q = table.matrix.shape[1], len(table.categories)
    conf = np.zeros((n_annotators, q, q), dtype=np.int64)
    no_majority = np.zeros(n_annotators, dtype=np.int64)
    labelled = np.zeros(n_annotators, dtype=np.int64)
    for c in blocks(table):
        labelled += np.bincount(c.cols, minlength=n_annotators)
        counts = np.bincount(c.rows * q + c.codes, minlength=c.n_rows * q).reshape(-1, q)
        cells = np.flatnonzero(c.m[c.rows] >= 2)
        rows, codes, ann = c.rows[cells], c.codes[cells], c.cols[cells]
        rest = counts[rows]
        rest[np.arange(cells.size), codes] -= 1  # remove the annotator's own label
        top = rest.argmax(axis=1)
        ok = 2 * rest[np.arange(cells.size), top] > c.m[rows] - 1
        no_majority += np.bincount(ann[~ok], minlength=n_annotators)
        key = (ann[ok] * q + codes[ok]) * q + top[ok]
        conf += np.bincount(key, minlength=n_annotators * q * q).reshape(-1, q, q)
    kappas = kappa_from_confusion(conf)
    out: dict[str, dict[str, float | int | None]] = {}
    for k in sorted(np.flatnonzero(labelled).tolist(), key=lambda k: table.annotators[k]):
        kap = float(kappas[k])
        out[table.annotators[k]] = {
            "kappa": kap if math.isfinite(kap) else None,
            "n": int(conf[k].sum()),
            "no_majority": int(no_majority[k]),
        }
    return out
