"""Per-person figures for the People page: labels today and in total, median seconds
per label, share of skips and of flags.

Definitions (all from the current annotations, one per sentence and person, so a label
changed later counts once):

* ``labels_today``: labeled sentences whose annotation was last changed today (UTC), as
  the label page counts "today";
* ``labels_total``: labeled sentences (the counter the triggers keep);
* ``median_seconds``: median of ``duration_ms`` / 1000 over labeled annotations with a
  recorded duration (annotations without one, e.g. imported without it, are left out;
  None when there is none). The Review page's annotator table uses the same rows;
* ``skip_share`` / ``flag_share``: skipped / flagged annotations among all the person's
  annotations (labeled or skipped); None when they have none.

:func:`summarise` and :func:`medians` are pure (plain rows and arrays in, rows out);
:func:`people_stats` reads the database and calls them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import threading
from collections.abc import Hashable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

import db.label_cells as label_cells_db
import db.people as people_db
import db.sentences as sentences_db
from db.connection import path_of
from labeling import annotate

if TYPE_CHECKING:
    from labeling.project import Project


def medians(annotator_ids: np.ndarray, durations_ms: np.ndarray) -> dict[int, float]:
    """``{annotator id: median duration in seconds}`` of paired arrays (one entry per
    labeled annotation; ids and durations below 2**32). One sort of the pairs packed
    into 64-bit integers (id high, duration low), then the middle one or two of each
    person's run; the median of an even count is the mean of the two middle values."""
    aids = np.asarray(annotator_ids, dtype=np.int64)
    if aids.size == 0:
        return {}
    packed = np.sort((aids << 32) | np.asarray(durations_ms, dtype=np.int64))
    ids = packed >> 32
    durations = (packed & 0xFFFFFFFF).astype(np.float64)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    counts = np.diff(np.r_[starts, ids.size])
    lo, hi = starts + (counts - 1) // 2, starts + counts // 2
    mid = (durations[lo] + durations[hi]) / 2.0 / 1000.0
    return {int(i): float(m) for i, m in zip(ids[starts], mid)}


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def summarise(people: Iterable[Mapping], activity: Mapping[int, Mapping[str, int]],
              median_seconds: Mapping[int, float]) -> list[dict]:
    """One row per person (in the order of ``people``, rows of
    ``annotate.list_annotators``): ``name``, ``role`` (what they may do now),
    ``assigned_role``, ``has_password``, ``labels_today``, ``labels_total``,
    ``median_seconds``, ``skip_share``, ``flag_share`` (see the module docstring)."""
    rows = []
    for p in people:
        act = activity.get(p["id"], {})
        acted = act.get("acted", 0)
        rows.append({
            "name": p["name"], "role": p["role"], "assigned_role": p["assigned_role"],
            "has_password": bool(p["has_password"]),
            "labels_today": act.get("labeled_today", 0),
            "labels_total": int(p.get("labels", act.get("labeled", 0)) or 0),
            "median_seconds": median_seconds.get(p["id"]),
            "skip_share": _share(act.get("skipped", 0), acted),
            "flag_share": _share(act.get("flagged", 0), acted),
        })
    return rows


def today() -> str:
    """Today's date in UTC (``YYYY-MM-DD``), the day the label page counts."""
    return datetime.now(UTC).date().isoformat()


def people_stats(db: Project, *, day: str | None = None) -> list[dict]:
    """:func:`summarise` for every person of the project, by name. ``day`` (an ISO
    date) replaces today, for tests.

    The people are read on every call (adding one writes no event); their figures are
    kept per database, data version and day, as they take a pass over the annotations
    (about 0.3 s per 600,000)."""
    day = day or today()
    key = (_db_identity(db), sentences_db.data_version(db), day)
    with _lock:
        figures = _cache.get(key)
    if figures is None:
        aids, durations = label_cells_db.labeled_durations(db)
        figures = (people_db.activity(db, day), medians(aids, durations))
        del aids, durations
        with _lock:
            for old in [k for k in _cache if k[0] == key[0]]:
                del _cache[old]
            _cache[key] = figures
            while len(_cache) > _CACHE_SIZE:
                _cache.pop(next(iter(_cache)))
    return summarise(annotate.list_annotators(db), *figures)


_CACHE_SIZE = 4
_cache: dict[Hashable, tuple[dict, dict]] = {}
_lock = threading.Lock()


def _db_identity(db: Project) -> Hashable:
    path = path_of(db)
    if path is not None:
        return str(Path(path).resolve())
    return ("memory", id(db.conn))


def clear_cache() -> None:
    """Forget the cached figures (tests, benchmarks)."""
    with _lock:
        _cache.clear()
