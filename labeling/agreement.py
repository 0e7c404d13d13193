"""Inter-annotator agreement on a units x annotators table (pure functions, no I/O).

Two input forms are accepted by every public function:

``Units``
    ``{unit_id: {annotator: label}}``. A label is a string (single-label projects) or a
    collection of strings (``frozenset``/``tuple``/``list``; multi-label projects). A cell may
    be absent; ``None``, NaN and an empty collection also count as missing. In single-label
    mode a one-element collection is unwrapped, so gold-style ``("demand",)`` works too.

``LabelTable``
    The same data pre-encoded, so that a DB layer can build it straight from a query
    (``LabelTable.from_codes``) without Python dicts. ``matrix`` has shape
    ``(n_units, n_annotators)`` and a signed integer dtype; ``matrix[u, a]`` is an index into
    ``categories`` or ``-1`` when annotator ``a`` did not label unit ``u``. ``categories`` holds
    strings (single-label) or ``frozenset`` of strings (multi-label: each distinct label *set*
    is one category). A table's ``categories`` are taken as the full category set, used or not.

Every coefficient is a function of sums over units, so the table is read in row blocks of
a few MB: the *cells* (non-missing entries) and the *pairs* of cells within a unit of each
block go through ``np.bincount`` (no Python loop per unit) into Krippendorff's coincidence
matrix, agreeing-pair shares, Gwet's prevalences and pairwise confusion counts, from which
alpha (any distance), per-label alpha, percent agreement, Fleiss' kappa, AC1 and Cohen's
kappas follow. A 1M-unit / 3M-label report takes ~0.2 s of CPU and ~35 MB beyond the table.
Degenerate data gives ``None`` (never NaN); ``report`` adds the reason to ``notes``.

Conventions (what is documented here is what the tests pin)
    * A unit is *pairable* when at least two annotators labelled it. Percent agreement,
      unanimous share and the observed agreement of every coefficient use pairable units only.
    * Krippendorff's alpha: coincidence matrix with 1/(m_u - 1) weights (Krippendorff 2011);
      units with one value are ignored. Reproduces 113/152 on Krippendorff's 2011 example.
    * Fleiss' kappa and Gwet's AC1 on incomplete data follow Gwet's Handbook (4th ed.) and
      ``irrCAC.raw.CAC.fleiss()/gwet()``: observed agreement p_a is averaged over units with
      >= 2 ratings; the category prevalences pi_k = mean over *every unit with >= 1 rating*
      of r_uk / r_u, so units with a single rating do enter the chance term. On complete data
      this is classic Fleiss (1971). AC1: p_e = sum_k pi_k (1 - pi_k) / (q - 1) where q is
      the number of categories, *including unused ones* when they are supplied.
    * Cohen's kappa for a pair uses the units both labelled, with each annotator's own
      marginals (equals ``sklearn.metrics.cohen_kappa_score``).
    * Multi-label: ``krippendorff_alpha_masi`` uses the MASI distance (Passonneau 2006, the
      same definition as NLTK 3.10's ``masi_distance``); kappa/AC1/percent agreement treat
      each distinct label set as one category (exact-set match).
    * Bootstrap CI of alpha: percentile interval, pairable units resampled with replacement,
      ``numpy.random.default_rng(seed)``; replicates with undefined alpha are dropped.
    * ``annotator_vs_rest``: strict majority (> half) of the other annotators; ties and
      pluralities are excluded and counted, never broken.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import methodcaller
from typing import Any, Union

import numpy as np
import pandas as pd

Category = Union[str, frozenset]
Units = Mapping[Hashable, Mapping[str, Any]]

# Sentinel reason strings, reused by report() so that the UI can show them verbatim.
_NO_PAIRABLE = "not defined — no unit was labelled by two or more annotators"
_ONE_CATEGORY = "not defined — only one category was used (no expected disagreement)"

# Pair-key tables larger than this switch from bincount to np.unique (memory bound).
_MAX_BINCOUNT = 4_000_000
# Per-unit pattern keys (mixed radix) must fit in int64; beyond, np.unique over rows.
_MAX_KEY_BITS = 62


class LabelTableError(ValueError):
    """A LabelTable's arrays do not describe a valid units x annotators table."""


# --------------------------------------------------------------------------------------
# Input: canonical categories and the encoded table
# --------------------------------------------------------------------------------------


def _canonical(value: Any, multi_label: bool) -> Category | None:
    """Map one raw cell value to its category, or None when the cell is missing."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        return frozenset((value,)) if multi_label else value
    if isinstance(value, (frozenset, set, tuple, list)):
        items = frozenset(value)
        if not items:
            # An empty selection is "no label" in both modes (Parley has an explicit `none`).
            return None
        if multi_label:
            return items
        if len(items) == 1:
            return next(iter(items))
        raise ValueError(
            f"label {sorted(items)!r} holds several labels; pass multi_label=True for "
            "multi-label projects"
        )
    return frozenset((value,)) if multi_label else value


def _label_order(labels: Sequence[str] | None, seen: Iterable[str]) -> list[str]:
    """Project labels first (their order), then any other observed label, sorted."""
    out = list(dict.fromkeys(labels or ()))
    known = set(out)
    out.extend(sorted({x for x in seen if x not in known}, key=str))
    return out


def _order_categories(
    cats: Iterable[Category], labels: Sequence[str] | None, multi_label: bool
) -> list[Category]:
    """Deterministic category order: by project label order, extras sorted after."""
    cats = set(cats)
    if not multi_label:
        if labels is None:
            return sorted(cats, key=str)
        return _label_order(labels, cats)
    names = _label_order(labels, chain.from_iterable(cats))
    rank = {name: i for i, name in enumerate(names)}
    return sorted(cats, key=lambda s: (len(s), sorted(rank[x] for x in s)))


def _smallest_int_dtype(n_categories: int) -> np.dtype:
    # int8 keeps a 1M x 20 table at 20 MB instead of 80 MB with int32.
    for dt in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.int64)


@dataclass(frozen=True, eq=False)
class LabelTable:
    """Encoded units x annotators table.

    ``matrix``: shape ``(n_units, n_annotators)``, signed integer dtype (int8/16/32/64);
    ``matrix[u, a]`` indexes ``categories``, ``-1`` = missing.
    ``annotators``: ``n_annotators`` distinct names (column order).
    ``categories``: strings, or frozensets of strings for multi-label tables; unused
    categories may be listed (they count as possible categories for AC1).
    ``unit_ids``: optional, ``n_units`` ids (row order).
    """

    matrix: np.ndarray
    annotators: list[str]
    categories: list[Category]
    unit_ids: Sequence[Hashable] | None = None

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix)
        if m.ndim != 2:
            raise LabelTableError(f"matrix must be 2-D (units x annotators), got {m.ndim}-D")
        if not np.issubdtype(m.dtype, np.signedinteger):
            raise LabelTableError(
                f"matrix must hold signed integer codes with -1 for missing, got {m.dtype}"
            )
        if m.shape[1] != len(self.annotators):
            raise LabelTableError(
                f"matrix has {m.shape[1]} columns but {len(self.annotators)} annotators"
            )
        if len(set(self.annotators)) != len(self.annotators):
            raise LabelTableError("annotator names must be distinct")
        if m.size and (m.min() < -1 or m.max() >= len(self.categories)):
            raise LabelTableError(
                f"matrix codes must be in [-1, {len(self.categories) - 1}] "
                f"(got {m.min()}..{m.max()})"
            )
        if self.unit_ids is not None and len(self.unit_ids) != m.shape[0]:
            raise LabelTableError(
                f"{len(self.unit_ids)} unit_ids for a matrix of {m.shape[0]} rows"
            )
        object.__setattr__(self, "matrix", m)
        object.__setattr__(self, "annotators", list(self.annotators))
        object.__setattr__(self, "categories", list(self.categories))

    @property
    def multi_label(self) -> bool:
        """True when categories are label sets."""
        return any(isinstance(c, frozenset) for c in self.categories)

    @classmethod
    def from_units(
        cls, units: Units, labels: Sequence[str] | None = None, *, multi_label: bool = False
    ) -> LabelTable:
        """Encode ``{unit: {annotator: label}}``; annotators sorted, categories in label order.

        Single-label categories are ``labels`` (all of them, used or not) followed by any other
        observed label; multi-label categories are the observed label sets.
        """
        return _encode(units, labels=labels, multi_label=multi_label)

    @classmethod
    def from_codes(
        cls,
        unit_index: Sequence[int] | np.ndarray,
        annotator_index: Sequence[int] | np.ndarray,
        category_index: Sequence[int] | np.ndarray,
        *,
        n_units: int,
        annotators: Sequence[str],
        categories: Sequence[Category],
        unit_ids: Sequence[Hashable] | None = None,
    ) -> LabelTable:
        """Build from parallel code arrays, e.g. the rows of one SQL query.

        ``unit_index[i]`` in ``[0, n_units)``, ``annotator_index[i]`` in
        ``[0, len(annotators))``, ``category_index[i]`` in ``[0, len(categories))``.
        Raises ``LabelTableError`` on out-of-range codes or a (unit, annotator) given twice.
        """
        u = np.asarray(unit_index, dtype=np.int64)
        a = np.asarray(annotator_index, dtype=np.int64)
        c = np.asarray(category_index, dtype=np.int64)
        if not (u.shape == a.shape == c.shape) or u.ndim != 1:
            raise LabelTableError("unit, annotator and category indexes must be 1-D, same length")
        if u.size:
            if u.min() < 0 or u.max() >= n_units:
                raise LabelTableError(f"unit_index out of range [0, {n_units})")
            if a.min() < 0 or a.max() >= len(annotators):
                raise LabelTableError(f"annotator_index out of range [0, {len(annotators)})")
            if c.min() < 0 or c.max() >= len(categories):
                raise LabelTableError(f"category_index out of range [0, {len(categories)})")
        matrix = np.full((n_units, len(annotators)), -1, dtype=_smallest_int_dtype(len(categories)))
        matrix[u, a] = c
        # A duplicate (unit, annotator) silently overwrote a cell: count to detect it in O(n).
        if int(np.count_nonzero(matrix >= 0)) != u.size:
            raise LabelTableError("a (unit, annotator) pair occurs more than once")
        return cls(matrix, list(annotators), list(categories), unit_ids)


def _object_array(values: Iterable[Any], count: int) -> np.ndarray:
    # np.fromiter keeps tuples as single objects and is ~10x faster than np.array(list).
    return np.fromiter(values, dtype=object, count=count)


def _factorize(values: np.ndarray) -> tuple[np.ndarray, list]:
    """pandas.factorize over an object array of hashables (None/NaN -> code -1)."""
    try:
        codes, uniques = pd.factorize(values)
    except TypeError:
        # Unhashable cells (lists, sets): freeze them once, then factorize again.
        frozen = [frozenset(v) if isinstance(v, (list, set)) else v for v in values]
        codes, uniques = pd.factorize(_object_array(frozen, len(frozen)))
    return np.asarray(codes, dtype=np.int64), list(uniques)


def _encode(
    units: Units, *, labels: Sequence[str] | None = None, multi_label: bool | None = False
) -> LabelTable:
    """Encode a dict-of-dicts into a LabelTable (annotators sorted by name).

    ``multi_label=None`` detects the mode: multi-label as soon as one value holds 2+ labels.
    """
    unit_ids = list(units.keys())
    inner = list(units.values())
    sizes = np.fromiter(map(len, inner), dtype=np.int64, count=len(inner))
    total = int(sizes.sum())
    names = _object_array(chain.from_iterable(inner), total)  # a mapping iterates its keys
    raw = _object_array(chain.from_iterable(map(methodcaller("values"), inner)), total)

    value_codes, value_uniques = _factorize(raw)
    # Canonicalise the few distinct raw values, not the millions of cells.
    if multi_label is None:
        multi_label = any(
            isinstance(v, (frozenset, set, tuple, list)) and len(frozenset(v)) > 1
            for v in value_uniques
        )
    canon = [_canonical(v, multi_label) for v in value_uniques]
    present = {c for c in canon if c is not None}
    if labels is not None and not multi_label:
        present |= set(labels)
    categories = _order_categories(present, labels, multi_label)
    cat_index = {c: i for i, c in enumerate(categories)}
    # Extra trailing slot so that factorize's -1 (missing) maps to -1.
    remap = np.array([cat_index[c] if c is not None else -1 for c in canon] + [-1], np.int64)
    cat_codes = remap[value_codes]

    ann_codes, ann_uniques = _factorize(names)
    if ann_codes.size and ann_codes.min() < 0:
        raise ValueError("annotator names must be strings, not None/NaN")
    order = sorted(range(len(ann_uniques)), key=lambda i: str(ann_uniques[i]))
    annotators = [str(ann_uniques[i]) for i in order]
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    ann_codes = rank[ann_codes] if len(order) else ann_codes

    rows = np.repeat(np.arange(len(unit_ids), dtype=np.int64), sizes)
    keep = cat_codes >= 0
    matrix = np.full(
        (len(unit_ids), len(annotators)), -1, dtype=_smallest_int_dtype(len(categories))
    )
    matrix[rows[keep], ann_codes[keep]] = cat_codes[keep]
    return LabelTable(matrix, annotators, categories, unit_ids)


def _as_table(
    units: Units | LabelTable,
    *,
    labels: Sequence[str] | None = None,
    multi_label: bool | None = None,
) -> LabelTable:
    """Accept either input form; optionally force the single/multi-label interpretation."""
    if isinstance(units, LabelTable):
        table = units
        if multi_label is True and not table.multi_label:
            cats = [frozenset((c,)) for c in table.categories]
            table = LabelTable(table.matrix, table.annotators, cats, table.unit_ids)
        elif multi_label is False and table.multi_label:
            if any(len(c) != 1 for c in table.categories if isinstance(c, frozenset)):
                raise ValueError("this table holds label sets; pass multi_label=True")
            cats = [next(iter(c)) if isinstance(c, frozenset) else c for c in table.categories]
            table = LabelTable(table.matrix, table.annotators, cats, table.unit_ids)
        return table
    if not isinstance(units, Mapping):
        raise TypeError("units must be a mapping {unit: {annotator: label}} or a LabelTable")
    # multi_label=None: detect from the values (label sets with 2+ labels -> multi-label).
    return _encode(units, labels=labels, multi_label=multi_label)


# --------------------------------------------------------------------------------------
# Distances
# --------------------------------------------------------------------------------------


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


def _nominal_delta(q: int) -> np.ndarray:
    return 1.0 - np.eye(q)


def _masi_delta(categories: Sequence[Category]) -> np.ndarray:
    sets = [c if isinstance(c, frozenset) else frozenset((c,)) for c in categories]
    q = len(sets)
    delta = np.zeros((q, q))
    for i in range(q):
        for j in range(i + 1, q):
            delta[i, j] = delta[j, i] = masi_distance(sets[i], sets[j])
    return delta


# --------------------------------------------------------------------------------------
# Core: cells, within-unit pairs, coincidences
# --------------------------------------------------------------------------------------


# Matrix cells per block: temporaries stay a few MB whatever the table size, so a report on
# 1M units neither needs hundreds of MB nor pays page faults for one-shot large arrays.
_BLOCK_CELLS = 1 << 21


@dataclass
class _Cells:
    """Non-missing cells of a block of rows, in row-major order (a unit's cells consecutive,
    annotator columns ascending within it)."""

    start: int  # index of the block's first unit in the table
    n_rows: int
    rows: np.ndarray  # unit index within the block
    cols: np.ndarray  # annotator column
    codes: np.ndarray  # category index
    m: np.ndarray  # labels per unit of the block (n_rows,)


def _blocks(table: LabelTable) -> Iterable[_Cells]:
    n_units, n_annotators = table.matrix.shape
    step = max(1, _BLOCK_CELLS // max(n_annotators, 1))
    for start in range(0, n_units, step):
        block = np.ascontiguousarray(table.matrix[start : start + step])
        flat = block.reshape(-1)
        idx = np.flatnonzero(flat >= 0)
        rows = idx // max(n_annotators, 1)
        yield _Cells(
            start,
            block.shape[0],
            rows,
            idx - rows * n_annotators,
            flat[idx].astype(np.int64),
            np.bincount(rows, minlength=block.shape[0]),
        )


def _within_unit_pairs(rows: np.ndarray, max_m: int) -> tuple[np.ndarray, np.ndarray]:
    """Indexes (i, j), i < j, of every unordered pair of cells in the same unit."""
    left, right = [], []
    # Offset d pairs each cell with the one d places later when both share a unit; the loop
    # runs max(m) - 1 times (twice for triple annotation), each step vectorised.
    for d in range(1, max_m):
        i = np.flatnonzero(rows[:-d] == rows[d:])
        left.append(i)
        right.append(i + d)
    if not left:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(left), np.concatenate(right)


class _Summary:
    """Sufficient statistics of a table for every coefficient, accumulated block by block.

    Every figure in ``report`` is a sum over units: agreeing-pair shares, Krippendorff's
    coincidences, Gwet's prevalences, pairwise confusion counts. With ``patterns=True`` it
    also collects the distinct per-unit category-count vectors the bootstrap resamples.
    """

    def __init__(self, table: LabelTable, *, patterns: bool = False) -> None:
        self.table = table
        self.n_units_total, self.n_annotators = table.matrix.shape
        self.q = q = len(table.categories)
        a = self.n_annotators
        self.n_units = 0  # units with >= 1 label
        self.n_pairable = 0  # units with >= 2 labels
        self.n_unanimous = 0
        self.agreement_sum = 0.0  # sum over pairable units of the share of agreeing pairs
        self.pairable_counts = np.zeros(q, dtype=np.int64)  # Krippendorff's n_c
        self.prevalence_sum = np.zeros(q)  # sum over units of r_uk / r_u
        self.annotator_cells = np.zeros(a, dtype=np.int64)
        self._half = np.zeros(q * q)  # coincidences of ordered pairs (i < j)
        width = a * q
        self._dense_pairs = width * width <= _MAX_BINCOUNT
        self._pair_full = np.zeros(width * width, dtype=np.int64) if self._dense_pairs else None
        self._pair_sparse: dict[int, np.ndarray] = {}
        # Pattern keys: mixed radix with base a + 1 (a unit has at most a labels).
        self._keyed = q * math.log2(a + 1) < _MAX_KEY_BITS if a else True
        self._pattern_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = (
            [] if patterns else None
        )
        for cells in _blocks(table):
            self._add(cells)

    def _add(self, c: _Cells) -> None:
        q, a = self.q, self.n_annotators
        if c.codes.size == 0:
            return
        m = c.m
        self.n_units += int(np.count_nonzero(m))
        inv_m = np.zeros(c.n_rows)
        np.divide(1.0, m, out=inv_m, where=m > 0)
        self.prevalence_sum += np.bincount(c.codes, weights=inv_m[c.rows], minlength=q)
        self.annotator_cells += np.bincount(c.cols, minlength=a)
        pairable = m >= 2
        n_pairable = int(np.count_nonzero(pairable))
        if n_pairable == 0:
            return
        self.n_pairable += n_pairable
        self.pairable_counts += np.bincount(c.codes[pairable[c.rows]], minlength=q)

        i, j = _within_unit_pairs(c.rows, int(m.max()))
        ci, cj = c.codes[i], c.codes[j]
        unit = c.rows[i]
        agree = np.bincount(unit[ci == cj], minlength=c.n_rows)[pairable]
        mp = m[pairable]
        n_pairs = mp * (mp - 1) // 2
        self.agreement_sum += float((agree / n_pairs).sum())
        self.n_unanimous += int(np.count_nonzero(agree == n_pairs))

        weight = np.zeros(c.n_rows)
        np.divide(1.0, m - 1, out=weight, where=pairable)
        self._half += np.bincount(ci * q + cj, weights=weight[unit], minlength=q * q)

        if self._dense_pairs:
            # One bincount over (annotator, category) x (annotator, category).
            width = a * q
            cell_key = c.cols * q + c.codes
            self._pair_full += np.bincount(
                cell_key[i] * width + cell_key[j], minlength=width * width
            )
        else:
            pid = c.cols[i] * a + c.cols[j]
            present, inv = np.unique(pid, return_inverse=True)
            conf = np.bincount(
                (inv * q + ci) * q + cj, minlength=present.size * q * q
            ).reshape(-1, q, q)
            for key, add in zip(present.tolist(), conf):
                if key in self._pair_sparse:
                    self._pair_sparse[key] += add
                else:
                    self._pair_sparse[key] = add.copy()

        if self._pattern_parts is not None:
            self._pattern_parts.append(self._block_patterns(c, pairable))

    def _block_patterns(
        self, c: _Cells, pairable: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(distinct keys, first unit index in the table, multiplicity) for this block."""
        q = self.q
        unit_rows = np.flatnonzero(pairable)
        if self._keyed:
            # Exact key per unit: sum over its cells of base**code.
            base = self.n_annotators + 1
            keep = pairable[c.rows]
            cell_rows = c.rows[keep]
            vals = (base ** np.arange(q, dtype=np.int64))[c.codes[keep]]
            starts = np.flatnonzero(np.r_[True, cell_rows[1:] != cell_rows[:-1]])
            keys = np.add.reduceat(vals, starts)
            uniq, first, mult = np.unique(keys, return_index=True, return_counts=True)
        else:
            counts = np.bincount(c.rows * q + c.codes, minlength=c.n_rows * q)
            counts = counts.reshape(c.n_rows, q)[pairable]
            uniq, first, mult = np.unique(counts, axis=0, return_index=True, return_counts=True)
        return uniq, c.start + unit_rows[first], mult

    # -- derived figures ------------------------------------------------------------------

    @property
    def coincidence(self) -> np.ndarray:
        """Krippendorff's coincidence matrix o_ck (q x q, symmetric; row sums = n_c)."""
        half = self._half.reshape(self.q, self.q)
        return half + half.T

    @property
    def pa(self) -> float:
        """Observed agreement: mean share of agreeing pairs over pairable units."""
        return self.agreement_sum / self.n_pairable

    @property
    def prevalence(self) -> np.ndarray:
        """Gwet's pi_k: mean over units with >= 1 rating of r_uk / r_u."""
        return self.prevalence_sum / max(self.n_units, 1)

    def category_name(self, k: int) -> str:
        return _category_name(self.table.categories[k])

    def active_annotators(self) -> list[int]:
        """Column indexes of annotators with at least one label, sorted by name."""
        used = np.flatnonzero(self.annotator_cells).tolist()
        return sorted(used, key=lambda k: self.table.annotators[k])

    def pair_confusions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(annotator a, annotator b, confusion q x q) for every pair sharing a unit, a < b."""
        a, q = self.n_annotators, self.q
        if self._dense_pairs:
            full = self._pair_full.reshape(a, q, a, q).transpose(0, 2, 1, 3)
            # Pairs are generated with a < b, so only the upper triangle is filled.
            a_idx, b_idx = np.nonzero(full.sum(axis=(2, 3)))
            return a_idx, b_idx, full[a_idx, b_idx]
        keys = np.array(sorted(self._pair_sparse), dtype=np.int64)
        conf = (
            np.stack([self._pair_sparse[k] for k in keys.tolist()])
            if keys.size
            else np.zeros((0, q, q), dtype=np.int64)
        )
        return keys // max(a, 1), keys % max(a, 1), conf

    def patterns(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct per-unit count vectors among pairable units: (P x q patterns, counts P).

        alpha depends on a unit only through its category counts, so resampling units is
        the same as a multinomial draw over these patterns: O(P) per bootstrap replicate.
        Patterns come in order of first occurrence (not of their codes) so that the draws
        for a seed do not depend on how categories are numbered.
        """
        if self._pattern_parts is None:
            raise RuntimeError("_Summary(patterns=True) is needed for the bootstrap")
        q = self.q
        if not self._pattern_parts:
            return np.zeros((0, q)), np.zeros(0)
        keys = np.concatenate([k for k, _, _ in self._pattern_parts])
        firsts = np.concatenate([f for _, f, _ in self._pattern_parts])
        mults = np.concatenate([n for _, _, n in self._pattern_parts])
        if keys.ndim == 1:
            _, inv = np.unique(keys, return_inverse=True)
        else:
            _, inv = np.unique(keys, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        n_patterns = int(inv.max()) + 1
        mult = np.bincount(inv, weights=mults, minlength=n_patterns)
        first = np.full(n_patterns, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, inv, firsts)
        order = np.argsort(first, kind="stable")
        first, mult = first[order], mult[order]
        sub = self.table.matrix[first].astype(np.int64)
        r, col = np.nonzero(sub >= 0)
        patterns = np.bincount(r * q + sub[r, col], minlength=first.size * q)
        return patterns.reshape(first.size, q).astype(np.float64), mult


def _category_name(cat: Category) -> str:
    if isinstance(cat, frozenset):
        return "+".join(sorted(cat))
    return str(cat)


def _finite(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _alpha_from(
    coincidence: np.ndarray, counts: np.ndarray, delta: np.ndarray
) -> tuple[float | None, str | None]:
    """alpha = 1 - (n - 1) * sum(o * delta) / sum(n_c n_k delta)  (Krippendorff 2011)."""
    n = float(counts.sum())
    if n < 2:
        return None, _NO_PAIRABLE
    expected = float(counts @ delta @ counts)
    if expected <= 0:
        return None, _ONE_CATEGORY
    observed = float((coincidence * delta).sum())
    return _finite(1.0 - (n - 1.0) * observed / expected), None


# --------------------------------------------------------------------------------------
# Public metrics
# --------------------------------------------------------------------------------------


def percent_agreement(units: Units | LabelTable) -> float | None:
    """Mean over pairable units of the share of agreeing annotator pairs (no chance correction).

    None when no unit has two or more labels. Multi-label: exact-set match.
    """
    return _percent_agreement(_Summary(_as_table(units)))[0]


def _percent_agreement(p: _Summary) -> tuple[float | None, str | None]:
    if p.n_pairable == 0:
        return None, _NO_PAIRABLE
    return _finite(p.pa), None


def unanimous_share(units: Units | LabelTable) -> float | None:
    """Share of pairable units on which every annotator gave the same label (None if none)."""
    return _unanimous_share(_Summary(_as_table(units)))[0]


def _unanimous_share(p: _Summary) -> tuple[float | None, str | None]:
    if p.n_pairable == 0:
        return None, _NO_PAIRABLE
    return _finite(p.n_unanimous / p.n_pairable), None


def krippendorff_alpha(units: Units | LabelTable) -> float | None:
    """Krippendorff's alpha, nominal level, any number of annotators, missing cells allowed.

    Own coincidence-matrix code (vectorised; the ``krippendorff`` package gives the same
    value but builds a units x values array, too slow at 1M units); the tests check both
    agree and that Krippendorff's (2011) example gives 113/152. Units with one value are not
    pairable and are ignored. None when there is no pairable unit or a single category was
    used (no expected disagreement). Label sets (multi-label) are compared by exact match;
    use ``krippendorff_alpha_masi`` for partial credit.
    """
    return _krippendorff(_Summary(_as_table(units)), masi=False)[0]


def krippendorff_alpha_masi(units: Units | LabelTable) -> float | None:
    """Krippendorff's alpha for label sets with the MASI distance (Passonneau 2006).

    Plain string labels are treated as one-element sets, so on single-label data this equals
    nominal alpha. See ``masi_distance`` for the exact definition used.
    """
    return _krippendorff(_Summary(_as_table(units, multi_label=True)), masi=True)[0]


def _krippendorff(p: _Summary, masi: bool) -> tuple[float | None, str | None]:
    if p.n_pairable == 0:
        return None, _NO_PAIRABLE
    delta = _masi_delta(p.table.categories) if masi else _nominal_delta(p.q)
    return _alpha_from(p.coincidence, p.pairable_counts.astype(np.float64), delta)


def _label_membership(table: LabelTable, labels: Sequence[str]) -> np.ndarray:
    """Boolean (n_categories x n_labels): category k contains label l."""
    member = np.zeros((len(table.categories), len(labels)), dtype=bool)
    pos = {name: i for i, name in enumerate(labels)}
    for k, cat in enumerate(table.categories):
        for name in cat if isinstance(cat, frozenset) else (cat,):
            if name in pos:
                member[k, pos[name]] = True
    return member


def _table_labels(table: LabelTable, labels: Sequence[str] | None) -> list[str]:
    seen = chain.from_iterable(c if isinstance(c, frozenset) else (c,) for c in table.categories)
    return _label_order(labels, seen)


def per_label_alpha(
    units: Units | LabelTable, labels: Sequence[str] | None = None
) -> dict[str, dict[str, float | int | None]]:
    """Alpha of the one-vs-rest binary coding of each label: ``{label: {"alpha", "n"}}``.

    Each value is recoded "has this label" / "has not" (multi-label: label in the set or
    not), then nominal alpha is computed on pairable units. ``n`` is the number of pairable
    values that carry the label (Krippendorff's n_c), so rare labels are visible. ``alpha`` is
    None when the label was never used, or used by every pairable value.
    """
    table = _as_table(units, labels=labels)
    return _per_label(_Summary(table), _table_labels(table, labels))[0]


def _per_label(
    p: _Summary, labels: Sequence[str]
) -> tuple[dict[str, dict[str, float | int | None]], list[str]]:
    member = _label_membership(p.table, labels).astype(np.float64)
    o = p.coincidence
    counts = p.pairable_counts.astype(np.float64)
    n = float(counts.sum())
    out: dict[str, dict[str, float | int | None]] = {}
    reasons: list[str] = []
    for idx, name in enumerate(labels):
        v = member[:, idx]
        n1 = float(v @ counts)
        n0 = n - n1
        alpha: float | None = None
        if n < 2:
            reasons.append(f"per_label[{name}]: {_NO_PAIRABLE}")
        elif n1 == 0:
            reasons.append(f"per_label[{name}]: not defined — never used in a pairable unit")
        elif n0 == 0:
            reasons.append(
                f"per_label[{name}]: not defined — every pairable value carries it "
                "(no expected disagreement)"
            )
        else:
            o10 = float(v @ o @ (1.0 - v))  # coincidences label-vs-rest, one direction
            alpha = _finite(1.0 - (n - 1.0) * o10 / (n0 * n1))
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
    return _fleiss(_Summary(_as_table(units)))[0]


def _fleiss(p: _Summary) -> tuple[float | None, str | None]:
    if p.n_pairable == 0:
        return None, _NO_PAIRABLE
    pa = p.pa
    pi = p.prevalence
    pe = float(pi @ pi)
    if pe >= 1.0 - 1e-12:
        return None, "not defined — only one category was used (chance agreement is 1)"
    return _finite((pa - pe) / (1.0 - pe)), None


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
    table = _as_table(units, labels=categories)
    cats = list(table.categories)
    # A LabelTable may not list every supplied category: count the missing ones too.
    if not table.multi_label:
        cats += [c for c in dict.fromkeys(categories or ()) if c not in set(cats)]
    return _gwet(_Summary(table), cats)[0]


def _gwet(p: _Summary, categories: Sequence[Category]) -> tuple[float | None, str | None]:
    if p.n_pairable == 0:
        return None, _NO_PAIRABLE
    q = len(categories)
    if q < 2:
        return None, "not defined — fewer than two categories"
    pa = p.pa
    pi = np.zeros(q)
    pi[: p.q] = p.prevalence
    pe = float((pi * (1.0 - pi)).sum() / (q - 1))
    return _finite((pa - pe) / (1.0 - pe)), None


# --- Cohen ------------------------------------------------------------------------------


def _kappa_from_confusion(conf: np.ndarray) -> np.ndarray:
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


def _cohen_reason(conf: np.ndarray, p: _Summary) -> str:
    if conf.sum() == 0:
        return "not defined — no shared unit"
    k = int(np.argmax(conf.sum(axis=1)))
    return f"not defined — both used only '{p.category_name(k)}' (chance agreement is 1)"


def _pair_key(x: str, y: str) -> str:
    return "|".join(sorted((x, y)))


def _pairwise(p: _Summary) -> tuple[dict[str, float | None], dict[str, str]]:
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
    kappas = _kappa_from_confusion(conf)
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
    table = _as_table(units)
    conf = _confusion_codes(table, a, b)
    k = float(_kappa_from_confusion(conf))
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
    return _pairwise(_Summary(_as_table(units)))[0]


def mean_cohen_kappa(units: Units | LabelTable) -> float | None:
    """Unweighted mean of the defined pairwise Cohen's kappas (Light's kappa on complete data).

    None when no pair has a defined kappa.
    """
    return _mean_defined(pairwise_cohen(units))


def _mean_defined(values: Mapping[str, float | None]) -> float | None:
    vals = [v for v in values.values() if v is not None]
    return _finite(sum(vals) / len(vals)) if vals else None


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
    table = _as_table(units, labels=labels)
    conf = _confusion_codes(table, a, b)
    names = [_category_name(c) for c in table.categories]
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
    table = _as_table(units, labels=labels)
    if table.unit_ids is None:
        raise ValueError("confusion_vs_gold needs unit ids: build the LabelTable with unit_ids")
    multi = table.multi_label
    cats = list(table.categories)
    index = {c: i for i, c in enumerate(cats)}
    gold_codes = np.full(len(table.unit_ids), -1, dtype=np.int64)
    for row, uid in enumerate(table.unit_ids):
        if uid in gold:
            g = _canonical(gold[uid], multi)
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
    names = [_category_name(c) for c in cats]
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
    table = _as_table(units)
    n_annotators, q = table.matrix.shape[1], len(table.categories)
    conf = np.zeros((n_annotators, q, q), dtype=np.int64)
    no_majority = np.zeros(n_annotators, dtype=np.int64)
    labelled = np.zeros(n_annotators, dtype=np.int64)
    for c in _blocks(table):
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
    kappas = _kappa_from_confusion(conf)
    out: dict[str, dict[str, float | int | None]] = {}
    for k in sorted(np.flatnonzero(labelled).tolist(), key=lambda k: table.annotators[k]):
        kap = float(kappas[k])
        out[table.annotators[k]] = {
            "kappa": kap if math.isfinite(kap) else None,
            "n": int(conf[k].sum()),
            "no_majority": int(no_majority[k]),
        }
    return out


# --- Bootstrap ------------------------------------------------------------------------------


def bootstrap_alpha_ci(
    units: Units | LabelTable,
    n_boot: int,
    seed: int,
    level: float = 0.95,
    *,
    multi_label: bool = False,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval for alpha, resampling pairable units with replacement.

    Units (not single values) are resampled because values within a unit are not
    independent. Seeded with ``numpy.random.default_rng(seed)``: same input, same interval.
    Replicates in which alpha is undefined (a single category drawn) are dropped. Nominal
    alpha, or MASI alpha with ``multi_label=True``. None when alpha itself is undefined or
    ``n_boot < 1``.
    """
    table = _as_table(units, multi_label=True if multi_label else None)
    return _bootstrap(_Summary(table, patterns=True), n_boot, seed, level, masi=multi_label)[0]


def _bootstrap(
    p: _Summary, n_boot: int, seed: int, level: float, masi: bool
) -> tuple[tuple[float, float] | None, int]:
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    if n_boot < 1 or p.n_pairable == 0:
        return None, 0
    delta = _masi_delta(p.table.categories) if masi else _nominal_delta(p.q)
    patterns, mult = p.patterns()
    m = patterns.sum(axis=1)
    # Per pattern: sum over ordered pairs of delta / (m - 1)  (delta has a zero diagonal).
    disagreement = np.einsum("pi,ij,pj->p", patterns, delta, patterns) / (m - 1)
    rng = np.random.default_rng(seed)
    n_units = int(mult.sum())
    alphas = []
    for s in range(0, n_boot, 256):  # chunks bound memory at 256 x P draws
        draws = rng.multinomial(n_units, mult / n_units, size=min(256, n_boot - s))
        draws = draws.astype(np.float64)
        nc = draws @ patterns
        n = nc.sum(axis=1)
        expected = np.einsum("bi,ij,bj->b", nc, delta, nc)
        observed = draws @ disagreement
        with np.errstate(divide="ignore", invalid="ignore"):
            a = 1.0 - (n - 1.0) * observed / expected
        alphas.append(a[expected > 0])
    values = np.concatenate(alphas)
    dropped = n_boot - values.size
    if values.size == 0:
        return None, dropped
    tail = (1.0 - level) / 2
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return (float(low), float(high)), dropped


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _summarise_pairs(reasons: Mapping[str, str]) -> list[str]:
    """One note per distinct reason, naming up to 10 pairs (a 20-person team has 190 pairs)."""
    by_reason: dict[str, list[str]] = {}
    for key, why in sorted(reasons.items()):
        by_reason.setdefault(why, []).append(key)
    notes = []
    for why, keys in by_reason.items():
        shown = ", ".join(keys[:10]) + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")
        notes.append(f"cohen_kappa: {why.replace('not defined', 'not defined for ' + shown)}")
    return notes


def report(
    units: Units | LabelTable,
    labels: Sequence[str] | None = None,
    *,
    multi_label: bool = False,
    bootstrap: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """All agreement figures for a project, JSON-serialisable, never NaN, never raising on data.

    Keys: ``units`` (units with any label), ``pairable_units`` (>= 2 labels), ``annotators``
    (sorted names with >= 1 label), ``labels``, ``percent_agreement``, ``unanimous_share``,
    ``krippendorff_alpha`` (nominal; MASI when ``multi_label``), ``krippendorff_alpha_ci95``
    (``[low, high]`` percentile bootstrap over units when ``bootstrap`` > 0, else None),
    ``fleiss_kappa``, ``gwet_ac1`` (q = every label in ``labels`` plus observed extras;
    multi-label: q = observed label sets), ``cohen_kappa`` (``{"a|b": kappa}``),
    ``mean_cohen_kappa``, ``per_label`` (``{label: {"alpha", "n"}}``), ``notes`` (why a
    value is None, and conventions that apply). A value that is not defined is None and
    ``notes`` says why.
    """
    # multi_label=False still detects label sets (then compared by exact match, with a note)
    # so that a project switched to multi-label never makes the report fail.
    table = _as_table(units, labels=labels, multi_label=True if multi_label else None)
    p = _Summary(table, patterns=bootstrap > 0)
    label_list = _table_labels(table, labels)
    notes: list[str] = []

    def take(name: str, result: tuple[Any, str | None]) -> Any:
        value, why = result
        if why is not None:
            notes.append(f"{name}: {why}")
        return value

    if labels is not None:
        extra = [x for x in label_list if x not in set(labels)]
        if extra:
            notes.append(
                "labels: found labels outside the project's list, counted as categories: "
                + ", ".join(extra)
            )
    if multi_label:
        notes.append(
            "multi_label: krippendorff_alpha uses the MASI distance; percent agreement, "
            "kappa and AC1 treat each distinct label set as one category"
        )
    elif table.multi_label:
        notes.append(
            "multi_label: label sets found; compared by exact match (pass multi_label=True "
            "for Krippendorff's alpha with the MASI distance)"
        )

    percent = take("percent_agreement", _percent_agreement(p))
    unanimous = take("unanimous_share", _unanimous_share(p))
    alpha = take("krippendorff_alpha", _krippendorff(p, masi=multi_label))
    ci = None
    if bootstrap > 0:
        if alpha is None:
            notes.append("krippendorff_alpha_ci95: not computed — alpha is not defined")
        else:
            interval, dropped = _bootstrap(p, bootstrap, seed, 0.95, masi=multi_label)
            if dropped:
                notes.append(
                    f"krippendorff_alpha_ci95: {dropped} of {bootstrap} bootstrap replicates "
                    "drew a single category (alpha undefined) and were dropped"
                )
            if interval is None:
                notes.append("krippendorff_alpha_ci95: not defined — no usable replicate")
            else:
                ci = [interval[0], interval[1]]
    fleiss = take("fleiss_kappa", _fleiss(p))
    gwet_categories = list(table.categories)
    if not table.multi_label:
        # A LabelTable may not list every project label; AC1 counts them all (as gwet_ac1).
        gwet_categories += [x for x in label_list if x not in set(gwet_categories)]
    ac1 = take("gwet_ac1", _gwet(p, gwet_categories))

    cohen, cohen_reasons = _pairwise(p)
    notes.extend(_summarise_pairs(cohen_reasons))
    mean_kappa = _mean_defined(cohen)
    if mean_kappa is None:
        notes.append("mean_cohen_kappa: not defined — no annotator pair has a defined kappa")

    per_label, per_label_reasons = _per_label(p, label_list)
    if p.n_pairable:  # with no pairable unit, the notes above already say so once per metric
        notes.extend(per_label_reasons)

    return {
        "units": p.n_units,
        "pairable_units": p.n_pairable,
        "annotators": [table.annotators[k] for k in p.active_annotators()],
        "labels": label_list,
        "percent_agreement": percent,
        "unanimous_share": unanimous,
        "krippendorff_alpha": alpha,
        "krippendorff_alpha_ci95": ci,
        "fleiss_kappa": fleiss,
        "gwet_ac1": ac1,
        "cohen_kappa": cohen,
        "mean_cohen_kappa": mean_kappa,
        "per_label": per_label,
        "notes": notes,
    }


#: Overall coefficients by name (registry for callers that let the user pick one).
COEFFICIENTS: dict[str, Callable[[Units | LabelTable], float | None]] = {
    "percent_agreement": percent_agreement,
    "unanimous_share": unanimous_share,
    "krippendorff_alpha": krippendorff_alpha,
    "krippendorff_alpha_masi": krippendorff_alpha_masi,
    "fleiss_kappa": fleiss_kappa,
    "gwet_ac1": gwet_ac1,
    "mean_cohen_kappa": mean_cohen_kappa,
}
