"""Input of every agreement function: raw ``{unit: {annotator: label}}`` mappings and the
encoded :class:`LabelTable` (units x annotators matrix of category codes), and the one
rule that turns a raw cell value into its category (:func:`canonical`)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import methodcaller
from typing import Any, Union

import numpy as np
import pandas as pd

Category = Union[str, frozenset]
Units = Mapping[Hashable, Mapping[str, Any]]


class LabelTableError(ValueError):
    """A LabelTable's arrays do not describe a valid units x annotators table."""


# --------------------------------------------------------------------------------------
# Input: canonical categories and the encoded table
# --------------------------------------------------------------------------------------


def canonical(value: Any, multi_label: bool) -> Category | None:
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


def label_order(labels: Sequence[str] | None, seen: Iterable[str]) -> list[str]:
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
        return label_order(labels, cats)
    names = label_order(labels, chain.from_iterable(cats))
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
    canon = [canonical(v, multi_label) for v in value_uniques]
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


def as_table(
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
