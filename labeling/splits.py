"""Train / dev / test splits grouped by article, by a seeded hash (pure).

An article's split depends only on ``(seed, external_id)``:
``u = int(sha256(f"{seed}:{external_id}")[:8]) / 2**64`` is uniform in ``[0, 1)`` and is
bucketed by the cumulative ratios. So

* no article is ever in two splits (every sentence of an article gets the same ``u``);
* the same seed always gives the same assignment, whatever order articles come in;
* adding articles later never moves an already exported sentence to another split
  (nothing depends on how many articles there are).

The price of stability is that the realised proportions only approach the ratios as the
number of articles grows (a 10-article project may have an empty dev split).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

SPLIT_NAMES = ("train", "dev", "test")
#: The single file name used when splitting is turned off (``--splits none``).
NO_SPLIT = "dataset"
DEFAULT_RATIOS = (0.8, 0.1, 0.1)
_TOLERANCE = 1e-6


class SplitSpecError(ValueError):
    """A ``--splits`` value that is neither three ratios summing to 1 nor ``none``."""


def parse(spec: str | Sequence[float] | None) -> tuple[float, float, float] | None:
    """``"0.8,0.1,0.1"`` -> ``(0.8, 0.1, 0.1)``; ``"none"`` / None -> None (no splits).

    Ratios must be three finite numbers >= 0 that sum to 1 within 1e-6.
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        text = spec.strip()
        if text.lower() == "none":
            return None
        parts = [p.strip() for p in text.split(",")]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise SplitSpecError(
                f"splits {spec!r}: give three numbers like 0.8,0.1,0.1 (train,dev,test) "
                "or 'none'") from None
    else:
        values = [float(v) for v in spec]
    if len(values) != 3:
        raise SplitSpecError(
            f"splits {spec!r}: need exactly three ratios (train,dev,test), got {len(values)}")
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise SplitSpecError(f"splits {spec!r}: ratios must be numbers >= 0")
    total = math.fsum(values)
    if abs(total - 1.0) > _TOLERANCE:
        raise SplitSpecError(f"splits {spec!r}: ratios must sum to 1 (they sum to {total:g})")
    return values[0], values[1], values[2]


def format_ratios(ratios: Sequence[float] | None) -> str:
    """The inverse of :func:`parse`: ``(0.8, 0.1, 0.1)`` -> ``"0.8,0.1,0.1"``."""
    if ratios is None:
        return "none"
    return ",".join(f"{r:g}" for r in ratios)


def unit_value(external_id: str, seed: int) -> float:
    """The article's position in ``[0, 1)``: the first 8 bytes of
    ``sha256(f"{seed}:{external_id}")`` as an unsigned integer over 2**64."""
    digest = hashlib.sha256(f"{seed}:{external_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(external_id: str, ratios: Sequence[float] | None, seed: int = 0) -> str:
    """The split (``train``/``dev``/``test``) of every sentence of one article.

    With ``ratios`` None (no splitting) every article goes to ``dataset``. A split with
    ratio 0 never receives an article.
    """
    if ratios is None:
        return NO_SPLIT
    u = unit_value(external_id, seed)
    edge = 0.0
    for name, ratio in zip(SPLIT_NAMES, ratios):
        edge += ratio
        if u < edge and ratio > 0:
            return name
    # Rounding may leave u just above the last edge (sum within 1e-6 of 1): the last
    # split with a positive ratio takes it.
    return next(n for n, r in reversed(list(zip(SPLIT_NAMES, ratios))) if r > 0)


def names(ratios: Sequence[float] | None) -> tuple[str, ...]:
    """The split names an export writes: ``train, dev, test`` or ``dataset``."""
    return (NO_SPLIT,) if ratios is None else SPLIT_NAMES


class Assigner:
    """:func:`assign` with the last article remembered (an export walks sentences in id
    order, so an article's sentences usually come one after another)."""

    def __init__(self, ratios: Sequence[float] | None, seed: int = 0):
        self.ratios = None if ratios is None else tuple(ratios)
        self.seed = seed
        self._last: tuple[str, str] | None = None

    def __call__(self, external_id: str) -> str:
        last = self._last
        if last is not None and last[0] == external_id:
            return last[1]
        split = assign(external_id, self.ratios, self.seed)
        self._last = (external_id, split)
        return split
