"""Annotator identity keys.

Names are compared after Unicode normalisation and case folding, so ``Alice``,
``alice``, ``ALICE`` and ``ａｌｉｃｅ`` (full-width) are one person. The folded form is
stored in ``annotators.name_key`` (migration 0003) and every lookup goes through it.
"""

from __future__ import annotations

import unicodedata


def name_key(name: str) -> str:
    """The comparison key of an annotator name: NFKC, case-folded, NFKC again (case
    folding can leave a string that is not NFKC-normal, e.g. for some ligatures)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name.strip()).casefold())
