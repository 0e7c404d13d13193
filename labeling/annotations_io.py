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

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

import db.label_import as label_import_db
import db.annotators as annotators_db
from db import write_transaction
from db.annotators import name_key
from db.annotations import labels_json
from labeling import annotate, gold, project, records
from labeling.annotation_rows import (ANNOTATION_FORMATS, MAX_ERRORS, AnnotationImportError,
                                      Errors, Unusual, iter_chunks, read_rows)
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




# Rows per chunk: each chunk is parsed, staged, resolved and written before the next is
# read, so memory stays flat in the file's size (tests lower it to cross chunk borders).
CHUNK_ROWS = 100_000


def import_annotations(db: sqlite_utils.Database, path: str | Path, *,
                       cfg: ProjectConfig | None = None) -> AnnotationImportReport:
    """Validate ``path`` completely and write all its labels in one transaction.

    Raises :class:`AnnotationImportError` (nothing written) when any row is bad.
    """
    path = Path(path)
    cfg = cfg or project.load_config(db)
    try:
        return _import(db, path, cfg, fast=True)
    except Unusual:  # rolled back: read it again the reference way
        return _import(db, path, cfg, fast=False)


def _import(db: sqlite_utils.Database, path: Path, cfg: ProjectConfig, *,
            fast: bool) -> AnnotationImportReport:
    """One pass: chunks are checked and, while no problem has been found, written inside
    the transaction; any problem (here or in a later chunk) rolls all of it back."""
    errors = Errors(records.display(path.name))  # problems of the rows themselves
    late = Errors(errors.name)  # unknown sentences: listed after those, as they were
    chunks = iter_chunks(path, cfg, errors, CHUNK_ROWS, fast=fast)
    first = next(chunks, None)
    if first is None and errors.file_level:  # nothing to look up: before the write lock
        raise AnnotationImportError(errors.listed(), rows=errors.count - errors.file_level)
    stamp = annotate.now_iso()
    source = f"import:{path.name}"
    encoded: dict[tuple[str, ...], str] = {}  # a file repeats a few label lists
    ids: dict[str, int] = {}  # annotator name as written -> id
    created: dict[str, int] = {}  # name key -> id: "Bob" and "BOB" are one new person
    n_valid = seq = 0
    with write_transaction(db) as conn:
        try:
            first_event = label_import_db.begin_staged(conn)
            for chunk in _all(first, chunks):
                n_valid += len(chunk)
                _annotators(conn, chunk, ids, created, stamp)
                texts = label_import_db.find_content_by_text(
                    conn, {r[3] for r in chunk if r[3] is not None}) \
                    if any(r[1] is None for r in chunk) else {}
                problems: list[tuple[int, str]] = []
                staged = []
                for line, ext, idx, text, name, labels, note, when, dur in chunk:
                    sid = None
                    if ext is None:
                        sid = _by_text(texts.get(text or "", []), line, problems)
                        if sid is None:
                            continue
                    lab = encoded.get(labels)
                    if lab is None:
                        lab = encoded[labels] = labels_json(labels)
                    staged.append((seq, line, ext, idx, sid, ids[name], lab, note, dur,
                                   when or stamp))
                    seq += 1
                for line, ext, idx, kind in label_import_db.stage_chunk(conn, staged):
                    public = f"{ext}:{idx}"
                    problems.append((line, f"unknown sentence {public!r}" if kind is None
                                     else f"sentence {public!r} is not a content sentence "
                                     "(bylines, credits and the like are not labeled)"))
                for line, message in sorted(problems):
                    late.add(line, message)
                if not (errors.count or late.count):
                    label_import_db.write_staged(
                        conn, first_event_id=first_event, source=source,
                        guidelines_version=cfg.guidelines_version)
            n_rows = n_valid + errors.count - errors.file_level
            if errors.count or late.count:
                raise AnnotationImportError(_merged(errors, late), rows=n_rows)
            result = label_import_db.finish_staged(conn)
            _refresh_unanimous(conn, stamp)
        finally:
            label_import_db.end_staged(conn)
    return AnnotationImportReport(rows=n_rows, imported=n_valid,
                                  annotators_created=len(created),
                                  over_target=result["over_target"])


def _all(first, chunks):
    if first is not None:
        yield first
        yield from chunks


def _merged(errors: Errors, late: Errors) -> list[str]:
    """Both lists as one, first ``MAX_ERRORS`` kept (the rows' own problems first)."""
    both = Errors(errors.name)
    both.items = (errors.items + late.items)[:MAX_ERRORS]
    both.count = errors.count + late.count
    return both.listed()


def _annotators(conn, chunk: list, ids: dict[str, int], created: dict[str, int],
                stamp: str) -> None:
    """Ids of the chunk's new names, creating unknown people in order of first use."""
    new = [n for n in dict.fromkeys(r[4] for r in chunk) if n not in ids]
    if not new:
        return
    ids.update(label_import_db.annotator_ids(conn, new))
    for name in new:
        if name not in ids:
            key = name_key(name)
            if key not in created:
                created[key] = annotators_db.get_or_insert(conn, name, "annotator", None, stamp)
            ids[name] = created[key]


def _by_text(matches: list[tuple[int, str]], line: int,
             problems: list[tuple[int, str]]) -> int | None:
    """The one content sentence with a row's text, or None after recording why not."""
    if not matches:
        problems.append((line, "no content sentence has exactly this text; use sentence_id"))
        return None
    if len(matches) > 1:
        shown = (", ".join(public for _sid, public in matches[:5])
                 + (" …" if len(matches) > 5 else ""))
        problems.append((line, f"text matches {len(matches)} sentences ({shown}); "
                         "use sentence_id to say which"))
        return None
    return matches[0][0]


def _refresh_unanimous(conn, stamp: str) -> None:
    """The app's unanimous-gold rule (``annotate._refresh_unanimous``) for every sentence
    the import touched: every one of >= max(target, 2) annotators agrees -> unanimous
    gold; a unanimity that broke is withdrawn; adjudicated gold is never touched. The
    rule's label-set comparison (``gold._normalise``) is applied to each distinct stored
    label list once; the counting is SQL."""
    keys: dict[str | None, str | None] = {}
    for stored in label_import_db.labels_of_touched(conn):
        norm = gold._normalise(json.loads(stored) if stored else [])
        keys[stored] = (None if norm is None
                        else json.dumps(sorted(norm), ensure_ascii=False))
    label_import_db.apply_unanimous(conn, keys, now=stamp)
