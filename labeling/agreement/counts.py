"""Sufficient statistics of a :class:`~labeling.agreement.encode.LabelTable`: its
non-missing cells read in row blocks, the pairs of cells within a unit, and the sums over
units (:class:`Summary`) every coefficient is computed from."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from labeling.agreement.encode import Category, LabelTable

# Pair-key tables larger than this switch from bincount to np.unique (memory bound).
_MAX_BINCOUNT = 4_000_000
# Per-unit pattern keys (mixed radix) must fit in int64; beyond, np.unique over rows.
_MAX_KEY_BITS = 62


# --------------------------------------------------------------------------------------
# Core: cells, within-unit pairs, coincidences
# --------------------------------------------------------------------------------------


# Matrix cells per block: temporaries stay a few MB whatever the table size, so a report on
# 1M units neither needs hundreds of MB nor pays page faults for one-shot large arrays.
_BLOCK_CELLS = 1 << 21


@dataclass
class Cells:
    """Non-missing cells of a block of rows, in row-major order (a unit's cells consecutive,
    annotator columns ascending within it)."""

    start: int  # index of the block's first unit in the table
    n_rows: int
    rows: np.ndarray  # unit index within the block
    cols: np.ndarray  # annotator column
    codes: np.ndarray  # category index
    m: np.ndarray  # labels per unit of the block (n_rows,)


def blocks(table: LabelTable) -> Iterable[Cells]:
    n_units, n_annotators = table.matrix.shape
    step = max(1, _BLOCK_CELLS // max(n_annotators, 1))
    for start in range(0, n_units, step):
        block = np.ascontiguousarray(table.matrix[start : start + step])
        flat = block.reshape(-1)
        idx = np.flatnonzero(flat >= 0)
        rows = idx // max(n_annotators, 1)
        yield Cells(
            start,
            block.shape[0],
            rows,
            idx - rows * n_annotators,
            flat[idx].astype(np.int64),
            np.bincount(rows, minlength=block.shape[0]),
        )


def within_unit_pairs(rows: np.ndarray, max_m: int) -> tuple[np.ndarray, np.ndarray]:
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


def unit_agreement_counts(rows: np.ndarray, codes: np.ndarray,
                          n_units: int) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: its labels ``m`` and how many of its ``m (m - 1) / 2`` pairs of labels
    agree (same category). ``rows``: each cell's unit in ``[0, n_units)``, ascending (a
    unit's cells consecutive); ``codes``: each cell's category. The unit agreement of the
    review queue is ``agreeing / pairs``; :class:`Summary` sums the same shares."""
    m = np.bincount(rows, minlength=n_units)
    agreeing = np.zeros(n_units, dtype=np.int64)
    # Cells d places apart within one unit: over d = 1..max(m)-1 that is every pair once;
    # no pair index arrays are built (a full queue rebuild passes millions of cells).
    for d in range(1, int(m.max()) if m.size else 0):
        same = (rows[:-d] == rows[d:]) & (codes[:-d] == codes[d:])
        agreeing += np.bincount(rows[:-d][same], minlength=n_units)
    return m, agreeing


class Summary:
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
        for cells in blocks(table):
            self._add(cells)

    def _add(self, c: Cells) -> None:
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

        i, j = within_unit_pairs(c.rows, int(m.max()))
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
        self, c: Cells, pairable: np.ndarray
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
        return category_name(self.table.categories[k])

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
            raise RuntimeError("Summary(patterns=True) is needed for the bootstrap")
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


def category_name(cat: Category) -> str:
    if isinstance(cat, frozenset):
        return "+".join(sorted(cat))
    return str(cat)


def finite(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
