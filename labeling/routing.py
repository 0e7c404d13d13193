"""Which sentence an annotator gets next (overlap, leases, order).

Routing order is materialised in ``sentences.ord`` so that the database can walk an
index (``sentences_open``: content sentences with ``n_done < target``) instead of
sorting: ``sequential`` uses the sentence id (article by article, sentence by
sentence); ``random`` a seeded 63-bit hash of it, the same for the same seed.

Each sentence carries its own ``target`` (how many annotators it needs): ``overlap``
for a seeded ``sample_fraction`` of sentences, 1 for the rest (``target_for``).

An annotator resumes from a cursor (the sentence last routed to them, stored on the
annotator) and walks forward, so they move through an article from start to end;
when nothing is open ahead of the cursor the walk wraps to the start once, which
picks up sentences that became free behind them (a skip, an expired lease).
Cost per request: a few index probes plus one primary-key probe per open sentence
passed over on the way: those others hold (at most one per active colleague) and,
after a wrap, those this annotator already did that still wait for someone else.
Only that last case grows with the work: an annotator far ahead of the team who
has run out of sentences pays about a microsecond per such sentence each time they
ask again. See ``db/leases.py`` for the SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import db.leases as leases_db
import db.sentences as sentences_db
import db.settings as settings_db
from db import write_transaction

if TYPE_CHECKING:
    from labeling.project import Project

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
# Salt for the reliability sample, so the sample is independent of the random order
# even under the same seed.
_SAMPLE_SALT = 0x5A3C_96E1_D2B4_8F07


def _mix(x: int) -> int:
    """splitmix64 finaliser: a fast, well-mixed, stable hash (unlike ``hash()``)."""
    z = x & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def order_key(sentence_id: int, order: str, seed: int = 0) -> int:
    """The ``ord`` value of a sentence under the project's order."""
    if order == "sequential":
        return sentence_id
    return _mix(sentence_id + seed * _GOLDEN) >> 1  # fits SQLite's signed 64-bit INTEGER


def in_sample(sentence_id: int, fraction: float, seed: int = 0) -> bool:
    """Whether a sentence belongs to the reliability sample (deterministic per seed)."""
    if fraction >= 1.0:
        return True
    u = _mix((sentence_id ^ _SAMPLE_SALT) + seed * _GOLDEN) / 2.0**64  # uniform in [0, 1)
    return u < fraction


def _get(cfg: Any, name: str, default: Any) -> Any:
    if isinstance(cfg, Mapping):
        return cfg.get(name, default)
    return getattr(cfg, name, default)


def target_for(sentence_id: int, cfg: Mapping[str, Any] | Any) -> int:
    """How many annotators a sentence needs: ``overlap`` for the seeded sample of
    ``sample_fraction`` of sentences, 1 for the rest.

    ``cfg`` is a ``ProjectConfig`` or its stored dict (what the importer reads).
    """
    overlap = int(_get(cfg, "overlap", 2))
    fraction = float(_get(cfg, "sample_fraction", 1.0))
    if overlap <= 1 or fraction >= 1.0:
        return overlap
    return overlap if in_sample(sentence_id, fraction, int(_get(cfg, "seed", 0))) else 1


# ----------------------------------------------------------------------------- routing


def choose(conn: sqlite3.Connection, annotator_id: int, now: float) -> int | None:
    """The sentence to route to the annotator (inside the caller's write transaction).

    Their live lease first (a reload shows the same sentence); else the first open
    sentence at or after their cursor; else the first one before it; else None.
    """
    sid = leases_db.held_lease(conn, annotator_id, now)
    if sid is not None:
        return sid
    cursor = leases_db.cursor_ord(conn, annotator_id)
    if cursor is None:
        return leases_db.find_open(conn, annotator_id, now)
    sid = leases_db.find_open(conn, annotator_id, now, from_ord=cursor)
    if sid is None:
        sid = leases_db.find_open(conn, annotator_id, now, before_ord=cursor)
    return sid


# ----------------------------------------------------------------------------- config changes


def apply_config(db: Project, cfg: Any) -> dict[str, int]:
    """Store ``cfg`` (a ``ProjectConfig``) and bring the sentences in line with it, in one
    transaction.

    Targets: when the effective sampling changes (``overlap``; ``sample_fraction`` or
    ``seed`` when sampling), sentences that are not yet complete (``n_done < target``)
    get their new ``target_for``; complete ones keep theirs, so raising the overlap
    does not reopen finished work. Lowering it completes open sentences that already
    have enough labels.
    Order: when the effective order changes (``order``; ``seed`` when random), every
    sentence gets its new ``ord``; annotators' cursors are sentence ids, so they keep
    their place.
    Returns ``{"targets_changed": n, "reordered": n}`` (sentences updated).
    """
    with write_transaction(db) as conn:
        return apply_config_in(conn, cfg)


def apply_config_in(conn: sqlite3.Connection, cfg: Any) -> dict[str, int]:
    """What :func:`apply_config` does, inside the caller's write transaction (so that a
    caller can read the stored config and log the change in the same transaction)."""
    new = cfg.to_dict()
    # settings.get only needs ``execute``: read inside this transaction
    old = settings_db.get(conn, "config") or {}  # type: ignore[arg-type]
    targets_changed = reordered = 0
    effect = effects(old, new)
    if effect["targets"]:
        targets_changed = sentences_db.set_targets(conn, lambda sid: target_for(sid, new),
                                        only_open=True)
    if effect["order"]:
        order, seed = new["order"], new["seed"]
        reordered = sentences_db.reorder(conn, lambda sid: order_key(sid, order, seed))
    settings_db.put(conn, "config", new)
    return {"targets_changed": targets_changed, "reordered": reordered}


def effects(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, bool]:
    """Which sentence columns a change of stored config ``old`` to ``new`` (dicts)
    rewrites: ``targets`` (the effective sampling changes) and ``order``."""
    return {"targets": _sampling(old) != _sampling(new),
            "order": _ordering(old) != _ordering(new)}


def _sampling(d: Mapping[str, Any]) -> tuple:
    overlap, fraction = int(d.get("overlap", 2)), float(d.get("sample_fraction", 1.0))
    if overlap <= 1 or fraction >= 1.0:
        return (overlap,)
    return (overlap, fraction, int(d.get("seed", 0)))


def _ordering(d: Mapping[str, Any]) -> tuple:
    order = d.get("order", "sequential")
    return (order,) if order == "sequential" else (order, int(d.get("seed", 0)))
