"""Percentile bootstrap interval of Krippendorff's alpha, resampling per-unit patterns."""

from __future__ import annotations

import numpy as np

from labeling.agreement.coefficients import masi_delta, nominal_delta
from labeling.agreement.counts import Summary
from labeling.agreement.encode import LabelTable, Units, as_table


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
    table = as_table(units, multi_label=True if multi_label else None)
    return bootstrap_interval(Summary(table, patterns=True), n_boot, seed, level, masi=multi_label)[0]


def bootstrap_interval(
    p: Summary, n_boot: int, seed: int, level: float, masi: bool
) -> tuple[tuple[float, float] | None, int]:
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    if n_boot < 1 or p.n_pairable == 0:
        return None, 0
    delta = masi_delta(p.table.categories) if masi else nominal_delta(p.q)
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
