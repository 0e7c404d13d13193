"""Bringing existing labels in: ``python -m labeling import-annotations PATH``.

A file (CSV with a header row, or JSONL: one object per line) holds one label per row:

``sentence_id``
    the public id ``<external_id>:<idx>`` (what ``sentences`` and exports print); or
``text``
    the sentence text, matched exactly against the project's *content* sentences (a text
    shared by two sentences is an error: use ``sentence_id``);
``annotator``
    a name; unknown names are created as annotators on first use;
``label`` or ``labels``
    one label, or several: a JSON list (``["demand", "warning"]``), or ``|``-separated in
    CSV (``demand|warning``); each must be a label of the project config, and more than one
    only in a multi-label project;
``note``, ``created_at``, ``duration_ms``
    optional; ``created_at`` is ISO 8601 (no zone = UTC), default the import time.

Other columns (Parley's own export adds ``status``, ``flagged``, ``updated_at``...) are
ignored, except that a row with ``status`` ``skipped`` is refused: only labels are
imported. The rows are read and checked by ``labeling.annotation_rows``, through
``labeling.records`` like ``import``: a regular file, line by line, lines split at
``"\n"`` only, at most ``PARLEY_MAX_FIELD_BYTES`` per line or record, strict JSON (no
duplicate keys, no NaN). Control characters are refused in every field, except tab and
newline in ``note`` and ``text`` (where CR LF and CR become LF).

The whole file is validated first; any problem (unknown sentence or label, ambiguous text,
missing column, broken line) raises :class:`AnnotationImportError` listing
``<file>:<line>: <problem>`` and nothing is written. A valid file is written in one
transaction, through the same rules as the app's save: each row is a ``label`` event
(source ``import:<file name>``), the current annotation of (sentence, annotator) becomes
the row's (a later row of the same pair wins, as a relabel does in the app; a flag set in
the app is kept), ``n_done`` and unanimous gold follow, the importing annotators' leases on
those sentences are released, and the guidelines version stored is the project's current
one.

Quota: imported labels are historical data, so they are accepted even when a sentence
already has as many annotators as its target; the report counts them (``over_target``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

import db.label_import as label_import_db
import db.labels as labels_db
from db import write_transaction
from db.annotators import name_key
from labeling import annotate, gold, project
from labeling.annotation_rows import (ANNOTATION_FORMATS, MAX_ERRORS, AnnotationImportError,
                                      Errors, Row, read_rows)
from labeling.config import ProjectConfig

__all__ = ["ANNOTATION_FORMATS", "MAX_ERRORS", "AnnotationImportError",
           "AnnotationImportReport", "import_annotations", "read_rows"]


@dataclass
class AnnotationImportReport:
    """What an import of annotations did. ``rows``: data rows read; ``imported``: labels
    written; ``annotators_created``; ``over_target``: rows beyond their sentence's
    target (accepted); ``errors``: empty on success."""

    rows: int = 0
    imported: int = 0
    annotators_created: int = 0
    over_target: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` output."""
        return asdict(self)




def import_annotations(db: sqlite_utils.Database, path: str | Path, *,
                       cfg: ProjectConfig | None = None) -> AnnotationImportReport:
    """Validate ``path`` completely, then write all its labels in one transaction.

    Raises :class:`AnnotationImportError` (nothing written) when any row is bad.
    """
    path = Path(path)
    cfg = cfg or project.load_config(db)
    rows, errors = read_rows(path, cfg)
    n_rows = len(rows) + errors.count - errors.file_level
    if errors.file_level:  # nothing to look up: say so before taking the write lock
        raise AnnotationImportError(errors.listed(), rows=n_rows)
    stamp = annotate.now_iso()
    with write_transaction(db) as conn:
        by_id = label_import_db.find_by_public_id(conn, (r.sentence for r in rows if r.sentence))
        by_text = label_import_db.find_content_by_text(
            conn, (r.text for r in rows if r.text is not None))
        resolved: list[tuple[Row, int]] = []
        for r in rows:
            sid = _resolve(r, by_id, by_text, errors)
            if sid is not None:
                resolved.append((r, sid))
        if errors.count:
            raise AnnotationImportError(errors.listed(), rows=n_rows)
        ids = label_import_db.annotator_ids(conn, {r.annotator for r, _ in resolved})
        created: dict[str, int] = {}  # name key -> id: "Bob" and "BOB" are one new person
        for name in dict.fromkeys(r.annotator for r, _ in resolved):
            if name not in ids:
                key = name_key(name)
                if key not in created:
                    created[key] = labels_db.insert_annotator(conn, name, "annotator", None, stamp)
                ids[name] = created[key]
        result = label_import_db.insert_labels(
            conn,
            [label_import_db.ImportRow(sid, ids[r.annotator], list(r.labels), r.note,
                                       r.duration_ms, r.created_at or stamp)
             for r, sid in resolved],
            source=f"import:{path.name}", guidelines_version=cfg.guidelines_version)
        _refresh_unanimous(conn, {sid for _, sid in resolved}, stamp)
    return AnnotationImportReport(rows=n_rows, imported=result["imported"],
                                  annotators_created=len(created),
                                  over_target=result["over_target"])


def _resolve(r: Row, by_id: dict, by_text: dict, errors: Errors) -> int | None:
    """The sentence id a row refers to, or None after recording why not."""
    if r.sentence is not None:
        hit = by_id.get(r.sentence)
        public = f"{r.sentence[0]}:{r.sentence[1]}"
        if hit is None:
            errors.add(r.line, f"unknown sentence {public!r}")
            return None
        sid, kind = hit
        if kind != "content":
            errors.add(r.line, f"sentence {public!r} is not a content sentence "
                       "(bylines, credits and the like are not labeled)")
            return None
        return sid
    matches = by_text.get(r.text or "", [])
    if not matches:
        errors.add(r.line, "no content sentence has exactly this text; use sentence_id")
        return None
    if len(matches) > 1:
        shown = (", ".join(public for _sid, public in matches[:5])
                 + (" …" if len(matches) > 5 else ""))
        errors.add(r.line, f"text matches {len(matches)} sentences ({shown}); "
                   "use sentence_id to say which")
        return None
    return matches[0][0]


def _refresh_unanimous(conn, sentence_ids: set[int], stamp: str) -> None:
    """The app's unanimous-gold rule (``annotate._refresh_unanimous``) for many sentences:
    every one of >= max(target, 2) annotators agrees -> unanimous gold; a unanimity that
    broke is withdrawn; adjudicated gold is never touched."""
    to_set, to_withdraw = [], []
    for sid, target, source, sets in label_import_db.gold_inputs(conn, sentence_ids):
        if source == "adjudicated":
            continue
        agreed = gold.unanimous_gold(sets, max(target, 1))
        if agreed is not None:
            to_set.append((sid, agreed))
        elif source == "unanimous":
            to_withdraw.append(sid)
    label_import_db.apply_gold(conn, set_unanimous=to_set, withdraw_unanimous=to_withdraw,
                               now=stamp)
