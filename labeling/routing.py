"""Which sentence an annotator gets next (overlap, leases, order).

Routing order is materialised in ``sentences.ord`` so that the database can walk an
index (``sentences_open``) instead of sorting: ``sequential`` uses the sentence id
(article by article, sentence by sentence); ``random`` a seeded 63-bit hash of it.
"""

from __future__ import annotations

_MASK64 = (1 << 64) - 1


def order_key(sentence_id: int, order: str, seed: int = 0) -> int:
    """The ``ord`` value of a sentence under the project's order."""
    if order == "sequential":
        return sentence_id
    # splitmix64: a fast, well-mixed, seedable hash; stable across Python versions
    # (unlike hash()), so a project's random order is reproducible.
    z = (sentence_id + (seed * 0x9E3779B97F4A7C15)) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) >> 1  # fits SQLite's signed 64-bit INTEGER
