"""Overall coefficients from a :class:`~labeling.agreement.counts.Summary`: distances,
Krippendorff's alpha (nominal, MASI, per label), percent agreement, unanimous share,
Fleiss' kappa and Gwet's AC1. Each ``*_figure`` function returns a :class:`Figure`: the
value and, when it is not defined, the reason (data the report turns into notes)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any, NamedTuple

import numpy as np

from labeling.agreement.counts import Summary, finite
from labeling.agreement.encode import Category, LabelTable, Units, as_table, label_order

# Reasons shared by several coefficients (shown verbatim in the report's notes).
_NO_PAIRABLE = "not defined — no unit was labelled by two or more annotators"
_ONE_CATEGORY = "not defined — only one category was used (no expected disagreement)"


class Figure(NamedTuple):
    """One figure of the report: ``value`` (None when not defined) and ``reason`` (why it
    is not defined, else None)."""

    value: Any
    reason: str | None = None


def masi_distance(a: Iterable[str], b: Iterable[str]) -> float:
    """MASI distance between two label sets (Passonneau 2006): ``1 - J * M``.

    J is the Jaccard index |A & B| / |A | B|; M (monotonicity) is 1 when A == B, 2/3 when
    one is a subset of the other, 1/3 when they overlap otherwise, 0 when disjoint.
    This is the definition NLTK 3.10's ``nltk.metrics.distance.masi_distance`` implements
    (checked: masi({a, b}, {a}) = 1 - 1/2 * 2/3 = 2/3). Unlike NLTK, two empty sets are at
    distance 0 instead of raising ZeroDivisionError.
    """
    a, b = frozenset(a), frozenset(b)
    if a == b:
        return 0.0
    inter, union = len(a & b), len(a | b)
    if inter == 0:
        return 1.0
    m = 2 / 3 if inter == min(len(a), len(b)) else 1 / 3
    return 1.0 - (inter / union) * m


def nominal_delta(q: int) -> np.ndarray:
    return 1.0 - np.eye(q)


def masi_delta(categories: Sequence[Category]) -> np.ndarray:
    sets = [c if isinstance(c, frozenset) else frozenset((c,)) for c in categories]
    q = len(sets)
    delta = np.zeros((q, q))
    for i in range(q):
        for j in range(i + 1, q):
            delta[i, j] = delta[j, i] = masi_distance(sets[i], sets[j])
    return delta


def alpha_from(
    coincidence: np.ndarray, counts: np.ndarray, delta: np.ndarray
) -> Figure:
    """alpha = 1 - (n - 1) * sum(o * delta) / sum(n_c n_k delta)  (Krippendorff 2011)."""
    n = float(counts.sum())
    if n < 2:
        return Figure(None, _NO_PAIRABLE)
    expected = float(counts @ delta @ counts)
    if expected <= 0:
        return Figure(None, _ONE_CATEGORY)
    observed = float((coincidence * delta).sum())
    return Figure(finite(1.0 - (n - 1.0) * observed / expected))


def percent_agreement(units: Units | LabelTable) -> float | None:
    """Mean over pairable units of the share of agreeing annotator pairs (no chance correction).

    None when no unit has two or more labels. Multi-label: exact-set match.
    """
    return percent_agreement_figure(Summary(as_table(units)))[0]


def percent_agreement_figure(p: Summary) -> Figure:
    if p.n_pairable == 0:
        return Figure(None, _NO_PAIRABLE)
    return Figure(finite(p.pa))


def unanimous_share(units: Units | LabelTable) -> float | None:
    """Share of pairable units on which every annotator gave the same label (None if none)."""
    return unanimous_share_figure(Summary(as_table(units)))[0]


def unanimous_share_figure(p: Summary) -> Figure:
    if p.n_pairable == 0:
        return Figure(None, _NO_PAIRABLE)
    return Figure(finite(p.n_unanimous / p.n_pairable))


def krippendorff_alpha(units: Units | LabelTable) -> float | None:
    """Krippendorff's alpha, nominal level, any number of annotators, missing cells allowed.

    Own coincidence-matrix code (vectorised; the ``krippendorff`` package gives the same
    value but builds a units x values array, too slow at 1M units); the tests check both
    agree and that Krippendorff's (2011) example gives 113/152. Units with one value are not
    pairable and are ignored. None when there is no pairable unit or a single category was
    used (no expected disagreement). Label sets (multi-label) are compared by exact match;
    use ``krippendorff_alpha_masi`` for partial credit.
    """
    return krippendorff_figure(Summary(as_table(units)), masi=False)[0]


def krippendorff_alpha_masi(units: Units | LabelTable) -> float | None:
    """Krippendorff's alpha for label sets with the MASI distance (Passonneau 2006).

    Plain string labels are treated as one-element sets, so on single-label data this equals
    nominal alpha. See ``masi_distance`` for the exact definition used.
    """
    return krippendorff_figure(Summary(as_table(units, multi_label=True)), masi=True)[0]


def krippendorff_figure(p: Summary, masi: bool) -> Figure:
    if p.n_pairable == 0:
        return Figure(None, _NO_PAIRABLE)
    delta = masi_delta(p.table.categories) if masi else nominal_delta(p.q)
    return alpha_from(p.coincidence, p.pairable_counts.astype(np.float64), delta)


def _label_membership(table: LabelTable, labels: Sequence[str]) -> np.ndarray:
    """Boolean (n_categories x n_labels): category k contains label l."""
    member = np.zeros((len(table.categories), len(labels)), dtype=bool)
    pos = {name: i for i, name in enumerate(labels)}
    for k, cat in enumerate(table.categories):
        for name in cat if isinstance(cat, frozenset) else (cat,):
            if name in pos:
                member[k, pos[name]] = True
    return member


def table_labels(table: LabelTable, labels: Sequence[str] | None) -> list[str]:
    seen = chain.from_iterable(c if isinstance(c, frozenset) else (c,) for c in table.categories)
    return label_order(labels, seen)


def per_label_alpha(
    units: Units | LabelTable, labels: Sequence[str] | None = None
) -> dict[str, dict[str, float | int | None]]:
    """Alpha of the one-vs-rest binary coding of each label: ``{label: {"alpha", "n"}}``.

    Each value is recoded "has this label" / "has not" (multi-label: label in the set or
    not), then nominal alpha is computed on pairable units. ``n`` is the number of pairable
    values that carry the label (Krippendorff's n_c), so rare labels are visible. ``alpha`` is
    None when the label was never used, or used by every pairable value.
    """
    table = as_table(units, labels=labels)
    return per_label_figures(Summary(table), table_labels(table, labels))[0]


def per_label_figures(
    p: Summary, labels: Sequence[str]
) -> tuple[dict[str, dict[str, float | int | None]], dict[str, str]]:
    """``({label: {"alpha", "n"}}, {label: reason})``: one-vs-rest alpha per label and,
    for each label whose alpha is not defined, why."""
    member = _label_membership(p.table, labels).astype(np.float64)
    o = p.coincidence
    counts = p.pairable_counts.astype(np.float64)
    n = float(counts.sum())
    out: dict[str, dict[str, float | int | None]] = {}
    reasons: dict[str, str] = {}
    for idx, name in enumerate(labels):
        v = member[:, idx]
        n1 = float(v @ counts)
        n0 = n - n1
        alpha: float | None = None
        if n < 2:
            reasons[name] = _NO_PAIRABLE
        elif n1 == 0:
            reasons[name] = "not defined — never used in a pairable unit"
        elif n0 == 0:
            reasons[name] = ("not defined — every pairable value carries it "
                             "(no expected disagreement)")
        else:
            o10 = float(v @ o @ (1.0 - v))  # coincidences label-vs-rest, one direction
            alpha = finite(1.0 - (n - 1.0) * o10 / (n0 * n1))
        out[name] = {"alpha": alpha, "n": int(round(n1))}
    return out, reasons


def fleiss_kappa(units: Units | LabelTable) -> float | None:
    """Fleiss' (1971) kappa, generalised to missing ratings as in Gwet's Handbook / irrCAC.

    p_a = mean over units with >= 2 ratings of sum_k r_uk (r_uk - 1) / (r_u (r_u - 1));
    p_e = sum_k pi_k^2 with pi_k = mean over units with >= 1 rating of r_uk / r_u (so
    single-rated units count in the chance term). Equals ``irrCAC.raw.CAC(...).fleiss()`` on
    incomplete tables and classic Fleiss / ``statsmodels`` on complete ones. None when no
    unit is pairable or one category holds every rating (p_e = 1).
    """
    return fleiss_figure(Summary(as_table(units)))[0]


def fleiss_figure(p: Summary) -> Figure:
    if p.n_pairable == 0:
        return Figure(None, _NO_PAIRABLE)
    pa = p.pa
    pi = p.prevalence
    pe = float(pi @ pi)
    if pe >= 1.0 - 1e-12:
        return Figure(None, "not defined — only one category was used (chance agreement is 1)")
    return Figure(finite((pa - pe) / (1.0 - pe)))


def gwet_ac1(
    units: Units | LabelTable, categories: Sequence[str] | None = None
) -> float | None:
    """Gwet's AC1, following ``irrCAC.raw.CAC(ratings, categories=...).gwet()``.

    p_a as in ``fleiss_kappa``; p_e = sum_k pi_k (1 - pi_k) / (q - 1). ``q`` counts every
    category in ``categories`` (plus any other observed one), used or not — unused categories
    change AC1, as in irrCAC; without ``categories`` q is the number of observed categories
    (a LabelTable's ``categories`` count as supplied). Units with one rating enter pi_k, as
    in irrCAC. None when fewer than two categories or no pairable unit.
    """
    table = as_table(units, labels=categories)
    cats = list(table.categories)
    # A LabelTable may not list every supplied category: count the missing ones too.
    if not table.multi_label:
        cats += [c for c in dict.fromkeys(categories or ()) if c not in set(cats)]
    return gwet_figure(Summary(table), cats)[0]


def gwet_figure(p: Summary, categories: Sequence[Category]) -> Figure:
    if p.n_pairable == 0:
        return Figure(None, _NO_PAIRABLE)
    q = len(categories)
    if q < 2:
        return Figure(None, "not defined — fewer than two categories")
    pa = p.pa
    pi = np.zeros(q)
    pi[: p.q] = p.prevalence
    pe = float((pi * (1.0 - pi)).sum() / (q - 1))
    return Figure(finite((pa - pe) / (1.0 - pe)))
